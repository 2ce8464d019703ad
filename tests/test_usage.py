"""The usage ledger, daily aggregates, quotas, and the usage function."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest


def _ask(local, account, model: str = "openai-chat", **extra: Any) -> Any:
    return local("generate_text").post("/", json={"modelId": model, "prompt": "hi", **extra}, headers=account.headers)


def _records(uid: str) -> list[dict[str, Any]]:
    from gateway import firebase

    snaps = firebase.db().collection("usage").document(uid).collection("records").stream()
    return sorted((s.to_dict() for s in snaps), key=lambda r: r["at"])


def _today(uid: str) -> dict[str, Any]:
    """Today's totals of ``uid``: the sum of the day's shard documents."""
    from gateway import userdays

    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    rows = [snap.to_dict() or {} for snap in userdays.rows(uid, day)]
    return userdays.total(rows) if rows else {}


@pytest.fixture
def member(emulators) -> Any:
    return emulators.sign_up("user")


def test_answers_are_recorded_with_real_counts(local, providers, member) -> None:
    body = _ask(local, member).get_json()
    [record] = _records(member.uid)
    assert record == {
        **record,
        "uid": member.uid, "modelId": "openai-chat", "provider": "openai", "route": "generate_text", "status": "ok",
        "promptTokens": body["usage"]["promptTokens"], "completionTokens": 5, "images": 0, "cost": pytest.approx(body["cost"]["total"]),
    }
    assert record["latencyMs"] > 0
    today = _today(member.uid)
    assert today["requests"] == 1 and today["totalTokens"] == body["usage"]["totalTokens"] and today["errors"] == 0


@pytest.mark.parametrize("route", ["generate_text", "openai"])
def test_streams_are_recorded_when_they_end(local, providers, member, route: str) -> None:
    if route == "generate_text":
        response = _ask(local, member, model="anthropic-chat", stream=True)
    else:
        response = local("openai").post(
            "/v1/chat/completions", json={"model": "anthropic-chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]}, headers=member.headers
        )
    response.get_data()
    [record] = _records(member.uid)
    assert record["route"] == route and record["status"] == "ok"
    assert record["completionTokens"] == 5 and record["promptTokens"] > 0


def test_failures_are_recorded(local, providers, member) -> None:
    providers["gemini"].state["faults"] = [{"status": 500}] * 3
    assert _ask(local, member, model="gemini-chat").status_code == 502
    providers["gemini"].state["faults"] = [{"break_after": 2}]
    _ask(local, member, model="gemini-chat", stream=True).get_data()
    records = _records(member.uid)
    assert [(r["status"], r["errorCode"]) for r in records] == [("error", "PROVIDER_ERROR"), ("error", "PROVIDER_ERROR")]
    assert _today(member.uid)["errors"] == 2


def test_images_are_recorded(local, providers, member) -> None:
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("hf-image").set(
        {"name": "flux", "provider": "huggingface", "type": "image", "pricing": {"perImage": 0.01}, "config": {"width": 256, "height": 256}}
    )
    registry().invalidate()
    response = local("generate_image").post("/", json={"modelId": "hf-image", "prompt": "fox", "numImages": 2}, headers=member.headers)
    assert response.status_code == 200
    [record] = _records(member.uid)
    assert record["route"] == "generate_image" and record["images"] == 2 and record["cost"] == pytest.approx(0.02)
    assert record["promptTokens"] is None


def test_usage_shows_the_callers_quota_and_todays_use(local, providers, member, accounts) -> None:
    from gateway import auth, firebase

    firebase.db().collection("users").document(member.uid).set({"quota": {"dailyTokens": 5000}})
    auth.forget(member.uid)
    tokens = _ask(local, member).get_json()["usage"]["totalTokens"]
    report = local("usage").get("/", headers=member.headers).get_json()
    midnight = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    from gateway import budgets

    leased_tokens, leased_cost = budgets.leased(member.uid)  # held ahead by this instance for the user's next requests
    assert report["quota"] == {
        "dailyTokens": 5000, "dailyCostUsd": None, "usedTokens": tokens, "usedCostUsd": pytest.approx(report["totals"]["cost"]),
        "reservedTokens": leased_tokens, "reservedCostUsd": pytest.approx(leased_cost), "estimatedTokens": 0, "resetAt": midnight.isoformat(),
    }
    # Today outside the asked range still counts; an admin reading someone else's usage gets no quota.
    past = local("usage").get("/", query_string={"from": "2020-01-01", "to": "2020-01-02"}, headers=member.headers).get_json()
    assert past["quota"]["usedTokens"] == tokens
    other = local("usage").get("/", query_string={"uid": member.uid}, headers=accounts["admin"].headers).get_json()
    assert other["quota"] is None and other["totals"]["totalTokens"] == tokens


def test_role_cost_quota(local, providers, member) -> None:
    from gateway import firebase, limits

    # One request reserves (18 prompt + 64 completion tokens at $1/$2 per 1M) $0.000146: one fits, not two.
    firebase.db().collection("config").document("limits").set({"quotas": {"user": {"dailyCostUsd": 0.00015}}})
    limits.forget()
    assert _ask(local, member).status_code == 200
    assert _ask(local, member).get_json()["error"]["details"]["quota"] == "dailyCostUsd"


def test_usage_function_for_users_and_admins(local, providers, member, accounts) -> None:
    for _ in range(3):
        _ask(local, member)
    _ask(local, member, model="ollama-chat")
    mine = local("usage").get("/", query_string={"limit": 2}, headers=member.headers).get_json()
    assert mine["uid"] == member.uid and mine["totals"]["requests"] == 4
    assert mine["days"][-1]["requests"] == 4 and len(mine["records"]) == 2 and mine["nextPageToken"]
    page_two = local("usage").get("/", query_string={"limit": 2, "pageToken": mine["nextPageToken"]}, headers=member.headers).get_json()
    assert len(page_two["records"]) == 2 and page_two["nextPageToken"] is None
    assert {r["id"] for r in mine["records"]}.isdisjoint({r["id"] for r in page_two["records"]})

    assert local("usage").get("/", query_string={"uid": accounts["admin"].uid}, headers=member.headers).status_code == 403
    assert local("usage").get("/models", headers=member.headers).status_code == 403
    theirs = local("usage").get("/", query_string={"uid": member.uid}, headers=accounts["admin"].headers).get_json()
    assert theirs["totals"]["requests"] == 4
    per_model = local("usage").get("/models", headers=accounts["admin"].headers).get_json()
    counts = {m["modelId"]: m["requests"] for m in per_model["models"]}
    assert counts["openai-chat"] >= 3 and counts["ollama-chat"] >= 1

    bad = local("usage").get("/", query_string={"from": "2026-02-30"}, headers=member.headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["message"].startswith("from:")
    backwards = local("usage").get("/", query_string={"from": "2026-05-02", "to": "2026-05-01"}, headers=member.headers)
    assert backwards.status_code == 400


def test_the_records_view_answers_the_same_pages_alone(local, providers, member, accounts) -> None:
    """``view=records`` is a page turn's answer: the records and the next token only, page for page as the full answer."""
    from gateway import answers

    for _ in range(5):
        _ask(local, member)
    usage = local("usage")
    full, alone, token_full, token_alone = [], [], None, None
    while True:
        query = {"limit": 2, **({"pageToken": token_full} if token_full else {})}
        page = usage.get("/", query_string=query, headers=member.headers).get_json()
        records = usage.get("/", query_string={**query, "view": "records", **({"pageToken": token_alone} if token_alone else {})}, headers=member.headers)
        assert records.status_code == 200, records.get_json()
        answer = records.get_json()
        assert set(answer) == {"uid", "from", "to", "records", "nextPageToken"}  # no totals, days or quota
        answers.UsageRecordsPage.model_validate(answer)  # the shape docs/openapi.json and the web types say
        assert (answer["uid"], answer["from"], answer["to"]) == (member.uid, page["from"], page["to"])
        full.append([r["id"] for r in page["records"]])
        alone.append([r["id"] for r in answer["records"]])
        assert answer["records"] == page["records"]
        token_full, token_alone = page["nextPageToken"], answer["nextPageToken"]
        if not token_full:
            break
    assert full == alone and [len(p) for p in full] == [2, 2, 1] and token_alone is None
    # An admin pages another user's records the same way; the full view is the default and may be asked by name.
    theirs = usage.get("/", query_string={"uid": member.uid, "view": "records", "limit": 2}, headers=accounts["admin"].headers).get_json()
    assert [r["id"] for r in theirs["records"]] == full[0]
    named = usage.get("/", query_string={"view": "full", "limit": 2}, headers=member.headers).get_json()
    assert named["totals"]["requests"] == 5 and [r["id"] for r in named["records"]] == full[0]


@pytest.mark.parametrize("view", ["totals", "RECORDS", ""])
def test_an_unknown_view_is_a_400_naming_view(local, accounts, view: str) -> None:
    response = local("usage").get("/", query_string={"view": view}, headers=accounts["user"].headers)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["details"]["fields"][0]["field"] == "view" and error["message"] == "view: Input should be 'full' or 'records'", error


def test_a_query_parameter_given_twice_is_a_400_naming_it(local, accounts) -> None:
    """Found by the fuzz run: ``limit=9&limit=b8`` answered 200 with the first value; which one counts would be a guess."""
    response = local("usage").get("/?view=records&limit=9&limit=b8", headers=accounts["user"].headers)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["details"]["fields"][0]["field"] == "limit" and error["message"] == "limit: given more than once", error


@pytest.mark.parametrize("to", ["0001-01-01", "9999-12-31"])
def test_a_range_at_the_ends_of_the_calendar_is_a_400(local, accounts, to: str) -> None:
    """Found by the fuzz run: ``to=0001-01-01`` was a 500 (the default 30-day range started before year 1)."""
    response = local("usage").get("/", query_string={"to": to}, headers=accounts["user"].headers)
    assert response.status_code == 400 and response.get_json()["error"]["details"]["fields"][0]["field"] == "to"


@pytest.mark.parametrize("uid", ["a/b", "__x__", ".", ".."])
def test_a_uid_that_cannot_name_a_document_is_a_400(local, accounts, uid: str) -> None:
    """Found by the fuzz run: ``uid=a/b`` was a 500 (Firestore refused the document path)."""
    response = local("usage").get("/", query_string={"uid": uid}, headers=accounts["admin"].headers)
    assert response.status_code == 400 and response.get_json()["error"]["details"]["fields"][0]["field"] == "uid"


def test_model_totals_are_sharded_and_summed(local, providers, member, accounts) -> None:
    """Per-model totals land on many shard documents (no hot document); /usage/models sums them."""
    from gateway import firebase

    for _ in range(8):
        assert _ask(local, member).status_code == 200
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    shards = list(firebase.db().collection("usageModels").document("openai-chat").collection("modelDays").stream())
    assert len(shards) > 1, "every request wrote the same document"
    assert all(s.id.startswith(f"{day}-") and s.to_dict()["date"] == day for s in shards)
    assert sum(s.to_dict()["requests"] for s in shards) == 8
    per_model = local("usage").get("/models", headers=accounts["admin"].headers).get_json()
    assert {m["modelId"]: m["requests"] for m in per_model["models"]}["openai-chat"] == 8


def test_a_retried_commit_counts_once(local, providers, member) -> None:
    """A commit retried after it had landed (a lost answer) fails whole: the record and totals count once."""
    from gateway import usage

    entry = usage.Entry(uid=member.uid, route="generate_text", model_id="openai-chat", provider="openai", status="ok",
                        latency_ms=1.0, prompt_tokens=3, completion_tokens=4, cost=0.5)
    usage.record(entry)
    usage.record(entry)
    assert len(_records(member.uid)) == 1
    today = _today(member.uid)
    assert today["requests"] == 1 and today["totalTokens"] == 7 and today["cost"] == 0.5


def test_what_the_client_received_survives_a_killed_instance(stack, providers, member) -> None:
    """Answers read in full, then the instance is killed without warning: every answer is in the ledger."""
    import httpx

    from conftest import Worker

    with Worker(stack, "generate_text") as worker:
        for i in range(6):
            stream = i % 2 == 1
            response = httpx.post(worker.url, json={"modelId": "openai-chat", "prompt": "hi", "stream": stream}, headers=member.headers, timeout=30)
            assert response.status_code == 200
            assert response.text.endswith("data: [DONE]\n\n") if stream else response.json()["usage"]["completionTokens"] == 5
        worker.kill()
    records = _records(member.uid)
    assert len(records) == 6 and {r["status"] for r in records} == {"ok"}
    assert all(r["completionTokens"] == 5 for r in records)
    assert _today(member.uid)["requests"] == 6


def test_closed_days_are_compacted_on_first_read(local, providers, accounts) -> None:
    """Shards of a day no request can still land on are summed into one document, once; totals never change."""
    from gateway import firebase

    day = (datetime.now(timezone.utc) - timedelta(days=5)).strftime("%Y-%m-%d")
    days = firebase.db().collection("usageModels").document("old-model").collection("modelDays")
    for shard in range(3):
        days.document(f"{day}-{shard}").set({"modelId": "old-model", "date": day, "shard": shard, "requests": 2, "errors": 0,
                                             "promptTokens": 10, "completionTokens": 5, "totalTokens": 15, "images": 0, "cost": 0.25})
    query = {"from": day, "to": day}
    reports = [local("usage").get("/models", query_string=query, headers=accounts["admin"].headers).get_json() for _ in range(2)]
    for report in reports:
        [model] = report["models"]
        assert model["modelId"] == "old-model" and model["requests"] == 6 and model["totalTokens"] == 45 and model["cost"] == 0.75
    assert [snap.id for snap in days.stream()] == [day]
