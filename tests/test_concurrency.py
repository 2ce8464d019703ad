"""One instance under the load Cloud Run sends it: ``concurrency`` requests at once, streams included.

The worker is started the way Cloud Run starts a Python function: the
functions-framework CLI (gunicorn, one worker, ``THREADS`` threads) with
``--target generate_text``, against the emulators and a fake OpenAI upstream
that streams slowly (``chunk_delay``). ``CONCURRENCY - 1`` streams of ~4 s
start together and a GET is sent in the middle: that is ``CONCURRENCY``
requests in flight, the most Cloud Run sends one instance.

- As deployed (``THREADS`` unset here, so ``main.py`` sets it to the
  concurrency; ``functions/.env`` says the same in production): every stream
  sends its first byte within :data:`FIRST_BYTE_BOUND` and the GET answers at once.
- With functions-framework's default on one vCPU (``THREADS=4``): 4 streams
  start, the rest and the GET wait for them in gunicorn's queue. Measured up
  to :data:`BEFORE_CAP` seconds, then the worker is stopped.

The numbers are printed (``pytest -s``) for docs/deploy.md, "Concurrency and threads".
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from conftest import Worker

FIRST_BYTE_BOUND = 3.0
GET_BOUND = 2.0
BEFORE_CAP = 10.0
CHUNK_DELAY = 0.4
REPLY = "one two three four five six seven eight"  # ~10 chunks: a stream lasts ~4 s
GET_AFTER = 1.0


def _memory_mb(pid: int) -> float:
    """Memory of a process and its descendants (gunicorn's arbiter and its worker), shared pages counted once (PSS)."""
    import stack

    total = 0
    for each in (pid, *stack.descendants(pid)):
        try:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _load(worker: Worker, token: str, streams: int, cap: float) -> dict[str, Any]:
    """``streams`` concurrent streams plus one GET after :data:`GET_AFTER` s; times in seconds (None: nothing within ``cap``)."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"modelId": "openai-chat", "prompt": "hi", "stream": True}
    first: list[float | None] = [None] * streams
    done = [False] * streams
    get_latency: list[float | None] = [None]
    start = threading.Barrier(streams + 1)
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=0)
    timeout = httpx.Timeout(cap, connect=5.0)

    with httpx.Client(limits=limits, timeout=timeout) as client:

        def stream(index: int) -> None:
            start.wait()
            began = time.monotonic()
            received = b""
            try:
                with client.stream("POST", worker.url, json=body, headers=headers) as response:
                    for chunk in response.iter_raw():
                        if chunk and first[index] is None:
                            first[index] = time.monotonic() - began
                        received += chunk
                done[index] = response.status_code == 200 and b"data: [DONE]" in received and b'"done":true' in received.replace(b" ", b"")
            except httpx.HTTPError:
                pass

        def get() -> None:
            time.sleep(GET_AFTER)
            began = time.monotonic()
            try:
                if client.get(worker.url, headers=headers).status_code == 200:
                    get_latency[0] = time.monotonic() - began
            except httpx.HTTPError:
                pass

        workers = [threading.Thread(target=stream, args=(i,), daemon=True) for i in range(streams)]
        getter = threading.Thread(target=get, daemon=True)
        for thread in workers:
            thread.start()
        start.wait()
        getter.start()
        getter.join(cap + GET_AFTER + 5)
        memory = _memory_mb(worker.process.pid) if worker.process else 0.0
        if all(f is not None for f in first):  # everyone started: let them finish
            for thread in workers:
                thread.join(cap + 5)
        else:  # queued behind busy threads: stop the instance, as the measurement is over
            worker.kill()
            for thread in workers:
                thread.join(10)

    started = sorted(f for f in first if f is not None)
    return {
        "streams": streams,
        "started": len(started),
        "within_bound": sum(1 for f in started if f <= FIRST_BYTE_BOUND),
        "p50": statistics.median(first) if len(started) == streams else None,  # type: ignore[type-var]
        "max": started[-1] if len(started) == streams else None,
        "completed": sum(done),
        "get": get_latency[0],
        "memory_mb": memory,
    }


def _show(label: str, result: dict[str, Any], cap: float) -> str:
    def seconds(value: float | None) -> str:
        return f"{value:.2f} s" if value is not None else f"> {cap:.0f} s"

    return (
        f"{label}: first byte p50 {seconds(result['p50'])}, max {seconds(result['max'])}; "
        f"{result['within_bound']}/{result['streams']} within {FIRST_BYTE_BOUND:.0f} s, {result['started']} started within {cap:.0f} s, "
        f"{result['completed']} completed; GET {seconds(result['get'])}; instance memory {result['memory_mb']:.0f} MB (PSS)"
    )


def test_an_instance_serves_its_declared_concurrency(stack, emulators, providers) -> None:
    from gateway import deploy

    upstream = providers["openai"]
    upstream.state.update({"chunk_delay": CHUNK_DELAY, "reply": REPLY})
    streams = deploy.CONCURRENCY - 1
    results = {}
    for label, threads, cap in (("THREADS unset (main.py: concurrency)", None, 30.0), ("THREADS=4 (the old default)", "4", BEFORE_CAP)):
        user = emulators.sign_up("user")  # a fresh user: a rate-limit window of its own
        worker = Worker(stack, "generate_text", env={"THREADS": threads} if threads else None)
        if threads is None:
            worker.env.pop("THREADS", None)
        with worker:
            warm = httpx.post(worker.url, json={"modelId": "openai-chat", "prompt": "hi"}, headers={"Authorization": f"Bearer {user.token}"}, timeout=30)
            assert warm.status_code == 200, warm.text
            results[label] = _load(worker, user.token, streams, cap)
        print("\n" + _show(label, results[label], cap))

    after, before = results.values()
    assert after["within_bound"] == streams, after  # every stream started at once
    assert after["completed"] == streams, after
    assert after["get"] is not None and after["get"] <= GET_BOUND, after
    assert before["within_bound"] <= 8, before  # 4 threads: 4 streams, the rest queued behind them
    assert before["get"] is None or before["get"] > FIRST_BYTE_BOUND, before
