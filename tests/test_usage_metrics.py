"""GET /usage/metrics (the dashboards' numbers), latency histograms, per-user per-model days, and what they cost in writes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest


@pytest.fixture
def member(emulators) -> Any:
    return emulators.sign_up("user")


def _ask(local, account, model: str = "openai-chat", **extra: Any) -> Any:
    return local("generate_text").post("/", json={"modelId": model, "prompt": "hi", **extra}, headers=account.headers)


def _book(uid: str, model: str | None, provider: str | None, route: str, latency_ms: float, status: str = "ok", **counts: Any) -> None:
    """One ledger entry with a known latency, committed as a request's would be."""
    from gateway import usage

    usage.record(usage.Entry(uid=uid, route=route, model_id=model, provider=provider, status=status, latency_ms=latency_ms, **counts))


def _metrics(local, account, **query: str) -> Any:
    return local("usage").get("/metrics", query_string=query, headers=account.headers)


def _row(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    [row] = [r for r in rows if r["key"] == key]
    return row


def test_metrics_by_model_provider_and_route(local, providers, member, accounts) -> None:
    """Counts, errors, tokens and cost per model, provider and route; percentiles in the bucket of the true latency."""
    from gateway import answers, metrics

    for latency in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 1000.0):  # p50 ~50, p95/p99 in 1000's bucket
        _book(member.uid, "openai-chat", "openai", "generate_text", latency, prompt_tokens=10, completion_tokens=5, cost=0.001)
    _book(member.uid, "openai-chat", "openai", "openai", 5.0, prompt_tokens=1, completion_tokens=2, cost=0.5)
    _book(member.uid, "gemini-chat", "gemini", "generate_text", 200.0, status="error", error_code="PROVIDER_ERROR")
    _book(member.uid, "m.v1", "openai", "openai", 3.0, prompt_tokens=4, completion_tokens=4, cost=0.25)  # a dot in the model id
    response = _metrics(local, accounts["admin"])
    assert response.status_code == 200, response.get_data(as_text=True)
    report = response.get_json()
    answers.MetricsReport.model_validate(report)
    today = datetime.now(timezone.utc).date()
    assert report["to"] == today.isoformat() and report["from"] == (today - timedelta(days=29)).isoformat()
    assert len(report["days"]) == 30 and report["days"][0] == report["from"] and report["days"][-1] == report["to"]

    totals = report["totals"]
    assert {k: totals[k] for k in ("requests", "errors", "promptTokens", "completionTokens", "totalTokens")} == {
        "requests": 13, "errors": 1, "promptTokens": 105, "completionTokens": 56, "totalTokens": 161,
    }
    assert totals["cost"] == pytest.approx(0.76) and totals["latencyMs"]["count"] == 13

    openai = _row(report["byModel"], "openai-chat")
    assert openai["provider"] == "openai" and openai["requests"] == 11 and openai["errors"] == 0
    assert openai["promptTokens"] == 101 and openai["totalTokens"] == 153 and openai["cost"] == pytest.approx(0.51)
    assert openai["daily"] == [{"date": today.isoformat(), "requests": 11, "errors": 0, "totalTokens": 153, "cost": pytest.approx(0.51)}]
    latency = openai["latencyMs"]
    assert latency["count"] == 11
    assert metrics.bucket(latency["p50"]) == metrics.bucket(50.0), latency  # the 6th of 11 latencies is 50 ms
    assert metrics.bucket(latency["p95"]) == metrics.bucket(1000.0) == metrics.bucket(latency["p99"]), latency
    assert report["byModel"][0]["key"] == "openai-chat"  # busiest first
    gemini = _row(report["byModel"], "gemini-chat")
    assert (gemini["requests"], gemini["errors"], gemini["totalTokens"], gemini["provider"]) == (1, 1, 0, "gemini")
    assert metrics.bucket(gemini["latencyMs"]["p50"]) == metrics.bucket(200.0)
    assert _row(report["byModel"], "m.v1")["totalTokens"] == 8

    by_provider = {row["key"]: (row["requests"], row["errors"], row["totalTokens"]) for row in report["byProvider"]}
    assert by_provider == {"openai": (12, 0, 161), "gemini": (1, 1, 0)}
    by_route = {row["key"]: (row["requests"], row["errors"], row["totalTokens"], round(row["cost"], 6)) for row in report["byRoute"]}
    assert by_route == {"generate_text": (11, 1, 150, 0.01), "openai": (2, 0, 11, 0.75)}
    route = _row(report["byRoute"], "openai")
    assert route["latencyMs"]["count"] == 2 and metrics.bucket(route["latencyMs"]["p99"]) == metrics.bucket(5.0)
    assert report["documentsRead"] >= 3  # today's shards of three models, nothing else

    empty = _metrics(local, accounts["admin"], **{"from": "2020-01-01", "to": "2020-01-03"}).get_json()
    assert empty["days"] == ["2020-01-01", "2020-01-02", "2020-01-03"] and empty["byModel"] == [] and empty["byRoute"] == []
    assert empty["totals"]["latencyMs"] == {"p50": None, "p95": None, "p99": None, "count": 0} and empty["totals"]["requests"] == 0


def test_latencies_of_real_requests_land_in_their_buckets(local, providers, member, accounts) -> None:
    """Requests through the gateway to a provider that waits 300 ms: none of them is counted below 300 ms."""
    from gateway import firebase, metrics

    providers["openai"].state["latency"] = 0.3
    for _ in range(3):
        assert _ask(local, member).status_code == 200
    providers["gemini"].state["faults"] = [{"status": 500}] * 3
    assert _ask(local, member, model="gemini-chat").status_code == 502
    report = _metrics(local, accounts["admin"]).get_json()
    openai = _row(report["byModel"], "openai-chat")
    assert openai["requests"] == 3 and openai["latencyMs"]["count"] == 3
    assert openai["latencyMs"]["p50"] >= metrics.upper(metrics.bucket(300.0)) / metrics.STEP * 0.99  # in 300 ms's bucket or above
    assert _row(report["byModel"], "gemini-chat")["errors"] == 1
    assert {row["key"]: row["errors"] for row in report["byRoute"]} == {"generate_text": 1}
    shards = [s.to_dict() for s in firebase.db().collection("usageModels").document("openai-chat").collection("modelDays").stream()]
    counted = metrics.total(s.get("latency") for s in shards)
    assert sum(counted.values()) == 3 and all(metrics.upper(key) >= 300 for key in counted), counted


def test_closed_days_keep_their_histograms_when_compacted(local, providers, accounts) -> None:
    """A closed day's shards are summed into one document with its histogram, provider and routes; metrics never change."""
    from gateway import firebase, metrics

    day = (datetime.now(timezone.utc) - timedelta(days=5)).strftime("%Y-%m-%d")
    days = firebase.db().collection("usageModels").document("old-model").collection("modelDays")
    for shard in range(3):
        latency = {metrics.bucket(10.0 * (shard + 1)): 2}
        days.document(f"{day}-{shard}").set({
            "modelId": "old-model", "provider": "ollama", "date": day, "shard": shard, "requests": 2, "errors": 1, "promptTokens": 10,
            "completionTokens": 5, "totalTokens": 15, "images": 0, "cost": 0.25, "latency": latency,
            "routes": {"openai": {"requests": 2, "errors": 1, "promptTokens": 10, "completionTokens": 5, "totalTokens": 15, "cost": 0.25, "latency": latency}},
        })
    query = {"from": day, "to": day}
    first, second = (_metrics(local, accounts["admin"], **query).get_json() for _ in range(2))
    assert first["documentsRead"] == 3 and second["documentsRead"] == 1
    for report in (first, second):
        [model] = report["byModel"]
        assert (model["key"], model["provider"], model["requests"], model["errors"], model["totalTokens"]) == ("old-model", "ollama", 6, 3, 45)
        assert model["latencyMs"]["count"] == 6 and metrics.bucket(model["latencyMs"]["p50"]) == metrics.bucket(20.0)
        [route] = report["byRoute"]
        assert route["key"] == "openai" and route["requests"] == 6 and route["latencyMs"] == model["latencyMs"]
        assert [p["key"] for p in report["byProvider"]] == ["ollama"]
    assert first["byModel"] == second["byModel"] and first["byRoute"] == second["byRoute"]
    [compacted] = [snap.to_dict() for snap in days.stream()]
    assert compacted["compacted"] and compacted["latency"] == {metrics.bucket(10.0): 2, metrics.bucket(20.0): 2, metrics.bucket(30.0): 2}
    assert compacted["routes"]["openai"]["requests"] == 6 and sum(compacted["routes"]["openai"]["latency"].values()) == 6
    per_model = local("usage").get("/models", query_string=query, headers=accounts["admin"].headers).get_json()
    assert per_model["models"][0]["requests"] == 6


def test_a_users_days_break_down_by_model(local, providers, member, accounts) -> None:
    """GET /usage days carry per-model totals, summed over the day's shards, with and without a budget (settle path)."""
    from gateway import auth, firebase

    answers = [_ask(local, member) for _ in range(4)] + [_ask(local, member, model="anthropic-chat")]
    assert {a.status_code for a in answers} == {200}
    _book(member.uid, "m.v1", "openai", "openai", 3.0, prompt_tokens=4, completion_tokens=4, cost=0.25)
    [day] = local("usage").get("/", headers=member.headers).get_json()["days"]
    tokens = [a.get_json()["usage"]["totalTokens"] for a in answers]
    assert day["models"] == {
        "openai-chat": {"requests": 4, "totalTokens": sum(tokens[:4]), "cost": pytest.approx(sum(a.get_json()["cost"]["total"] for a in answers[:4]))},
        "anthropic-chat": {"requests": 1, "totalTokens": tokens[4], "cost": pytest.approx(answers[4].get_json()["cost"]["total"])},
        "m.v1": {"requests": 1, "totalTokens": 8, "cost": 0.25},
    }
    budgeted = accounts["user"]
    firebase.db().collection("users").document(budgeted.uid).set({"quota": {"dailyTokens": 100000}})
    auth.forget(budgeted.uid)
    assert _ask(local, budgeted, model="anthropic-chat").status_code == 200
    [day] = local("usage").get("/", headers=budgeted.headers).get_json()["days"]
    assert day["models"]["anthropic-chat"]["requests"] == 1 and day["requests"] == 1


def test_metrics_are_for_admins_and_check_their_dates(local, accounts) -> None:
    assert _metrics(local, accounts["user"]).status_code == 403
    assert _metrics(local, accounts["viewer"]).status_code == 403
    for query, field in (({"from": "2026-02-30"}, "from"), ({"to": "nope"}, "to"), ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
                         ({"from": "2020-01-01", "to": "2026-01-01"}, "from")):
        response = _metrics(local, accounts["admin"], **query)
        assert response.status_code == 400, query
        error = response.get_json()["error"]
        assert error["message"].startswith(f"{field}:") or error["details"]["fields"][0]["field"] == field, error


def _writes_per_request(local, account, monkeypatch, **extra: Any) -> list[int]:
    """The writes of every batch committed while one request is answered (and its settle flushed)."""
    from gateway import firebase

    db = firebase.db()
    commits: list[int] = []
    real_batch = db.batch

    def counting_batch() -> Any:
        batch = real_batch()
        commit = batch.commit

        def counted(*args: Any, **kwargs: Any) -> Any:
            commits.append(len(batch._write_pbs))
            return commit(*args, **kwargs)

        batch.commit = counted
        return batch

    monkeypatch.setattr(db, "batch", counting_batch)
    assert _ask(local, account, **extra).status_code == 200
    monkeypatch.undo()
    return commits


def test_a_request_writes_as_many_documents_as_before(local, providers, member, accounts) -> None:
    """The breakdowns are more fields of the ledger's writes, not more writes (batches and their writes as before)."""
    from gateway import auth, firebase

    with pytest.MonkeyPatch.context() as monkeypatch:
        plain = _writes_per_request(local, member, monkeypatch)
    firebase.db().collection("users").document(member.uid).set({"quota": {"dailyTokens": 100000}})
    auth.forget(member.uid)
    with pytest.MonkeyPatch.context() as monkeypatch:
        budgeted = _writes_per_request(local, member, monkeypatch)
    # Measured on the code before the breakdowns, the same: the reservation, then the settle (the record, the user's day,
    # the project cap's shard, the model's day); under a user budget a lease's batch (2) first.
    assert (plain, budgeted) == ([4, 4], [2, 4, 4])


def test_a_30_day_window_reads_one_document_per_model_and_closed_day(local, providers, accounts) -> None:
    """Three models booked every day of 30, five shards a day: the first report compacts the 28 closed days, later ones
    read 28 documents per model plus the shards of today and yesterday."""
    from gateway import firebase, metrics

    today = datetime.now(timezone.utc).date()
    batch = firebase.db().batch()
    for model in ("a-chat", "b-chat", "c-chat"):
        days = firebase.db().collection("usageModels").document(model).collection("modelDays")
        for back in range(30):
            day = (today - timedelta(days=back)).isoformat()
            for shard in range(5):
                batch.set(days.document(f"{day}-{shard}"), {
                    "modelId": model, "provider": "openai", "date": day, "shard": shard, "requests": 1, "errors": 0, "promptTokens": 1,
                    "completionTokens": 1, "totalTokens": 2, "cost": 0.001, "latency": {metrics.bucket(100.0): 1},
                    "routes": {"generate_text": {"requests": 1, "errors": 0, "promptTokens": 1, "completionTokens": 1, "totalTokens": 2,
                                                 "cost": 0.001, "latency": {metrics.bucket(100.0): 1}}},
                })
        batch.commit()
        batch = firebase.db().batch()
    first, second = (_metrics(local, accounts["admin"]).get_json() for _ in range(2))
    assert first["documentsRead"] == 3 * 30 * 5
    assert second["documentsRead"] == 3 * (28 + 2 * 5)
    for report in (first, second):
        assert report["totals"]["requests"] == 3 * 30 * 5 and report["totals"]["latencyMs"]["count"] == 450
        assert [len(m["daily"]) for m in report["byModel"]] == [30, 30, 30]
        assert _row(report["byRoute"], "generate_text")["requests"] == 450
    assert first["byModel"] == second["byModel"]
