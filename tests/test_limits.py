"""Rate limits: headers, limits from config, and exactness across two real gateway processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from conftest import Worker


@pytest.fixture(autouse=True)
def whole_window() -> None:
    """Start each test with at least 15 s left in the current one-minute window."""
    left = 60 - time.time() % 60
    if left < 15:
        time.sleep(left + 0.1)


def _set_limits(**config: Any) -> None:
    """``config/limits``, with no budget unless a test sets one: the rate limiter alone, its count overlapping the provider call."""
    from gateway import firebase, limits

    firebase.db().collection("config").document("limits").set({"quotas": {}, "projectDailyCostUsd": None, **config})
    limits.forget()


def _ask(local, account, model: str = "openai-chat", **extra: Any) -> Any:
    return local("generate_text").post("/", json={"modelId": model, "prompt": "hi", **extra}, headers=account.headers)


def test_every_answer_carries_rate_limit_headers(local, providers, accounts) -> None:
    first = _ask(local, accounts["user"])
    second = _ask(local, accounts["user"])
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "100"
    assert (int(first.headers["X-RateLimit-Remaining"]), int(second.headers["X-RateLimit-Remaining"])) == (99, 98)
    reset = int(first.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 60
    providers["openai"].state["faults"] = [{"status": 400}]
    provider_error = _ask(local, accounts["user"])
    assert provider_error.status_code == 400 and provider_error.headers["X-RateLimit-Remaining"] == "97"


def test_over_the_limit_is_429_with_retry_after(local, providers, accounts) -> None:
    _set_limits(perMinute={"generate_text": 3})
    statuses = [_ask(local, accounts["user"]).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = _ask(local, accounts["user"])
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0" and refused.headers["X-RateLimit-Limit"] == "3"
    assert len(providers["openai"].state["requests"]) == 3
    # Another route and another user have windows of their own.
    assert local("openai").post("/v1/chat/completions", json={"model": "openai-chat", "messages": [{"role": "user", "content": "x"}]}, headers=accounts["user"].headers).status_code == 200
    assert _ask(local, accounts["admin"]).status_code == 200


@pytest.mark.parametrize("budget", [False, True], ids=["limiter", "budget-reservation"])
def test_a_caller_past_the_limit_costs_no_more_writes(local, providers, accounts, monkeypatch, budget: bool) -> None:
    """Refusals after the first one seen come from the instance's memory: the window document stops taking writes
    (whether the count is the limiter's own write or part of a budget's reservation commit)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import firebase

    monkeypatch.setenv("BUDGET_LEASE_FACTOR", "0")  # every request reserves in its own commit
    _set_limits(perMinute={"generate_text": 2}, **({"quotas": {"user": {"dailyTokens": 1_000_000}}} if budget else {}))
    statuses = [_ask(local, accounts["user"]).status_code for _ in range(8)]
    assert statuses == [200, 200] + [429] * 6
    windows = firebase.db().collection("ratelimits").where(filter=FieldFilter("uid", "==", accounts["user"].uid)).stream()
    counts = [w.to_dict()["count"] for w in windows if w.to_dict()["route"] == "generate_text"]
    assert sum(counts) <= 3 + 1, counts  # 2 served, the refusal that told this instance (and one more if a window turned meanwhile)


def test_invalid_requests_do_not_count(local, providers, accounts) -> None:
    _set_limits(perMinute={"generate_text": 1})
    for _ in range(3):
        assert _ask(local, accounts["user"], temperature=9).status_code == 400
    assert _ask(local, accounts["user"]).status_code == 200


def test_role_and_model_limits(local, providers, accounts) -> None:
    _set_limits(perMinute={"generate_text": 1}, roles={"admin": {"generate_text": 3}}, models={"ollama-chat": 2})
    assert [_ask(local, accounts["admin"]).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [_ask(local, accounts["user"], model="ollama-chat").status_code for _ in range(3)] == [200, 200, 429]
    assert [_ask(local, accounts["user"]).status_code for _ in range(2)] == [200, 429]


def test_image_route_default_is_20(local, providers, accounts) -> None:
    from gateway import limits

    assert limits.limit_for("generate_image", "user", None) == (20, None)
    assert limits.limit_for("openai", "user", None) == (100, None)


@pytest.fixture
def two_gateways(stack, providers) -> Iterator[list[str]]:
    """Two real gateway processes (functions-framework + gunicorn, as deployed) on one Firestore emulator."""
    with Worker(stack, "generate_text") as one, Worker(stack, "generate_text") as two:
        yield [one.url, two.url]


def test_limit_holds_across_two_processes(two_gateways, accounts) -> None:
    limit = 5
    _set_limits(perMinute={"generate_text": limit})
    headers = accounts["user"].headers

    def fire(i: int) -> int:
        url = two_gateways[i % 2]
        return httpx.post(url, json={"modelId": "openai-chat", "prompt": "hi"}, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(fire, range(30)))
    assert statuses.count(200) == limit, statuses
    assert statuses.count(429) == 30 - limit
    print(f"two processes, 30 concurrent requests, limit {limit}: {statuses.count(200)} succeeded")


def _count_elsewhere(uid: str, route: str, n: int) -> None:
    """Requests another instance counted: the window's counter, moved on in Firestore (this instance knows nothing)."""
    from gateway import limits

    for _ in range(n):
        limits.check(uid, route, "user")


@pytest.mark.parametrize("stream", [False, True])
def test_over_limit_burst_starts_at_most_one_provider_call(local, providers, emulators, stream: bool) -> None:
    """The count runs beside the provider call; a burst on a counter already over its limit costs at most one call.

    That one call is closed before anything reached its client; all 20 answers are 429s.
    """
    _set_limits(perMinute={"generate_text": 5})
    account = emulators.sign_up("user")
    _count_elsewhere(account.uid, "generate_text", 5)
    providers["openai"].state.update(chunk_delay=0.05, latency=0.05)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _ask(local, account, stream=stream), range(20)))
    assert [a.status_code for a in answers] == [429] * 20
    assert all(a.mimetype == "application/json" and a.get_json()["error"]["code"] == "RATE_LIMITED" for a in answers)
    assert len(providers["openai"].state["requests"]) <= 1
    # The call that did start is booked (its prompt, estimated), never dropped.
    from gateway import firebase

    records = [s.to_dict() for s in firebase.db().collection("usage").document(account.uid).collection("records").stream()]
    assert len(records) == len(providers["openai"].state["requests"])
    assert all(r["status"] == "refused" and r["estimated"] and r["promptTokens"] > 0 and r["errorCode"] == "RATE_LIMITED" for r in records)


def test_known_to_be_near_the_limit_waits_for_the_count(local, providers, emulators) -> None:
    """Once this instance saw the count near the limit, it counts first: refused requests start no provider call."""
    _set_limits(perMinute={"generate_text": 5})
    account = emulators.sign_up("user")
    assert [_ask(local, account).status_code for _ in range(5)] == [200] * 5
    calls = len(providers["openai"].state["requests"])
    assert [_ask(local, account, stream=True).status_code for _ in range(5)] == [429] * 5
    assert len(providers["openai"].state["requests"]) == calls


def test_overlapped_requests_are_counted_exactly_and_recorded_once(local, providers, emulators) -> None:
    """Sequential requests far from the limit overlap the count; the headers and the ledger still see each one once."""
    from gateway import firebase

    _set_limits(perMinute={"generate_text": 50})
    account = emulators.sign_up("user")
    remaining = [int(_ask(local, account, stream=i % 2 == 1).headers["X-RateLimit-Remaining"]) for i in range(6)]
    assert remaining == [49, 48, 47, 46, 45, 44]
    records = firebase.db().collection("usage").document(account.uid).collection("records").get()
    assert len(records) == 6
