"""Hot Firestore documents (a user's day, sharded), the policy when Firestore is down, and listeners that die silently."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import pytest
from test_budgets import _frozen_firestore, _quota


@pytest.fixture
def member(emulators) -> Any:
    return emulators.sign_up("user")


def _ask(local, account, **extra: Any) -> Any:
    return local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi", **extra}, headers=account.headers)


def _day_docs(uid: str) -> dict[str, dict[str, Any]]:
    from gateway import firebase

    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    days = firebase.db().collection("usage").document(uid).collection("days")
    return {snap.id: snap.to_dict() or {} for snap in days.stream() if snap.id.startswith(day)}


def test_a_users_day_is_spread_over_shards_and_read_as_one(local, providers, member, monkeypatch) -> None:
    """Before: every request wrote usage/{uid}/days/{day} (a busy caller passes Firestore's ~1 write/s a document).
    Now each booking goes to one of USAGE_DAY_SHARDS documents, and GET /usage sums them."""
    monkeypatch.setenv("BUDGET_LEASE_FACTOR", "0")  # every request reserves and settles: two day writes each
    answers = [_ask(local, member) for _ in range(12)]
    assert {a.status_code for a in answers} == {200}
    docs = _day_docs(member.uid)
    shards = {doc_id: doc for doc_id, doc in docs.items() if len(doc_id) > 10}
    assert len(shards) >= 2, f"every booking landed on one document: {sorted(docs)}"
    assert all(doc["date"] == datetime.now(timezone.utc).strftime("%Y-%m-%d") and doc["uid"] == member.uid for doc in docs.values())
    assert max(doc.get("requests", 0) for doc in docs.values()) < 12
    used = sum(a.get_json()["usage"]["totalTokens"] for a in answers)
    report = local("usage").get("/", headers=member.headers).get_json()
    assert report["totals"]["requests"] == 12 and report["totals"]["totalTokens"] == used
    assert report["days"][-1]["requests"] == 12 and len(report["days"]) == 1
    assert report["quota"]["usedTokens"] == used and report["quota"]["reservedTokens"] == 0


def test_the_day_before_the_upgrade_and_its_shards_both_count_against_a_quota(local, providers, member) -> None:
    """The unsharded day document (all there was before shards) and a shard are summed by the budget check and GET /usage."""
    from gateway import firebase

    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    days = firebase.db().collection("usage").document(member.uid).collection("days")
    days.document(day).set({"uid": member.uid, "date": day, "requests": 3, "totalTokens": 60, "cost": 0.0})
    days.document(f"{day}-3").set({"uid": member.uid, "date": day, "requests": 3, "totalTokens": 60, "cost": 0.0})
    _quota(member.uid, dailyTokens=200)  # 60 + 60 + a worst case of 82 does not fit; either part alone would
    refused = _ask(local, member)
    assert refused.status_code == 429, refused.get_data(as_text=True)
    assert refused.get_json()["error"]["details"]["used"] == 120
    assert len(providers["openai"].state["requests"]) == 0
    report = local("usage").get("/", headers=member.headers).get_json()
    assert report["quota"]["usedTokens"] == 120 and report["totals"]["requests"] == 6 and report["quota"]["reservedTokens"] == 0


@contextmanager
def _frozen(stack: Any) -> Iterator[None]:
    """The Firestore emulator stopped (SIGSTOP) for the block: every call to it hangs."""
    java = _frozen_firestore(stack)
    for pid in java:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in java:
            os.kill(pid, signal.SIGCONT)


def test_a_stalled_firestore_fails_open_when_the_policy_says_so(stack, local, providers, member, monkeypatch) -> None:
    """LEDGER_DOWN_POLICY=open: a request Firestore cannot count is served (not a 503), well before the client's 60 s."""
    monkeypatch.setenv("BUDGET_LEASE_FACTOR", "0")
    monkeypatch.setenv("LEDGER_DOWN_POLICY", "open")
    assert _ask(local, member).status_code == 200  # caches warm
    calls = len(providers["openai"].state["requests"])
    with _frozen(stack):
        started = time.monotonic()
        served = _ask(local, member)
        waited = time.monotonic() - started
    assert served.status_code == 200, served.get_data(as_text=True)
    assert served.get_json()["text"] and waited < 30
    assert len(providers["openai"].state["requests"]) == calls + 1


def test_a_stalled_firestore_fails_closed_by_default_for_a_stream(stack, local, providers, member, monkeypatch) -> None:
    """The committed policy (closed): a stream Firestore cannot count is a 503 with Retry-After in the gateway's error
    shape, never a 500 and never the client's 60 s wait, and its provider is not called."""
    from gateway import settings

    assert settings.LEDGER_DOWN_POLICY.value == "closed"
    monkeypatch.setenv("BUDGET_LEASE_FACTOR", "0")
    assert _ask(local, member).status_code == 200
    calls = len(providers["openai"].state["requests"])
    with _frozen(stack):
        started = time.monotonic()
        refused = _ask(local, member, stream=True)
        body = refused.get_data(as_text=True)
        waited = time.monotonic() - started
    assert refused.status_code == 503, body
    error = refused.get_json()["error"]
    assert error["code"] == "UNAVAILABLE" and error["details"] == {"reason": "ledger_unavailable"} and error["message"]
    assert refused.headers["Retry-After"] == "5" and waited < 30
    assert len(providers["openai"].state["requests"]) == calls


def _until(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.02)


def test_a_silently_dead_listener_is_resubscribed_by_the_safety_net(local, clean, monkeypatch) -> None:
    """A listener whose stream stopped delivering while it still says it is active: before, it stayed dead for the
    instance's life (every change waited for the next safety-net read). Now the safety-net read that finds a version
    it never delivered closes it and subscribes anew, and changes are pushed again."""
    from gateway import firebase, live

    db = firebase.db()
    doc = db.collection("livetests-dead").document("a")
    doc.set({"n": 1})
    held = live.Live("livetests-dead", lambda doc_id, data: data)
    monkeypatch.setattr(live, "WATCHDOG_GRACE_SECONDS", 0.2, raising=False)
    try:
        held.current()
        _until(held._listening, 5)
        dead = held._watch
        dead._snapshot_callback = lambda *args: None  # still active, delivers nothing: a stream dead in silence
        doc.set({"n": 2})
        time.sleep(1.2)  # past the "just read" window of a re-read
        assert dead.is_active and held.current() == {"a": {"n": 1}}  # within REGISTRY_CACHE_SECONDS nothing re-reads
        monkeypatch.setenv("REGISTRY_CACHE_SECONDS", "0")
        assert held.current() == {"a": {"n": 2}}  # the safety net's direct read
        monkeypatch.setenv("REGISTRY_CACHE_SECONDS", "300")
        assert held._watch is not dead, "the dead listener was kept"
        assert held.restarts == 1
        _until(held._listening, 5)
        pushes = held.pushes
        doc.set({"n": 3})
        _until(lambda: held.current() == {"a": {"n": 3}}, 5)  # pushed by the new listener, no re-read due
        assert held.pushes > pushes
    finally:
        held.close()
        doc.delete()


def test_a_listener_that_keeps_failing_is_retried_with_growing_delays(local, clean, monkeypatch) -> None:
    """A persistent error (here: no Firestore client can be made) while requests keep coming: attempts are spaced by
    doubling delays with jitter, not a retry every few seconds for the instance's life."""
    from gateway import live

    attempts: list[float] = []

    class Unreachable(live.Live[Any]):
        def _ref(self) -> Any:
            attempts.append(time.monotonic())
            raise RuntimeError("Firestore unreachable")

    held = Unreachable("livetests-unreachable", lambda doc_id, data: data)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 8:  # a request every 10 ms
            held.start()
            time.sleep(0.01)
    finally:
        held.close()
        live._all.remove(held)
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    print(f"\nattempts over 8 s: {len(attempts)}, gaps {[round(g, 2) for g in gaps]}")
    assert 3 <= len(attempts) <= 6, gaps
    assert all(later >= earlier * 0.9 for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps
    assert gaps[-1] >= 2 * gaps[0], gaps
