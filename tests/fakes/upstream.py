"""What every fake provider shares: request recording, auth checks and fault switches.

``server.state`` (a dict the test holds) drives each fake:

- ``key``: the API key the fake expects (None: no auth check).
- ``reply``: the answer text; streamed word by word.
- ``latency``: seconds to wait before every answer.
- ``chunk_delay``: seconds between streamed chunks.
- ``faults``: a list consumed one per request, each one of
  ``{"status": 429, "retry_after": "1", "retry_after_ms": "100", "body": {...}}``,
  ``{"hang": seconds}``, ``{"malformed": True}``, ``{"break_after": n}`` (stream
  stops after n chunks), ``{"stream_error": True}`` (an error event inside a
  200 stream), ``{"loading": seconds}`` (Hugging Face's 503 with ``estimated_time``),
  ``{"redirect": url}`` (a 302 to ``url``), ``{"drop": True}`` (the connection closed
  after the request is read, before any response header), ``{"raw": text}`` (a 200
  whose JSON body is ``text`` as given).
- ``requests``: what the fake received (path, headers, JSON body), appended.
- ``sent_at``: when each chunk of the last stream was written (epoch seconds).
- ``tool_call``: ``{"name": ..., "arguments": {...}}``: when a request offers tools
  and its last turn is not a tool result, the fake calls that tool (in its
  provider's format, arguments streamed in fragments where the provider does);
  after a tool result it answers ``Tool said: <result>``. OpenAI's format only: ``arguments``
  given as text is sent as it is (arguments cut short, not JSON).
- ``usage`` (OpenAI's format): ``"none"`` to report no usage, or the usage object to
  report instead of the real counts (e.g. negative ones).
- ``details``: ``{"cached": n, "reasoning": m, "cache_write": k}``: the answer's usage
  also reports n prompt tokens read from the provider's cache, m reasoning tokens and
  (Anthropic) k tokens written to the cache, each in its provider's fields and way of
  counting (OpenAI's ``*_tokens_details`` inside the totals; Anthropic's cache counts
  beside ``input_tokens``; Gemini's ``cachedContentTokenCount`` inside the prompt and
  ``thoughtsTokenCount`` beside ``candidatesTokenCount``).
- Every fake answers at most the request's ``max_tokens`` words (in its provider's
  field: ``max_tokens``, ``max_completion_tokens``, ``num_predict``, ``maxOutputTokens``).
- ``json_reply``: what the fake answers (as JSON text, or its provider's
  structured form) when a request asks for JSON output; without it, plain text.
- Embeddings: each input's vector is :func:`vector` (deterministic, unit length,
  ``EMBED_DIMENSIONS`` long or the size asked); ``ignore_dimensions``: answer the
  full size whatever was asked (a model without shorter vectors).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

DEFAULT_REPLY = "Hello from the fake provider"
EMBED_DIMENSIONS = 8


def vector(item: Any, dimensions: int | None = None) -> list[float]:
    """The fakes' embedding of ``item`` (a text, or token ids): the same input always gives the same unit vector."""
    size = dimensions or EMBED_DIMENSIONS
    seed = json.dumps(item).encode()
    raw = [hashlib.sha256(seed + i.to_bytes(4, "big")).digest()[0] / 255 - 0.5 for i in range(size)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


class FakeUpstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16  # headers and body leave in one write; streams flush per chunk

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def state(self) -> dict[str, Any]:
        return self.server.state  # type: ignore[attr-defined,no-any-return]

    # -- helpers for subclasses -------------------------------------------------

    reply_override: str | None = None
    """This request's answer instead of ``state["reply"]`` (set per request by fakes that answer tool results)."""

    body: dict[str, Any] = {}

    def max_tokens(self) -> int | None:
        """The completion limit the request asked for, in its provider's words (a real provider never says more)."""
        body = self.body
        options = body.get("options") or {}
        config = body.get("generationConfig") or {}
        for value in (body.get("max_completion_tokens"), body.get("max_tokens"), options.get("num_predict"), config.get("maxOutputTokens")):
            if isinstance(value, int):
                return value
        return None

    def reply_words(self, text: str | None = None) -> list[str]:
        """The answer's words (a word is a token here), at most the request's ``max_tokens`` of them."""
        text = text if text is not None else self.reply_override
        words = str(text if text is not None else self.state.get("reply", DEFAULT_REPLY)).split(" ")
        limit = self.max_tokens()
        if limit is not None:
            words = words[:limit]
        return [words[0], *[" " + w for w in words[1:]]]

    def tool_to_call(self, body: dict[str, Any], answered: str | None) -> dict[str, Any] | None:
        """The call to make now: only when the request offers tools and does not end with a tool's result."""
        call = self.state.get("tool_call")
        return call if call and body.get("tools") and answered is None else None

    def json_text(self, asked: bool) -> str | None:
        """This request's answer as JSON text, when it asks for JSON and the test set ``json_reply``."""
        return json.dumps(self.state["json_reply"]) if asked and "json_reply" in self.state else None

    @staticmethod
    def fragments(text: str, pieces: int = 3) -> list[str]:
        """``text`` cut into ``pieces`` parts (streamed tool arguments)."""
        size = max(1, -(-len(text) // pieces))
        return [text[i : i + size] for i in range(0, len(text), size)]

    def embed_size(self, asked: Any) -> int | None:
        """The vector size answered: the one asked, unless the test made the model ignore it."""
        return None if self.state.get("ignore_dimensions") or not isinstance(asked, int) else asked
    def details(self) -> tuple[int, int, int]:
        """(cached, reasoning, cache_write) tokens to report: ``state["details"]``, zeros by default."""
        details = self.state.get("details") or {}
        return int(details.get("cached", 0)), int(details.get("reasoning", 0)), int(details.get("cache_write", 0))

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        return max(1, len(json.dumps(body.get("messages") or body.get("contents") or "").split()))

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def send_stream(self, chunks: Iterator[bytes], content_type: str = "text/event-stream") -> None:
        """Write ``chunks`` as they come, close-delimited; notes when the client went away."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        delay = float(self.state.get("chunk_delay", 0))
        sent: list[float] = []
        self.state["sent_at"] = sent  # epoch seconds each chunk was written: end-to-end latency in the browser tests
        try:
            for index, chunk in enumerate(chunks):
                if index and delay:
                    time.sleep(delay)
                sent.append(time.time())  # before the write: the reader may see the chunk before this thread runs again
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.state["disconnected"] = True

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """The provider's error shape (OpenAI's by default)."""
        return {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error", "code": status}}

    def key_of(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    # -- dispatch -----------------------------------------------------------------

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        self.body = body if isinstance(body, dict) else {}
        self.state.setdefault("requests", []).append({"method": method, "path": self.path, "headers": dict(self.headers), "body": body})
        if latency := self.state.get("latency"):
            time.sleep(float(latency))
        faults = self.state.setdefault("faults", [])
        fault = faults.pop(0) if faults else {}
        if fault.get("drop"):
            self.close_connection = True  # closed with no answer: the client reads "Server disconnected without sending a response"
            return
        if "hang" in fault:
            time.sleep(float(fault["hang"]))
            self.close_connection = True
            return
        if "status" in fault:
            headers = {}
            if "retry_after" in fault:
                headers["Retry-After"] = str(fault["retry_after"])
            if "retry_after_ms" in fault:
                headers["retry-after-ms"] = str(fault["retry_after_ms"])
            self.send_json(fault["status"], fault.get("body") or self.error_body(fault["status"], f"fake failure {fault['status']}"), headers)
            return
        if "redirect" in fault:
            self.send_response(302)
            self.send_header("Location", fault["redirect"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "loading" in fault:
            self.send_json(503, {"error": "Model is currently loading", "estimated_time": fault["loading"]})
            return
        expected = self.state.get("key")
        if expected is not None and self.key_of() != expected:
            self.send_json(401, self.error_body(401, f"Incorrect API key provided: {self.key_of()}"))
            return
        if "raw" in fault:  # a 200 whose JSON body is exactly this text (deeply nested JSON, say)
            raw_text = str(fault["raw"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw_text)))
            self.end_headers()
            self.wfile.write(raw_text)
            return
        if fault.get("malformed"):
            raw_bad = b'{"choices": [ this is not json'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw_bad)))
            self.end_headers()
            self.wfile.write(raw_bad)
            return
        self.route(method, self.path, body, fault)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def route(self, method: str, path: str, body: dict[str, Any], fault: dict[str, Any]) -> None:
        raise NotImplementedError

    def not_found(self) -> None:
        self.send_json(404, self.error_body(404, f"no route {self.path}"))


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def limited(chunks: list[bytes], fault: dict[str, Any]) -> Iterator[bytes]:
    """``chunks``, cut short after ``break_after`` of them when that fault is set."""
    stop = fault.get("break_after")
    yield from chunks if stop is None else chunks[: int(stop)]
