"""Where a gateway request's time goes: pyinstrument over N in-process requests (run by ``bench/run.py --profile``).

    PYTHONPATH=bench/.pyinstrument FUNCTION_TARGET=generate_text <emulator env> \\
        functions/venv/bin/python bench/profile_gateway.py --target generate_text --token T --out report.txt [--requests 300] [--stream]

The function is served by functions-framework's own Flask app (``create_app``),
called through Flask's test client: the gateway's code and the SDK's wrappers
as in production, without gunicorn and the client's socket (the upstream and
the emulators are still real processes on loopback). pyinstrument samples wall
time, so waits (the upstream, a Firestore commit) show as such.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
sys.path.insert(0, str(FUNCTIONS))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True, choices=("generate_text", "openai"))
    parser.add_argument("--token", required=True)
    parser.add_argument("--model", default="bench-chat")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--out", required=True, help="write the report here (stdout carries the gateway's log lines)")
    parser.add_argument("--html", help="also write pyinstrument's HTML page here")
    args = parser.parse_args()

    import functions_framework
    from pyinstrument import Profiler

    app = functions_framework.create_app(args.target, str(FUNCTIONS / "main.py"))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {args.token}"}
    prompt = "Say something short bench-key-0"
    if args.target == "generate_text":
        url, body = "/", {"modelId": args.model, "prompt": prompt, "maxTokens": 64}
    else:
        url, body = "/v1/chat/completions", {"model": args.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
    if args.stream:
        body["stream"] = True

    def once() -> None:
        response = client.post(url, json=body, headers=headers)
        data = response.get_data()  # a stream is consumed here
        if response.status_code != 200:
            raise SystemExit(f"HTTP {response.status_code}: {data[:300]!r}")

    for _ in range(30):
        once()
    started = time.perf_counter()
    for _ in range(args.requests):
        once()
    plain = (time.perf_counter() - started) * 1000 / args.requests
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(args.requests):
        once()
    profiler.stop()
    head = (f"{args.target}{' (stream)' if args.stream else ''}: {plain:.2f} ms per request in-process without the profiler, "
            f"{args.requests} requests profiled")
    Path(args.out).write_text(head + "\n" + profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        Path(args.html).write_text(profiler.output_html())


if __name__ == "__main__":
    main()
