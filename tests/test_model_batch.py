"""``POST /models/batch`` on the real emulators (in-process): all or nothing, each operation audited, org-aware."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="module")
def people(emulators, accounts) -> dict[str, Any]:
    made = {name: emulators.sign_up("user", f"{name}-batch@test.example") for name in ("orgadmin", "member")}
    return {"admin": accounts["admin"], **made}


def _batch(local, account: Any, operations: list[dict[str, Any]], org: str | None = None) -> Any:
    headers = {**account.headers, **({"X-Org-Id": org} if org else {})}
    return local("models").post("/batch", json={"operations": operations}, headers=headers)


def _doc(model_id: str, org: str | None = None) -> dict[str, Any] | None:
    from gateway import firebase

    where = "models" if org is None else f"orgs/{org}/models"
    return firebase.db().collection(where).document(model_id).get().to_dict()


def _field(response: Any) -> str:
    error = response.get_json()["error"]
    return error["details"]["fields"][0]["field"] if "fields" in error["details"] else error["details"]["field"]


def test_a_batch_writes_every_operation_with_its_audit_record(local, providers, people) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import firebase

    ops = [
        {"op": "create", "model": {"id": "batch-a", "name": "a", "provider": "openai"}},
        {"op": "create", "model": {"id": "batch-b", "name": "b", "provider": "openai", "fallbacks": ["batch-a"]}},  # made by op 0
        {"op": "disable", "id": "ollama-chat"},
        {"op": "update", "id": "openai-chat", "patch": {"displayName": "Renamed", "fallbacks": ["batch-b"]}},
        {"op": "delete", "id": "gemini-chat"},
    ]
    done = _batch(local, people["admin"], ops)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json() == {"org": None, "results": [{"op": o["op"], "id": o.get("id") or o["model"]["id"]} for o in ops]}
    assert _doc("batch-b")["fallbacks"] == ["batch-a"] and _doc("ollama-chat")["enabled"] is False
    assert _doc("openai-chat")["displayName"] == "Renamed" and _doc("gemini-chat") is None
    audits = firebase.db().collection("audit")
    for model_id, actions in (("batch-a", ["create"]), ("batch-b", ["create"]), ("ollama-chat", ["update"]), ("openai-chat", ["update"]), ("gemini-chat", ["delete"])):
        # The console trigger audits the fixture's own writes (and a previous test's clean-up) too, late: the API's are counted.
        records = [r.to_dict() for r in audits.where(filter=FieldFilter("docId", "==", model_id)).stream() if r.get("via") == "api"]
        assert [r["action"] for r in records] == actions and records[0]["actor"] == people["admin"].uid
    listed = {m["id"]: m for m in local("models").get("/", headers=people["admin"].headers).get_json()["models"]}
    assert listed["ollama-chat"]["enabled"] is False and "batch-a" in listed  # this instance reads its own write


@pytest.mark.parametrize(
    ("operations", "status", "field"),
    [
        ([{"op": "disable", "id": "ollama-chat"}, {"op": "create", "model": {"id": "x1", "name": "x", "provider": "nope"}}], 400, "operations.1.model.provider"),
        ([{"op": "disable", "id": "ollama-chat"}, {"op": "update", "id": "missing-model", "patch": {"enabled": False}}], 404, "operations.1.id"),
        ([{"op": "disable", "id": "ollama-chat"}, {"op": "create", "model": {"id": "openai-chat", "name": "x", "provider": "openai"}}], 409, "operations.1.model.id"),
        ([{"op": "disable", "id": "ollama-chat"}, {"op": "update", "id": "openai-chat", "patch": {"config": {"temperature": 9}}}], 400, "operations.1.patch.config.temperature"),
        ([{"op": "disable", "id": "ollama-chat"}, {"op": "update", "id": "openai-chat", "patch": {"fallbacks": ["ghost"]}}], 400, "operations.1.patch.fallbacks"),
        ([{"op": "disable", "id": "ollama-chat"}, {"op": "rename", "id": "openai-chat"}], 400, "operations.1"),
        ([{"op": "disable", "id": "ollama-chat"}, {"op": "delete", "id": "ollama-chat"}, {"op": "enable", "id": "ollama-chat"}], 404, "operations.2.id"),
    ],
    ids=["unknown provider", "missing id", "taken id", "bad patch", "unknown fallback", "unknown op", "deleted before"],
)
def test_any_failure_names_the_operation_and_writes_nothing(local, providers, people, operations, status, field) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import firebase

    def api_records() -> int:  # the fixture's own writes are audited by the console trigger meanwhile: not counted
        return len(list(firebase.db().collection("audit").where(filter=FieldFilter("via", "==", "api")).stream()))

    before = api_records()
    refused = _batch(local, people["admin"], operations)
    assert refused.status_code == status, refused.get_data(as_text=True)
    assert _field(refused).startswith(field), refused.get_json()
    assert _doc("ollama-chat")["enabled"] is True and _doc("x1") is None  # operation 0 was not written
    assert api_records() == before


def test_limits_and_roles(local, providers, people) -> None:
    too_many = _batch(local, people["admin"], [{"op": "disable", "id": "ollama-chat"}] * 201)
    assert too_many.status_code == 400 and _field(too_many) == "operations"
    assert _batch(local, people["member"], [{"op": "disable", "id": "ollama-chat"}]).status_code == 403
    assert _batch(local, people["admin"], []).status_code == 400


def test_org_managers_batch_their_own_catalogue_only(local, providers, people) -> None:
    from gateway import audit, firebase, orgs

    db = firebase.db()
    db.collection("orgs").document("acme").set({"name": "Acme", "settings": {"sharedModels": ["openai-chat"]}})
    for name, role in (("orgadmin", "admin"), ("member", "member")):
        orgs.member_ref("acme", people[name].uid).set({"uid": people[name].uid, "role": role, "addedAt": audit.now()})
    orgs.forget()
    db.collection("orgs").document("acme").collection("providers").document("mine").set({"type": "ollama", "baseUrl": providers["ollama"].url})
    wrong = _batch(local, people["orgadmin"], [{"op": "create", "model": {"id": "o1", "name": "o", "provider": "openai"}}], "acme")
    assert wrong.status_code == 400 and _field(wrong) == "operations.0.model.provider"  # a project provider: not acme's
    made = _batch(local, people["orgadmin"], [{"op": "create", "model": {"id": "o1", "name": "o", "provider": "mine"}}], "acme")
    assert made.status_code == 200 and made.get_json()["org"] == "acme" and _doc("o1", "acme") is not None and _doc("o1") is None
    shared = _batch(local, people["orgadmin"], [{"op": "disable", "id": "openai-chat"}], "acme")  # shared, not acme's own
    assert shared.status_code == 404 and _field(shared) == "operations.0.id"
    assert _batch(local, people["member"], [{"op": "disable", "id": "o1"}], "acme").status_code == 403
    sharing = _batch(local, people["admin"], [{"op": "delete", "id": "openai-chat"}])
    assert sharing.status_code == 409 and sharing.get_json()["error"]["details"]["sharedWith"] == ["acme"]
