"""Budgets reserved before the provider is called, every generated token booked, safe defaults, admission before work."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import requests
from test_usage import _records, _today

from conftest import Worker

LONG = " ".join(["word"] * 1010)


def _settled(uid: str, count: int | None = None, timeout: float = 10) -> list[dict[str, Any]]:
    """The user's records once none is still reserved (and there are ``count`` of them)."""
    deadline = time.monotonic() + timeout
    while True:
        records = _records(uid)
        done = all(r["status"] != "reserved" for r in records) and (count is None or len(records) == count)
        if done or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def _quota(uid: str, **quota: float) -> None:
    from gateway import auth, firebase

    firebase.db().collection("users").document(uid).set({"quota": quota})
    auth.forget(uid)


def _set_limits(**config: Any) -> None:
    from gateway import firebase, limits

    firebase.db().collection("config").document("limits").set(config)
    limits.forget()


def _whole_window() -> None:
    """At least 15 s left in the current one-minute rate-limit window (a test that counts must not straddle two)."""
    left = 60 - time.time() % 60
    if left < 15:
        time.sleep(left + 0.1)


def _long_model() -> None:
    """``openai-chat`` allowed to answer the 1,010 tokens the fake sends."""
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"config.maxTokens": 1010, "config.maxTokensLimit": 2000})
    registry().invalidate()


@pytest.fixture
def member(emulators) -> Any:
    return emulators.sign_up("user")


@pytest.mark.parametrize(("streams", "quota"), [(30, 1500), (100, 1500), (100, 30_000)])
def test_concurrent_streams_never_book_more_than_the_quota(stack, providers, member, streams: int, quota: int) -> None:
    """The attack of issue 18: many streams at once against a tight quota. Before: 30 streams booked 30,300 of 1,500 tokens.

    At 30,000 the first requests are far from the limit and the instance takes leases (admitting from them with no
    round trip before the call): the bound holds all the same.
    """
    _long_model()
    providers["openai"].state["reply"] = LONG
    _quota(member.uid, dailyTokens=quota)
    body = {"modelId": "openai-chat", "prompt": "hi", "stream": True}

    with Worker(stack, "generate_text") as worker, httpx.Client(timeout=60) as client:
        def ask(_: int) -> tuple[int, str]:
            response = client.post(worker.url, json=body, headers=member.headers)
            return response.status_code, response.text

        with ThreadPoolExecutor(streams) as pool:
            answers = list(pool.map(ask, range(streams)))
    served = [text for status, text in answers if status == 200]
    refused = [json.loads(text)["error"] for status, text in answers if status == 429]
    assert len(served) + len(refused) == streams
    worst = 1010 + 18  # each stream may use 1,010 completion tokens and its prompt's 18
    assert 1 <= len(served) <= quota // worst
    assert all(e["code"] == "QUOTA_EXCEEDED" and e["details"]["quota"] == "dailyTokens" for e in refused)
    records = _settled(member.uid, len(served))
    today = _today(member.uid)
    booked = today["totalTokens"]
    print(f"\n{streams} concurrent streams, dailyTokens {quota}: {len(served)} served, booked {booked} ({booked / quota:.2f} of the quota)")
    assert booked + today["reservedTokens"] <= quota  # what was used plus what is still held (leases of the killed worker)
    assert [r["status"] for r in records] == ["ok"] * len(served)
    assert sum(r["promptTokens"] + r["completionTokens"] for r in records) == booked


def test_a_quota_admits_a_request_only_when_its_worst_case_fits(local, providers, member) -> None:
    """A request reserves its prompt's bytes plus max_tokens; what it used is booked and the rest released."""
    _quota(member.uid, dailyTokens=85)  # one reservation (18 prompt + 64 completion) fits; two do not
    first = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers)
    assert first.status_code == 200
    used = first.get_json()["usage"]["totalTokens"]
    refused = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers)
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED" and error["details"]["quota"] == "dailyTokens"
    assert error["details"]["used"] == used and error["details"]["request"] == 82
    assert "ask for fewer tokens" in error["message"]
    midnight = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert error["details"]["resetAt"] == midnight.isoformat() and int(refused.headers["Retry-After"]) <= 86401
    assert len(providers["openai"].state["requests"]) == 1
    # Asking for fewer tokens fits again; the provider is sent exactly that max_tokens.
    small = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi", "maxTokens": 5}, headers=member.headers)
    assert small.status_code == 200 and providers["openai"].state["requests"][-1]["body"]["max_tokens"] == 5
    assert [r["status"] for r in _records(member.uid)] == ["ok", "ok"]
    report = local("usage").get("/", headers=member.headers).get_json()["quota"]
    assert report["reservedTokens"] == 0 and report["usedTokens"] == used + small.get_json()["usage"]["totalTokens"]


def test_every_call_has_a_max_tokens(local, providers, member) -> None:
    """A model with no maxTokens gets DEFAULT_MAX_TOKENS (within its limit): the reservation's bound holds at the provider."""
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("anthropic-chat").update({"config": {}})
    registry().invalidate()
    assert local("openai").post("/v1/chat/completions", json={"model": "anthropic-chat", "messages": [{"role": "user", "content": "x"}]},
                                headers=member.headers).status_code == 200
    assert providers["anthropic"].state["requests"][-1]["body"]["max_tokens"] == 4096


def test_a_cut_off_stream_books_what_was_sent(local, providers, member) -> None:
    """Before: a stream read to 390 of 400 words and closed booked 0 tokens."""
    providers["openai"].state.update({"reply": " ".join(["word"] * 60), "chunk_delay": 0.02})
    response = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi", "stream": True}, headers=member.headers, buffered=False)
    chunks = iter(response.response)
    events = [c.decode() if isinstance(c, bytes) else c for c in (next(chunks) for _ in range(20))]
    received = "".join(json.loads(e[6:])["content"] for e in events if e.startswith('data: {"content"'))
    response.close()
    [record] = _settled(member.uid, 1)
    assert record["status"] == "cancelled" and record["estimated"] is True
    assert record["completionTokens"] >= -(-len(received) // 4) > 0
    assert record["promptTokens"] > 0 and record["cost"] > 0
    today = _today(member.uid)
    assert today["estimatedTokens"] == today["totalTokens"] == record["promptTokens"] + record["completionTokens"]
    from gateway import budgets

    assert today["reservedTokens"] == budgets.leased(member.uid)[0]  # nothing in flight; what is left is this instance's lease


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_without_usage_is_estimated(local, providers, member, stream: bool) -> None:
    providers["openai"].state["usage"] = "none"
    response = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi", "stream": stream}, headers=member.headers)
    assert response.status_code == 200
    [record] = _settled(member.uid, 1)
    text = "Hello from the fake provider"
    assert record["status"] == "ok" and record["estimated"] is True
    assert record["completionTokens"] == -(-len(text) // 4) and record["promptTokens"] > 0
    assert record["cost"] == pytest.approx((record["promptTokens"] * 1.0 + record["completionTokens"] * 2.0) / 1e6)


def test_impossible_usage_is_estimated_and_logged(local, providers, member, capsys) -> None:
    """Before: a provider reporting negative counts drove usedTokens to -2,000,000."""
    _quota(member.uid, dailyTokens=1000)
    providers["openai"].state["usage"] = {"prompt_tokens": -1_000_000, "completion_tokens": -1_000_000, "total_tokens": -2_000_000}
    for _ in range(2):
        assert local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers).status_code == 200
    records = _settled(member.uid, 2)
    assert all(r["estimated"] and r["promptTokens"] > 0 and r["completionTokens"] > 0 for r in records)
    assert _today(member.uid)["totalTokens"] > 0
    assert "provider usage is not a possible count" in capsys.readouterr().out
    # More than was asked (max_tokens 64) is impossible too.
    providers["openai"].state["usage"] = {"prompt_tokens": 3, "completion_tokens": 500, "total_tokens": 503}
    local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers)
    last = _settled(member.uid, 3)[-1]
    assert last["estimated"] and last["promptTokens"] == 3 and last["completionTokens"] == 7


def test_an_unpriced_model_is_refused_under_a_cost_budget(local, providers, member, monkeypatch) -> None:
    """Before: a model without pricing, under dailyCostUsd 0.000001, served 5 of 5 and booked $0."""
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"pricing": None})
    registry().invalidate()
    _quota(member.uid, dailyCostUsd=0.000001)
    native = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers)
    assert native.status_code == 400
    assert native.get_json()["error"]["details"]["fields"][0]["field"] == "modelId"
    assert "has no pricing" in native.get_json()["error"]["message"]
    edge = local("openai").post("/v1/chat/completions", json={"model": "openai-chat", "messages": [{"role": "user", "content": "x"}]}, headers=member.headers)
    assert edge.status_code == 400 and edge.get_json()["error"]["param"] == "model"
    # The project cap is a cost budget too: a user without a cost quota is refused as well.
    _quota(member.uid, dailyTokens=100000)
    assert local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers).status_code == 400
    assert providers["openai"].state["requests"] == []
    # An explicit default price books it.
    monkeypatch.setenv("DEFAULT_PRICING", json.dumps({"inputPer1M": 10, "outputPer1M": 20}))
    answered = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers)
    assert answered.status_code == 200
    [record] = _settled(member.uid, 1)
    assert record["cost"] == pytest.approx((record["promptTokens"] * 10 + record["completionTokens"] * 20) / 1e6)


def test_the_project_cap_stops_everyone_until_an_admin_raises_it(local, providers, member, accounts) -> None:
    _set_limits(projectDailyCostUsd=0)
    for account in (member, accounts["admin"]):
        refused = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=account.headers)
        assert refused.status_code == 429
        error = refused.get_json()["error"]
        assert error["details"]["quota"] == "projectDailyCostUsd" and "stopped for everyone" in error["message"]
    assert providers["openai"].state["requests"] == []
    _set_limits(projectDailyCostUsd=5)
    assert local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers).status_code == 200


def test_the_project_cap_holds_under_concurrency(stack, providers, emulators) -> None:
    """Many users at once against a cap: the cost booked never passes it."""
    _long_model()
    providers["openai"].state["reply"] = LONG
    cap = 0.02  # each request reserves ~$0.002 (1,010 output tokens at $2/1M): at most ~10 fit
    _set_limits(projectDailyCostUsd=cap, quotas={})
    users = [emulators.sign_up("user") for _ in range(6)]
    with Worker(stack, "generate_text") as worker, httpx.Client(timeout=60) as client:
        def ask(i: int) -> int:
            account = users[i % len(users)]
            return client.post(worker.url, json={"modelId": "openai-chat", "prompt": "hi"}, headers=account.headers).status_code

        with ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(ask, range(40)))
    from gateway import budgets

    spent = budgets.spent_today()
    print(f"\nproject cap ${cap}: {statuses.count(200)} of 40 served, booked ${spent['cost']:.6f}")
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 429}
    assert spent["cost"] <= cap and spent["reservedCost"] == pytest.approx(0, abs=1e-9)


def test_a_fresh_sign_up_cannot_generate(local, providers, emulators, monkeypatch) -> None:
    """Before: an account made with the Auth signUp endpoint resolved to role user and could spend."""
    email = f"stranger-{time.time_ns()}@test.example"
    made = requests.post(f"{emulators.auth}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=test",
                         json={"email": email, "password": "pw-123456", "returnSecureToken": True}, timeout=10).json()
    headers = {"Authorization": f"Bearer {made['idToken']}"}
    refused = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["details"]["role"] == "viewer"
    assert local("generate_image").post("/", json={"modelId": "x", "prompt": "hi"}, headers=headers).status_code == 403
    assert local("models").get("/", headers=headers).status_code == 200  # a viewer may still look
    # VERIFIED_ROLE=user: a verified email is enough.
    from firebase_admin import auth

    from gateway import auth as gateway_auth
    from gateway import firebase

    monkeypatch.setenv("VERIFIED_ROLE", "user")
    assert local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=headers).status_code == 403
    auth.update_user(made["localId"], email_verified=True, app=firebase.app())
    token = requests.post(f"{emulators.auth}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=test",
                          json={"email": email, "password": "pw-123456", "returnSecureToken": True}, timeout=10).json()["idToken"]
    gateway_auth.forget()
    served = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers={"Authorization": f"Bearer {token}"})
    assert served.status_code == 200


def test_a_fresh_deploy_has_quotas_and_a_cap(local, providers, member) -> None:
    """No config/limits at all: users have the committed daily quotas, the project the committed cap."""
    from gateway import limits

    report = local("usage").get("/", headers=member.headers).get_json()["quota"]
    assert report["dailyTokens"] == limits.DEFAULT_QUOTAS["user"]["dailyTokens"]
    assert report["dailyCostUsd"] == limits.DEFAULT_QUOTAS["user"]["dailyCostUsd"]
    from gateway import budgets

    assert budgets.project_cap() == 20.0


def test_images_are_never_read_for_a_refused_request(local, providers, member) -> None:
    """Before: 150 requests with 8 missing gs:// images were answered 404 after reading Storage, and none was counted."""
    from gateway import storage

    missing = [f"gs://{storage.bucket_name()}/uploads/{member.uid}/missing-{i}.png" for i in range(8)]
    # A model without vision: refused before any image is read (a read would have said 404).
    no_vision = local("generate_text").post("/", json={"modelId": "ollama-chat", "prompt": "look", "images": missing}, headers=member.headers)
    assert no_vision.status_code == 400 and "vision" in no_vision.get_json()["error"]["message"]
    # Over the rate limit: 429, not the 404 a read would give.
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"capabilities": ["vision"]})
    registry().invalidate()
    _whole_window()
    _set_limits(perMinute={"generate_text": 2})
    statuses = [local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "look", "images": missing},
                                            headers=member.headers) for _ in range(3)]
    # The first two were admitted, read Storage, found nothing (404) and still counted; the third never read.
    assert [r.status_code for r in statuses] == [404, 404, 429]
    assert statuses[1].headers["X-RateLimit-Remaining"] == "0"
    assert providers["openai"].state["requests"] == []
    assert all(r["status"] == "error" and r["errorCode"] == "NOT_FOUND" for r in _settled(member.uid, 2))
    from gateway import budgets

    assert _today(member.uid)["reservedTokens"] == budgets.leased(member.uid)[0]


def test_a_requests_images_are_capped_together(local, providers, member) -> None:
    """Each image may be 5 MiB, but not 8 of them: the request's images are capped together."""
    import os

    from gateway import firebase, storage, vision
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"capabilities": ["vision"]})
    registry().invalidate()
    size = vision.MAX_IMAGE_BYTES - 1024
    urls = []
    for i in range(vision.MAX_REQUEST_IMAGE_BYTES // size + 1):
        path = f"uploads/{member.uid}/big-{i}.png"
        storage.upload(path, b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8), "image/png", {})
        urls.append(f"gs://{storage.bucket_name()}/{path}")
    response = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "look", "images": urls}, headers=member.headers)
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["details"] == {"field": f"images.{len(urls) - 1}", "limitBytes": vision.MAX_REQUEST_IMAGE_BYTES}
    assert providers["openai"].state["requests"] == []


def test_a_models_own_limit_is_one_limit_for_every_function(local, providers, member) -> None:
    """Before: config/limits.models {"m": 5} let 5 through generate_text and 5 more through openai in the same minute."""
    _whole_window()
    _set_limits(models={"openai-chat": 2})
    native = [local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=member.headers).status_code for _ in range(2)]
    edge = local("openai").post("/v1/chat/completions", json={"model": "openai-chat", "messages": [{"role": "user", "content": "x"}]}, headers=member.headers)
    assert native == [200, 200] and edge.status_code == 429
    assert edge.get_json()["error"]["code"] == "rate_limited"


def test_an_unsettled_reservation_is_booked_in_full_once(local, providers, member, monkeypatch) -> None:
    """A settle that never happens (its instance was killed) leaves the reservation booked; the sweep marks it, once."""
    from gateway import budgets, usage
    from gateway.errors import ErrorCode, GatewayError
    from gateway.registry import registry

    model = registry().get("openai-chat")
    caps = budgets.Caps(daily_tokens=10_000, project_cost=5.0)
    ask = budgets.Ask(tokens=500, cost=0.001, prompt_estimate=10, completion_limit=64)
    monkeypatch.setenv("BUDGET_LEASE_FACTOR", "0")
    reservation, _ = budgets.reserve(member.uid, "generate_text", "user", model, ask, caps, {}, count_rate=False)
    assert _today(member.uid)["reservedTokens"] == 500
    assert budgets.spent_today()["reservedCost"] == pytest.approx(0.001)
    import settle_leftovers

    monkeypatch.setattr(settle_leftovers, "GRACE_SECONDS", 0)
    assert local("settle_leftovers").post("/").status_code == 200  # what Cloud Scheduler calls
    [record] = _records(member.uid)
    assert record["status"] == "unsettled" and record["estimated"] and record["promptTokens"] == 500 and record["cost"] == 0.001
    today = _today(member.uid)
    assert today["reservedTokens"] == 0 and today["totalTokens"] == 500 and today["estimatedTokens"] == 500
    assert budgets.spent_today() == {"cost": pytest.approx(0.001), "reservedCost": pytest.approx(0, abs=1e-12)}
    # A settle arriving after the sweep books nothing more; a second sweep finds nothing.
    tracker = usage.Tracker(member.uid, "generate_text", model.id, model.provider, None, ask, reservation)
    tracker.failed(GatewayError(ErrorCode.PROVIDER_ERROR, "late"))
    assert usage.sweep(timedelta(seconds=0)) == 0
    assert _today(member.uid)["totalTokens"] == 500 and _records(member.uid)[0]["status"] == "unsettled"


def test_a_stream_that_fails_after_text_books_that_text(local, providers, member) -> None:
    """Before: streams that failed after 3 chunks reached the client booked null tokens."""
    providers["gemini"].state["faults"] = [{"break_after": 3}]
    providers["gemini"].state["reply"] = "one two three four five six"
    body = local("generate_text").post("/", json={"modelId": "gemini-chat", "prompt": "hi", "stream": True}, headers=member.headers).get_data(as_text=True)
    assert "event: error" in body
    [record] = _settled(member.uid, 1)
    assert record["status"] == "error" and record["estimated"] and record["completionTokens"] > 0 and record["promptTokens"] > 0


@pytest.mark.parametrize("route", ["generate_text", "openai"])
def test_a_client_that_leaves_is_noticed_within_a_second(stack, providers, member, route: str) -> None:
    """Before: noticed only at the gateway's next write (20-40 s with chunks every 20 s), the provider generating meanwhile."""
    from gateway import firebase

    firebase.db().collection("models").document("openai-chat").update({"config.timeoutSeconds": 10})
    providers["openai"].state.update({"reply": "one two three four five", "chunk_delay": 2.5})
    body = (
        {"modelId": "openai-chat", "prompt": "hi", "stream": True} if route == "generate_text"
        else {"model": "openai-chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    path = "" if route == "generate_text" else "/v1/chat/completions"
    with Worker(stack, route) as worker, httpx.Client(timeout=30) as client:
        with client.stream("POST", worker.url + path, json=body, headers=member.headers) as response:
            assert response.status_code == 200
            next(response.iter_lines())
        left = time.monotonic()  # the connection is closed here
        deadline = left + 10
        while time.monotonic() < deadline and not [r for r in _records(member.uid) if r["status"] != "reserved"]:
            time.sleep(0.05)
        noticed = time.monotonic() - left
        [record] = _records(member.uid)
        print(f"\n{route}: client left, stream booked as {record['status']} after {noticed:.2f} s (the provider's next chunk was 2.5 s away)")
        assert record["status"] == "cancelled" and record["estimated"] and noticed < 2.0
        # The gateway closed the provider's connection: the fake notices at its next writes.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not providers["openai"].state.get("disconnected"):
            time.sleep(0.1)
        assert providers["openai"].state.get("disconnected") is True


def _frozen_firestore(stack: Any) -> list[int]:
    """The Firestore emulator's processes (to stop with SIGSTOP and resume with SIGCONT)."""
    import stack as stack_module

    assert stack.process is not None
    marks = (stack_module.FIRESTORE_MAIN.encode(), stack_module.LAUNCHER.name.encode())
    java = [pid for pid in stack_module.descendants(stack.process.pid) if any(m in (stack_module.cmdline(pid) or b"") for m in marks)]
    assert java, "the Firestore emulator's process"
    return java


def test_far_from_its_limits_a_request_waits_on_no_round_trip_before_the_call(stack, local, providers, member) -> None:
    """The first request takes a lease of 4 more like it; the next ones are admitted from it, their record written
    beside the provider call: with Firestore frozen the provider is still called at once, and the answer is held until
    the record exists. Here it cannot be written in time, so the answer is a 503: never served unbooked (the lease
    keeps that request's worst case reserved)."""
    import os
    import signal
    from concurrent.futures import ThreadPoolExecutor as Pool

    from gateway import budgets

    body = {"modelId": "openai-chat", "prompt": "hi"}
    assert local("generate_text").post("/", json=body, headers=member.headers).status_code == 200
    tokens, cost = budgets.leased(member.uid)
    assert tokens == 4 * 82 and cost > 0
    assert _today(member.uid)["reservedTokens"] == tokens  # the lease is reserved in Firestore like any request
    java = _frozen_firestore(stack)
    calls = len(providers["openai"].state["requests"])
    for pid in java:
        os.kill(pid, signal.SIGSTOP)
    try:
        with Pool(1) as pool:
            answer = pool.submit(lambda: local("generate_text").post("/", json=body, headers=member.headers))
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(providers["openai"].state["requests"]) == calls:
                time.sleep(0.02)
            assert len(providers["openai"].state["requests"]) == calls + 1, "the provider was called while Firestore was frozen"
            held = answer.result(timeout=15)
    finally:
        for pid in java:
            os.kill(pid, signal.SIGCONT)
    assert held.status_code == 503 and held.get_json()["error"]["details"] == {"reason": "ledger_unavailable"}
    for _ in range(3):
        assert local("generate_text").post("/", json=body, headers=member.headers).status_code == 200
    assert budgets.leased(member.uid)[0] == 0  # four drawn from the lease
    records = [r for r in _records(member.uid) if r["status"] != "reserved"]
    assert [(r["lease"], r["status"]) for r in records] == [(False, "ok"), (True, "ok"), (True, "ok"), (True, "ok")]
    today = _today(member.uid)
    assert today["reservedTokens"] == 82  # the 503's worst case, held until its day ends or the sweep books it
    assert today["totalTokens"] == sum(r["promptTokens"] + r["completionTokens"] for r in records)
    # The next takes a new lease.
    assert local("generate_text").post("/", json=body, headers=member.headers).status_code == 200
    assert budgets.leased(member.uid)[0] == 4 * 82


def test_a_stalled_firestore_is_a_503_before_any_provider_call(stack, local, providers, member, monkeypatch) -> None:
    """Before: with Firestore stopped, every request waited the whole outage and some were answered unbooked.

    The Firestore emulator is frozen (SIGSTOP) after a first request warmed this instance's caches: the
    reservation cannot be written within 5 s, so the caller gets a 503 with Retry-After, the provider is
    never called, and nothing is served unbooked.
    """
    import os
    import signal

    monkeypatch.setenv("BUDGET_LEASE_FACTOR", "0")  # every request reserves before its call
    body = {"modelId": "openai-chat", "prompt": "hi"}
    assert local("generate_text").post("/", json=body, headers=member.headers).status_code == 200
    java = _frozen_firestore(stack)
    calls = len(providers["openai"].state["requests"])
    for pid in java:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        refused = local("generate_text").post("/", json=body, headers=member.headers)
        waited = time.monotonic() - started
    finally:
        for pid in java:
            os.kill(pid, signal.SIGCONT)
    assert refused.status_code == 503, refused.get_data(as_text=True)
    error = refused.get_json()["error"]
    assert error["code"] == "UNAVAILABLE" and error["details"] == {"reason": "ledger_unavailable"}
    assert refused.headers["Retry-After"] == "5" and waited < 10
    assert len(providers["openai"].state["requests"]) == calls
