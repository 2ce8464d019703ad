"""The Responses API's added latency: ``/v1/responses`` streaming to first text vs ``/v1/chat/completions`` to first content.

    functions/venv/bin/python bench/responses.py [--rounds N] [--size N]

One ``openai`` function process (functions-framework, as deployed: limiter and budgets on, against the Firestore
emulator) and bench/upstream.py's fake upstream (5 ms between chunks), the two endpoints interleaved in blocks
(the order swapped every round) so noise hits both alike. For each stream: request start -> the first line that
carries text (chat: a ``"content"`` delta; responses: a ``response.output_text.delta`` event), and that instant
minus when the upstream wrote its first content (one monotonic clock). Prints medians, p90 and their ratio.
Uses bench/run.py's helpers; nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (bench/run.py: servers, the emulator stack, percentiles)


def body(kind: str, key: str) -> dict[str, Any]:
    prompt = f"{run.PROMPT} bench-key-{key}"
    if kind == "responses":
        return {"model": run.MODEL_ID, "input": prompt, "max_output_tokens": run.MAX_TOKENS, "stream": True, "store": False}
    return {"model": run.MODEL_ID, "messages": [{"role": "user", "content": prompt}], "max_tokens": run.MAX_TOKENS, "stream": True}


def text_line(kind: str, line: str) -> bool:
    if kind == "responses":
        return line.startswith("event: response.output_text.delta")
    return line.startswith("data:") and run.content_line(line)


def once(client: httpx.Client, base: str, headers: dict[str, str], kind: str, upstream: httpx.Client, upstream_url: str) -> tuple[float, float]:
    """(request start -> first text, first text - the upstream's first content), in ms."""
    key = uuid.uuid4().hex
    path = "/v1/responses" if kind == "responses" else "/v1/chat/completions"
    first = None
    started = run.now()
    with client.stream("POST", base + path, json=body(kind, key), headers=headers) as response:
        if response.status_code != 200:
            response.read()
            raise run.Failed(f"{kind}: HTTP {response.status_code}: {response.text[:300]}")
        for line in response.iter_lines():
            if first is None and text_line(kind, line):
                first = run.now()
    if first is None:
        raise run.Failed(f"{kind}: no text reached the client")
    chunks = upstream.get(f"{upstream_url}/bench/streams/{key}").json()["chunks"]
    sent = next(t for t, what in chunks if what == "content")
    return (first - started) * 1000, (first - sent) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--size", type=int, default=10, help="streams per endpoint per round")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-responses-"))
    stack = run.stack_module.Stack(fresh_ports=True, emulators=("auth", "firestore"))
    upstream = subprocess.Popen([sys.executable, str(run.BENCH / "upstream.py"), "--chunk-delay", str(run.CHUNK_DELAY)],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    gateway = None
    try:
        assert upstream.stdout is not None
        upstream_url = upstream.stdout.readline().decode().strip()
        stack.start()
        os.environ.update(stack.env)
        headers = {"Authorization": f"Bearer {run.setup_gateway(upstream_url)}"}
        env = {**stack.env, "RATE_LIMITS_ENABLED": "true", "PROJECT_DAILY_COST_USD": "1000000"}
        gateway = run.spawn_ff("oa+bud", "openai", run.FUNCTIONS / "main.py", env, logs)
        gateway.wait_ready("/__/health", timeout=120)
        client, upstream_client = httpx.Client(timeout=60), httpx.Client(timeout=10)
        kinds = ["chat", "responses"]
        for _ in range(5):  # warm up both paths
            for kind in kinds:
                once(client, gateway.url, headers, kind, upstream_client, upstream_url)
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
        for number in range(args.rounds):
            for kind in (kinds if number % 2 == 0 else kinds[::-1]):
                results[kind] += [once(client, gateway.url, headers, kind, upstream_client, upstream_url) for _ in range(args.size)]
        print(f"\n{args.rounds} rounds x {args.size} streams per endpoint, {time.strftime('%Y-%m-%d')}, on {run.machine()}")
        print("| endpoint | to first text, median (ms) | p90 | after the upstream's first content, median (ms) | p90 |")
        print("|---|---|---|---|---|")
        for kind in kinds:
            total, lag = [r[0] for r in results[kind]], [r[1] for r in results[kind]]
            print(f"| {kind} | {run.fmt(run.med(total))} | {run.fmt(run.pct(total, 0.9))} | {run.fmt(run.med(lag))} | {run.fmt(run.pct(lag, 0.9))} |")
        chat, resp = (run.med([r[0] for r in results[k]]) for k in kinds)
        print(f"\nresponses / chat, median time to first text: {run.ratio(resp, chat):.2f}x ({resp - chat:+.2f} ms)")
    except run.Failed as exc:
        print(f"\nbench: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        if gateway is not None:
            run.kill_tree(gateway.process)
        run.kill_tree(upstream)
        stack.stop()


if __name__ == "__main__":
    main()
