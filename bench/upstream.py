"""The bench's OpenAI-compatible upstream: the tests' fake, in its own process, with a clock on every chunk.

    python bench/upstream.py [--chunk-delay 0.005]

Prints its URL on the first line of stdout and serves until killed. It is
``tests/fakes/openai_server.py`` (the same wire format, the same 9-word
answer) with three changes for benchmarking:

- ``--chunk-delay``: seconds between streamed chunks (the fake's
  ``chunk_delay``); a non-streaming answer is sent at once.
- Every stream is keyed by the first ``bench-key-<hex>`` found in its request
  body (the client puts one in the prompt; every path forwards the prompt),
  and the upstream keeps, per key, when each chunk was written
  (``CLOCK_MONOTONIC``, which every process on the machine shares) and what
  it was (``role``: the role-only first delta, ``content``: text, ``other``).
  ``GET /bench/streams/<key>`` answers ``{"chunks": [[t, kind], ...]}``.
- A ``bench-think-<ms>`` in the request body makes it wait that long before
  answering, as a provider computes before its first byte.
- Requests are not kept (the fake would keep every one, for tests).
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.openai_server import OpenAIServer  # noqa: E402
from fakes.server import FakeServer  # noqa: E402

REPLY = "The quick brown fox jumps over the lazy dog"
KEY = re.compile(r"bench-key-([0-9a-f]+)")
THINK = re.compile(r"bench-think-([0-9]+)")
KEPT = 4096  # streams remembered (oldest forgotten first)


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def kind_of(chunk: bytes) -> str:
    if b'"role": "assistant"' in chunk:
        return "role"
    if b'"content": "' in chunk and b'"content": ""' not in chunk:
        return "content"
    return "other"


class BenchUpstream(OpenAIServer):
    key: str | None = None

    def route(self, method: str, path: str, body: dict[str, Any], fault: dict[str, Any]) -> None:
        if method == "GET" and path.startswith("/bench/streams/"):
            chunks = self.state["streams"].get(path.rsplit("/", 1)[1])
            if chunks is None:
                self.send_json(404, {"error": "no such stream"})
            else:
                self.send_json(200, {"chunks": chunks})
            return
        found = KEY.search(str(body.get("messages")))
        self.key = found.group(1) if found else None
        if think := THINK.search(str(body.get("messages"))):
            time.sleep(int(think.group(1)) / 1000)
        super().route(method, path, body, fault)

    def send_stream(self, chunks: Iterator[bytes], content_type: str = "text/event-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        delay = float(self.state.get("chunk_delay", 0))
        sent: list[tuple[float, str]] = []
        if self.key is not None:
            with self.state["lock"]:
                streams = self.state["streams"]
                streams[self.key] = sent
                while len(streams) > KEPT:
                    streams.popitem(last=False)
        try:
            for index, chunk in enumerate(chunks):
                if index and delay:
                    time.sleep(delay)
                sent.append((now(), kind_of(chunk)))  # before the write: the reader may see the chunk before this thread runs again
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args()
    state = {
        "reply": REPLY,
        "chunk_delay": args.chunk_delay,
        "streams": collections.OrderedDict(),
        "lock": threading.Lock(),
        "requests": collections.deque(maxlen=4),  # FakeUpstream appends every request here
    }
    with FakeServer(BenchUpstream, **state) as server:
        print(server.url, flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
