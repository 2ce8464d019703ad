"""Log entries as Cloud Logging reads them: one JSON object per line, grouped under the request's trace.

No emulator: a bare Flask app serves handlers through ``http.serve``, and a
subprocess writes from many threads at once to a pipe, as gunicorn's threads
do to the instance's stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

from flask import Flask, Response, request

from conftest import ROOT

PROJECT = "demo-trace"
TRACE_ID = "105445aa7843bc8bf206b12000100000"


def _entries(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _app() -> Flask:
    from gateway import http, logs

    def stream(ctx: http.Context) -> Response:
        def body() -> Iterator[str]:
            logs.info("inside the stream", requestId=ctx.request_id)  # after the handler returned: no Flask request context
            yield "data: x\n\n"

        return Response(body(), mimetype="text/event-stream")

    app = Flask("logs-test")
    app.add_url_rule("/", "stream", lambda: http.serve(request, "stream", {"GET": http.Handler(stream, public=True)}))
    return app


def test_every_entry_of_a_request_carries_its_trace(monkeypatch, capsys) -> None:
    monkeypatch.setenv("GCLOUD_PROJECT", PROJECT)
    client = _app().test_client()
    traced = client.get("/", headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/12345;o=1"})
    assert traced.get_data(as_text=True) == "data: x\n\n"
    request_id = traced.headers["X-Request-Id"]
    plain = client.get("/")  # the next request of the same thread, without a trace header
    plain.get_data()
    entries = _entries(capsys.readouterr().out)
    mine = [e for e in entries if e.get("requestId") == request_id]
    assert {e["message"] for e in mine} == {"request", "inside the stream"}
    for entry in mine:
        assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"
        assert entry["logging.googleapis.com/spanId"] == format(12345, "016x")
        assert entry["logging.googleapis.com/trace_sampled"] is True
    others = [e for e in entries if e.get("requestId") == plain.headers["X-Request-Id"]]
    assert others and all("logging.googleapis.com/trace" not in e for e in others)  # no trace carried over


def test_w3c_traceparent_is_read_too(monkeypatch, capsys) -> None:
    monkeypatch.setenv("GCLOUD_PROJECT", PROJECT)
    response = _app().test_client().get("/", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    response.get_data()
    entry = next(e for e in _entries(capsys.readouterr().out) if e["message"] == "inside the stream")
    assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert entry["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"


def test_a_malformed_trace_header_is_ignored(monkeypatch, capsys) -> None:
    monkeypatch.setenv("GCLOUD_PROJECT", PROJECT)
    response = _app().test_client().get("/", headers={"X-Cloud-Trace-Context": "not-a-trace/1;o=1\" }"})
    assert response.status_code == 200
    response.get_data()
    assert all("logging.googleapis.com/trace" not in e for e in _entries(capsys.readouterr().out))


WRITERS = r"""
import sys, threading
sys.path.insert(0, sys.argv[1])
sys.setswitchinterval(1e-6)  # switch threads as often as possible: any gap between two writes of one entry shows
from gateway import logs
threads, entries = int(sys.argv[2]), int(sys.argv[3])
barrier = threading.Barrier(threads)
def run(n):
    barrier.wait()
    for i in range(entries):
        logs.info("x" * 300, thread=n, entry=i)
workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
"""


def test_entries_written_by_many_threads_never_share_a_line() -> None:
    from gateway import deploy

    threads, entries = deploy.THREADS, 100
    out = subprocess.run(
        [sys.executable, "-c", WRITERS, str(ROOT / "functions"), str(threads), str(entries)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    broken = [line[:120] for line in lines if not (line.startswith("{") and line.endswith("}"))]
    assert not broken, f"{len(broken)} of {len(lines)} lines are not one entry: {broken[:3]}"
    seen = {(e["thread"], e["entry"]) for e in map(json.loads, lines)}
    assert len(lines) == len(seen) == threads * entries
