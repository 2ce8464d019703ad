"""Organisation budgets on the real emulators: caps and quotas reserved like a user's budget, the ledger's org, GET /usage/org."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from test_budgets import LONG, _long_model, _set_limits, _settled

from conftest import Worker

ORG = "acme"
MODEL = "openai-chat"
"""A project-wide model shared with the organisation: what its members call."""


@pytest.fixture
def team(clean, emulators, accounts) -> dict[str, Any]:
    """Organisation ``acme`` made through the orgs API: an owner, an org admin, a member, a viewer; plus an outsider."""
    people = {name: emulators.sign_up("user") for name in ("owner", "orgadmin", "member", "viewer", "outsider")}
    people["admin"] = accounts["admin"]
    created = _orgs(people["admin"], "POST", "/", {"id": ORG, "name": "Acme", "ownerEmail": people["owner"].email,
                                                   "settings": {"sharedModels": [MODEL]}})  # what its members call
    assert created.status_code == 201, created.get_data(as_text=True)
    for name, role in (("orgadmin", "admin"), ("member", "member"), ("viewer", "viewer")):
        added = _orgs(people["owner"], "POST", f"/{ORG}/members", {"email": people[name].email, "role": role})
        assert added.status_code == 201, added.get_data(as_text=True)
    from gateway.registry import registry

    registry().invalidate()  # the organisation's shared models are read anew, not when the listener reports
    return people


_local: Any = None


@pytest.fixture(autouse=True)
def _in_process(local) -> None:
    global _local
    _local = local


def _orgs(account: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return _local("orgs").open(path, method=method, json=body, headers=account.headers)


def _settings(**settings: Any) -> None:
    """The organisation's settings, as a project admin stores them (the orgs API's own write path)."""
    from gateway import firebase, orgs
    from gateway.registry import registry

    firebase.db().collection("orgs").document(ORG).update({"settings": {"defaultQuotas": {}, "sharedModels": [MODEL], **settings}})
    orgs.forget(ORG)
    registry().invalidate()  # the shared models are read anew, not when the listener reports


def _ask(account: Any, org: str | None = ORG, prompt: str = "hi") -> Any:
    headers = {**account.headers, **({"X-Org-Id": org} if org else {})}
    return _local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": prompt}, headers=headers)


def _org_usage(account: Any, org: str | None = ORG) -> Any:
    return _local("usage").get("/org", headers={**account.headers, **({"X-Org-Id": org} if org else {})})


def _error(response: Any) -> dict[str, Any]:
    return response.get_json()["error"]


def _org_spent(kind: str = "usageDays") -> tuple[float, float]:
    from gateway import firebase

    docs = [s.to_dict() or {} for s in firebase.db().collection("orgs").document(ORG).collection(kind).stream()]
    return sum(d.get("cost") or 0.0 for d in docs), sum(d.get("reservedCost") or 0.0 for d in docs)


# --- settings and overrides ---


@pytest.mark.parametrize("field", ["dailyCostUsd", "monthlyCostUsd", "sharedModels"])
def test_org_managers_may_not_change_caps_or_shared_models(providers, team, field: str) -> None:
    value = [] if field == "sharedModels" else 3.0  # the team fixture shares openai-chat: a change either way
    for who in ("owner", "orgadmin"):
        refused = _orgs(team[who], "PATCH", f"/{ORG}", {"settings": {field: value}})
        assert refused.status_code == 403, refused.get_data(as_text=True)
        assert _error(refused)["details"]["fields"][0]["field"] == f"settings.{field}"
    allowed = _orgs(team["admin"], "PATCH", f"/{ORG}", {"settings": {field: value}})
    assert allowed.status_code == 200 and allowed.get_json()["settings"][field] == value


def test_org_managers_change_name_and_default_quotas_and_keep_the_caps(providers, team) -> None:
    assert _orgs(team["admin"], "PATCH", f"/{ORG}", {"settings": {"dailyCostUsd": 5, "sharedModels": ["openai-chat"]}}).status_code == 200
    changed = _orgs(team["orgadmin"], "PATCH", f"/{ORG}", {"name": "Acme 2", "settings": {"defaultQuotas": {"member": {"dailyTokens": 9}}}})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    body = changed.get_json()
    assert body["name"] == "Acme 2" and body["settings"]["defaultQuotas"]["member"]["dailyTokens"] == 9
    assert body["settings"]["dailyCostUsd"] == 5 and body["settings"]["sharedModels"] == ["openai-chat"]  # left out: kept
    same = _orgs(team["owner"], "PATCH", f"/{ORG}", {"settings": {"dailyCostUsd": 5, "defaultQuotas": {}}})  # unchanged: allowed
    assert same.status_code == 200


def test_member_quota_override_is_set_by_managers_shown_and_cleared(providers, team) -> None:
    uid = team["member"].uid
    quota = {"dailyTokens": 500, "dailyCostUsd": 0.25}
    assert _orgs(team["member"], "PATCH", f"/{ORG}/members/{uid}", {"quota": quota}).status_code == 403
    set_ = _orgs(team["orgadmin"], "PATCH", f"/{ORG}/members/{uid}", {"quota": quota})
    assert set_.status_code == 200, set_.get_data(as_text=True)
    assert set_.get_json()["quota"] == quota and set_.get_json()["role"] == "member"
    listed = {m["uid"]: m for m in _orgs(team["member"], "GET", f"/{ORG}/members").get_json()["members"]}
    assert listed[uid]["quota"] == quota
    assert _orgs(team["member"], "GET", f"/{ORG}").get_json()["members"][[m["uid"] for m in listed.values()].index(uid)]["quota"] == quota
    cleared = _orgs(team["owner"], "PATCH", f"/{ORG}/members/{uid}", {"quota": None})
    assert cleared.status_code == 200 and cleared.get_json()["quota"] is None
    owner = team["owner"].uid  # an org admin may not change an owner, quota included; an owner may
    refused = _orgs(team["orgadmin"], "PATCH", f"/{ORG}/members/{owner}", {"quota": quota})
    assert refused.status_code == 403 and "owner's quota" in _error(refused)["message"]
    assert _orgs(team["owner"], "PATCH", f"/{ORG}/members/{owner}", {"quota": quota}).get_json()["role"] == "owner"
    empty = _orgs(team["owner"], "PATCH", f"/{ORG}/members/{uid}", {})
    assert empty.status_code == 400
    bad = _orgs(team["owner"], "PATCH", f"/{ORG}/members/{uid}", {"quota": {"dailyTokens": -1}})
    assert bad.status_code == 400 and "quota.dailyTokens" in bad.get_data(as_text=True)


# --- enforcement ---


def test_the_org_daily_cap_refuses_once_spent(providers, team) -> None:
    _long_model()
    providers["openai"].state["reply"] = LONG  # each request books about what it reserves (~$0.002)
    cap = 0.01
    _settings(dailyCostUsd=cap)
    statuses = []
    for _ in range(12):
        response = _ask(team["member"])
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    error = _error(response)
    assert error["code"] == "QUOTA_EXCEEDED" and error["details"]["quota"] == "orgDailyCostUsd" and error["details"]["org"] == ORG
    assert int(response.headers["Retry-After"]) > 0 and "organisation 'acme'" in error["message"]
    spent, reserved = _org_spent()
    assert spent <= cap and reserved == pytest.approx(0, abs=1e-9)
    # The same user outside the organisation is not held by it.
    assert _ask(team["member"], org=None).status_code == 200


def test_the_org_monthly_cap_counts_the_whole_month(providers, team) -> None:
    from gateway import firebase, orgbudgets, settings

    month = datetime.now(timezone.utc).strftime("%Y-%m")
    shards = settings.PROJECT_CAP_SHARDS.value
    months = firebase.db().collection("orgs").document(ORG).collection("usageMonths")
    for shard in range(shards):  # spent earlier this month, on every shard
        months.document(f"{month}-{shard}").set({"month": month, "shard": shard, "cost": 0.1 / shards, "reservedCost": 0.0})
    _settings(dailyCostUsd=5.0, monthlyCostUsd=0.1)
    refused = _ask(team["member"])
    assert refused.status_code == 429, refused.get_data(as_text=True)
    assert _error(refused)["details"]["quota"] == "orgMonthlyCostUsd"
    reset = datetime.fromisoformat(_error(refused)["details"]["resetAt"])
    assert reset == orgbudgets.reset_month(datetime.now(timezone.utc)) and reset.day == 1
    _settings(dailyCostUsd=5.0, monthlyCostUsd=1.0)
    assert _ask(team["member"]).status_code == 200
    spent, _ = _org_spent("usageMonths")
    assert spent > 0.1


def test_the_role_default_quota_applies_and_a_member_override_beats_it(providers, team) -> None:
    _settings(defaultQuotas={"member": {"dailyTokens": 20}, "admin": {"dailyTokens": 100_000}})
    refused = _ask(team["member"])  # "hi" may need up to ~80 tokens (64 of completion)
    assert refused.status_code == 429, refused.get_data(as_text=True)
    error = _error(refused)
    assert error["details"]["quota"] == "memberDailyTokens" and error["details"]["limit"] == 20 and "Retry-After" in refused.headers
    assert _ask(team["orgadmin"]).status_code == 200  # another role's default
    assert _ask(team["member"], org=None).status_code == 200  # outside the organisation: the user's own budgets only
    assert _orgs(team["owner"], "PATCH", f"/{ORG}/members/{team['member'].uid}", {"quota": {"dailyTokens": 100_000}}).status_code == 200
    assert _ask(team["member"]).status_code == 200
    # The member's cost quota counts only what they spent in the organisation.
    assert _orgs(team["owner"], "PATCH", f"/{ORG}/members/{team['member'].uid}", {"quota": {"dailyCostUsd": 0}}).status_code == 200
    refused = _ask(team["member"])
    assert refused.status_code == 429 and _error(refused)["details"]["quota"] == "memberDailyCostUsd"


def test_concurrent_requests_in_an_org_never_overspend_its_cap(stack, providers, team) -> None:
    _long_model()
    providers["openai"].state["reply"] = LONG
    cap = 0.01  # each request reserves ~$0.002: about five fit
    _set_limits(quotas={})
    _settings(dailyCostUsd=cap)
    users = [team[name] for name in ("owner", "orgadmin", "member", "viewer")]
    with Worker(stack, "generate_text") as worker, httpx.Client(timeout=60) as client:
        def ask(i: int) -> int:
            account = users[i % len(users)]
            headers = {**account.headers, "X-Org-Id": ORG}
            return client.post(worker.url, json={"modelId": "openai-chat", "prompt": "hi"}, headers=headers).status_code

        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(ask, range(30)))
    for account in users:
        _settled(account.uid)
    spent, reserved = _org_spent()
    print(f"\norg cap ${cap}: {statuses.count(200)} of 30 served, booked ${spent:.6f}")
    assert statuses.count(200) >= 1 and statuses.count(429) >= 1 and set(statuses) <= {200, 429}, statuses
    assert spent <= cap and reserved == pytest.approx(0, abs=1e-9)


# --- ledger and GET /usage/org ---


def test_records_carry_the_org_and_usage_org_adds_them_up(providers, team) -> None:
    for account in (team["member"], team["member"], team["orgadmin"]):
        assert _ask(account).status_code == 200
    assert _ask(team["member"], org=None).status_code == 200  # not the organisation's
    member = _settled(team["member"].uid, 3)
    orgadmin = _settled(team["orgadmin"].uid, 1)
    assert [r["org"] for r in member] == [ORG, ORG, None] and orgadmin[0]["org"] == ORG
    in_org = [r for r in member + orgadmin if r["org"] == ORG]

    response = _org_usage(team["owner"])
    assert response.status_code == 200, response.get_data(as_text=True)
    report = response.get_json()
    from gateway import answers

    answers.OrgUsageReport.model_validate(report)
    today = datetime.now(timezone.utc).date().isoformat()
    tokens = sum(r["promptTokens"] + r["completionTokens"] for r in in_org)
    cost = sum(r["cost"] for r in in_org)
    assert report["org"] == ORG and report["to"] == today and len(report["days"]) == 30
    assert report["days"][-1] == {"date": today, "requests": 3, "tokens": tokens, "costUsd": pytest.approx(cost)}
    assert report["byModel"] == [{"modelId": "openai-chat", "requests": 3, "tokens": tokens, "costUsd": pytest.approx(cost)}]
    by_member = {row["uid"]: row["requests"] for row in report["byMember"]}
    assert by_member == {team["member"].uid: 2, team["orgadmin"].uid: 1}
    budget = report["budget"]
    assert budget["spentTodayUsd"] == pytest.approx(cost) and budget["spentMonthUsd"] == pytest.approx(cost)
    assert budget["reservedTodayUsd"] == pytest.approx(0, abs=1e-9) and budget["dailyCostUsd"] is None
    assert report["documentsRead"] <= 2 * 3  # a day shard and a month shard per request at most, not the ledger


@pytest.mark.parametrize(("who", "status"), [("admin", 200), ("owner", 200), ("orgadmin", 200), ("member", 403), ("viewer", 403), ("outsider", 403)])
def test_usage_org_is_for_org_managers_and_project_admins(providers, team, who: str, status: int) -> None:
    response = _org_usage(team[who])
    assert response.status_code == status, response.get_data(as_text=True)
    no_org = _org_usage(team[who], org=None)
    assert no_org.status_code == 400 and _error(no_org)["details"]["fields"][0]["field"] == "X-Org-Id"


def _writes(monkeypatch, account: Any, org: str | None) -> list[int]:
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
    assert _ask(account, org=org).status_code == 200
    monkeypatch.undo()
    return commits


def test_writes_per_request_in_an_org(providers, team) -> None:
    """No org: as before (tests/test_usage_metrics.py). In an org: its day and month shards, one write each when reserving
    (with both caps) and settling; the member's quota rides on the user's day documents the request writes anyway."""
    # Org requests first: a no-org request takes a lease, which an org request gives back first (one batch of 2 writes).
    _settings(dailyCostUsd=5.0, monthlyCostUsd=50.0)
    with pytest.MonkeyPatch.context() as monkeypatch:
        capped = _writes(monkeypatch, team["member"], ORG)
    _settings()
    with pytest.MonkeyPatch.context() as monkeypatch:
        uncapped = _writes(monkeypatch, team["member"], ORG)
    with pytest.MonkeyPatch.context() as monkeypatch:
        plain = _writes(monkeypatch, team["member"], None)
    print(f"\nwrites per request: no org {plain}, org with both caps {capped}, org without caps {uncapped}")
    assert plain == [4, 4]  # the reservation (rate count, record, user day, project shard), then the settle (record, user day,
    # project shard, model day), as tests/test_usage_metrics.py measures
    assert capped == [6, 6]  # reservation: rate count, record, user day, project shard + org day and month shards; settle the same
    assert uncapped == [4, 6]  # no cap to reserve on: the org's day and month totals are booked at the settle
