"""Streaming through the Functions emulator: chunks reach the client as they arrive, not at the end."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest
import requests
from test_generate_text import REPLY


@pytest.fixture
def emulators_user(emulators):
    return emulators.sign_up("user")


def test_chunks_are_flushed_as_they_arrive(emulators, providers, accounts) -> None:
    providers["ollama"].state["chunk_delay"] = 0.4  # five chunks: the whole answer takes >= 1.6 s
    started = time.monotonic()
    arrivals: list[float] = []
    text = ""
    with requests.post(
        emulators.url("generate_text"),
        json={"modelId": "ollama-chat", "prompt": "hi", "stream": True},
        headers=accounts["user"].headers,
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: {") and '"content"' in line:
                arrivals.append(time.monotonic() - started)
                text += json.loads(line[6:])["content"]
    assert text == REPLY
    assert arrivals[0] < arrivals[-1] - 1.0, f"chunks arrived together: {arrivals}"


def test_ledger_is_written_before_the_response_ends(emulators, providers, emulators_user) -> None:
    """Under the Functions emulator's server, each answer's record is there once the client has the answer."""
    from gateway import firebase

    for stream in (False, True):
        response = requests.post(
            emulators.url("generate_text"),
            json={"modelId": "openai-chat", "prompt": "hi", "stream": stream},
            headers=emulators_user.headers,
            timeout=30,
        )
        assert response.status_code == 200
    records = [r.to_dict() for r in firebase.db().collection("usage").document(emulators_user.uid).collection("records").stream()]
    assert sorted(r["status"] for r in records) == ["ok", "ok"]
    assert all(r["completionTokens"] == 5 for r in records)


def _workers(emulators, function: str) -> dict[str, list[int]]:
    """The Python processes serving ``function`` under the emulator: gunicorn's arbiter and its worker(s)."""
    import stack

    found: dict[str, list[int]] = {"arbiter": [], "worker": []}
    pids = stack.descendants(emulators.stack.process.pid)
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if f"FUNCTION_TARGET={function}".encode() in environ and b"python" in cmdline:
            found["worker" if parent in pids and b"python" in Path(f"/proc/{parent}/cmdline").read_bytes() else "arbiter"].append(pid)
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("victims", ["worker", "all"])
def test_a_dead_worker_ends_its_stream(emulators, providers, accounts, victims) -> None:
    """A function instance killed mid-stream (OOM, crash): Cloud Run closes the connection, so must the emulator."""
    providers["ollama"].state["chunk_delay"] = 0.5
    providers["ollama"].state["reply"] = " ".join(["word"] * 120)  # a minute of answer
    got: list[str] = []
    with requests.post(
        emulators.url("generate_text"),
        json={"modelId": "ollama-chat", "prompt": "hi", "stream": True},
        headers=accounts["user"].headers,
        stream=True,
        timeout=(10, 45),  # the stream must end well before this read timeout
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines(decode_unicode=True)
        for line in lines:
            if '"content"' in line:
                got.append(line)
                break
        processes = _workers(emulators, "generate_text")
        assert processes["arbiter"] and processes["worker"], processes
        _kill(processes["worker"] if victims == "worker" else processes["worker"] + processes["arbiter"])
        killed = time.monotonic()
        with contextlib.suppress(requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
            for line in lines:
                got.append(line)
        ended = time.monotonic() - killed
    assert not any("[DONE]" in line for line in got), "the stream ran to its end: the worker was not killed in time"
    print(f"\nkilled {victims}: the client's stream ended {ended:.2f} s later")
    assert ended < 30, f"the stream ended {ended:.1f} s after its worker died"
    # a new worker serves the next calls; one that reaches the dead instance before the emulator saw it exit is told to retry
    for _ in range(3):
        again = requests.post(
            emulators.url("generate_text"), json={"modelId": "openai-chat", "prompt": "hi"}, headers=accounts["user"].headers, timeout=60
        )
        if again.status_code != 503:
            break
        assert again.json()["error"]["code"] == "UNAVAILABLE", again.text
        time.sleep(1)
    assert again.status_code == 200, again.text


def test_a_worker_dead_before_its_answer_is_a_gateway_error(emulators, providers, accounts) -> None:
    """Killed before the status line: a JSON error in the gateway's shape, not the emulator's {"code": "ECONNRESET"}."""
    before = len(providers["openai"].state.get("requests", []))
    providers["openai"].state["faults"] = [{"hang": 20}]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            requests.post,
            emulators.url("generate_text"),
            json={"modelId": "openai-chat", "prompt": "hi"},
            headers=accounts["user"].headers,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while len(providers["openai"].state.get("requests", [])) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(providers["openai"].state.get("requests", [])) > before, "the provider was never called"
        processes = _workers(emulators, "generate_text")
        assert processes["worker"], processes
        _kill(processes["worker"])  # the instance's worker dies (OOM); its arbiter lives on and starts another
        response = pending.result()
    providers["openai"].state["faults"] = []
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == "UNAVAILABLE" and "try again" in error["message"]
    # the same instance serves the next call once its new worker is up
    again = requests.post(
        emulators.url("generate_text"), json={"modelId": "openai-chat", "prompt": "hi"}, headers=accounts["user"].headers, timeout=60
    )
    assert again.status_code == 200, again.text
