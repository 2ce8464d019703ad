"""Config freshness across functions: a write through one function is served by another within 2 s.

Under the Functions emulator each function runs in its own worker process, as
each is its own Cloud Run service in production; neither shares a cache with
the other or with this test process.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

BOUND_SECONDS = 2.0


def _generate(emulators, account, model_id: str = "ollama-chat") -> requests.Response:
    return requests.post(
        emulators.url("generate_text"), json={"modelId": model_id, "prompt": "hi"}, headers=account.headers, timeout=10
    )


def _seen_within(check: Callable[[], bool]) -> float:
    """Seconds until ``check()`` held in the other function; fails past the bound."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < BOUND_SECONDS, "the other function still served the old config"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def warm(emulators, providers, accounts) -> dict[str, Any]:
    """Both functions' workers started and their listeners open; limits raised so polling is never refused."""
    from gateway import firebase

    firebase.db().collection("config").document("limits").set({"perMinute": {"generate_text": 10_000}})
    user, admin = accounts["user"], accounts["admin"]
    _seen_within(lambda: _generate(emulators, user).headers.get("X-RateLimit-Limit") == "10000")
    assert requests.get(emulators.url("models", "/ollama-chat"), headers=admin.headers, timeout=10).status_code == 200
    return {"user": user, "admin": admin}


def test_model_change_through_models_reaches_generate_text(emulators, warm, capsys) -> None:
    user, admin = warm["user"], warm["admin"]
    times: list[float] = []
    for enabled in (False, True, False, True, False, True):
        patched = requests.patch(
            emulators.url("models", "/ollama-chat"), json={"enabled": enabled}, headers=admin.headers, timeout=10
        )
        assert patched.status_code == 200, patched.text
        want = 200 if enabled else 404
        times.append(_seen_within(lambda want=want: _generate(emulators, user).status_code == want))
    with capsys.disabled():
        print(f"\n[propagation] models -> generate_text: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")


def test_provider_disabled_through_providers_is_refused_by_generate_text(emulators, warm) -> None:
    user, admin = warm["user"], warm["admin"]
    patched = requests.patch(emulators.url("providers", "/ollama"), json={"enabled": False}, headers=admin.headers, timeout=10)
    assert patched.status_code == 200, patched.text
    _seen_within(lambda: _generate(emulators, user).status_code == 503)
    refused = _generate(emulators, user).json()["error"]
    assert refused["code"] == "UNAVAILABLE" and "disabled" in refused["message"]


def test_console_edits_reach_every_function(emulators, warm) -> None:
    """Hand edits (here: this process's Admin SDK) reach the functions by their listeners too."""
    from gateway import firebase

    user = warm["user"]
    db = firebase.db()
    db.collection("models").document("ollama-chat").update({"enabled": False})
    _seen_within(lambda: _generate(emulators, user).status_code == 404)
    listed = requests.get(emulators.url("models"), headers=user.headers, timeout=10).json()["models"]
    assert "ollama-chat" not in [m["id"] for m in listed]
    db.collection("models").document("ollama-chat").update({"enabled": True})
    db.collection("config").document("limits").set({"perMinute": {"generate_text": 9_999}})
    _seen_within(lambda: _generate(emulators, user).headers.get("X-RateLimit-Limit") == "9999")


def test_a_frozen_instance_catches_up_when_it_thaws(stack, providers, accounts, capsys) -> None:
    """Cloud Run throttles an idle instance's CPU: here the worker is stopped outright (SIGSTOP) while the
    model is disabled by hand, then resumed. Its listener applies the change as the next requests arrive."""
    import os
    import signal

    import httpx

    import stack as stack_module
    from conftest import Worker
    from gateway import firebase

    user = accounts["user"]
    with Worker(stack, "generate_text") as worker:
        ask = lambda: httpx.post(worker.url, json={"modelId": "ollama-chat", "prompt": "hi"}, headers=user.headers, timeout=10)  # noqa: E731
        assert ask().status_code == 200
        assert worker.process is not None
        pids = [worker.process.pid, *stack_module.descendants(worker.process.pid)]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            firebase.db().collection("models").document("ollama-chat").update({"enabled": False})
            time.sleep(0.5)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        statuses = []
        waited = _seen_within(lambda: statuses.append(ask().status_code) or statuses[-1] == 404)
    with capsys.disabled():
        print(f"\n[propagation] frozen worker, after resuming: {statuses.count(200)} stale answer(s), new config after {waited * 1000:.0f} ms")


def test_a_key_stored_through_providers_reaches_another_function_without_a_401(stack, local, providers, accounts) -> None:
    """The stored key's version is on the provider document, so other instances read the new key with it."""
    import httpx

    from conftest import Worker

    fake = providers["openai"]
    user, admin = accounts["user"], accounts["admin"]
    with Worker(stack, "generate_text") as worker:
        ask = lambda: httpx.post(worker.url, json={"modelId": "openai-chat", "prompt": "hi"}, headers=user.headers, timeout=10)  # noqa: E731
        assert ask().status_code == 200  # the worker now holds the old key
        rotated = "sk-test-rotated-0123456789abcdef"
        fake.state["key"] = rotated
        patched = local("providers").patch("/openai", json={"apiKey": rotated}, headers=admin.headers)
        assert patched.status_code == 200, patched.get_data(as_text=True)
        assert patched.get_json()["keyVersion"] and "apiKey" not in patched.get_json()
        time.sleep(0.5)
        sent = len(fake.state["requests"])
        assert ask().status_code == 200
    keys = [r["headers"].get("Authorization") for r in fake.state["requests"][sent:]]
    assert keys == [f"Bearer {rotated}"], "the other function tried its old key first"
