"""Organisations on the real emulators, in-process: the orgs API, who may do what, and X-Org-Id on other routes."""

from __future__ import annotations

import json
from typing import Any

import pytest

ORG = "acme"
ORG_ROLES = ("owner", "orgadmin", "member", "viewer")
ROLES = ("admin", *ORG_ROLES, "outsider")


@pytest.fixture(scope="module")
def people(emulators, accounts) -> dict[str, Any]:
    """A project admin, one user per org role, an outsider, and a spare user to add."""
    made = {name: emulators.sign_up("user", f"{name}-orgs@test.example") for name in (*ORG_ROLES, "outsider", "spare", "spare2")}
    return {"admin": accounts["admin"], **made}


@pytest.fixture
def acme(clean, people) -> dict[str, Any]:
    """Organisation ``acme`` with one member per org role (written with the Admin SDK), cold caches."""
    from gateway import audit, firebase, orgs

    db = firebase.db()
    db.collection("orgs").document(ORG).set({"name": "Acme", "settings": {}, "createdAt": audit.now(), "createdBy": "test"})
    for name, role in (("owner", "owner"), ("orgadmin", "admin"), ("member", "member"), ("viewer", "viewer")):
        account = people[name]
        orgs.member_ref(ORG, account.uid).set({"uid": account.uid, "role": role, "email": account.email, "addedAt": audit.now(), "addedBy": "test"})
    orgs.forget()
    return people


def _call(local, account, method: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    return local("orgs").open(path, method=method, json=body, headers={**account.headers, **(headers or {})})


def _field(response: Any) -> str:
    return response.get_json()["error"]["details"]["fields"][0]["field"]


# (method, path, body) -> the status each of ROLES gets
TABLE = [
    ("GET", "/", None, dict.fromkeys(ROLES, 200)),
    ("POST", "/", {"id": "newco", "name": "New"}, {"admin": 201} | dict.fromkeys((*ORG_ROLES, "outsider"), 403)),
    ("GET", f"/{ORG}", None, dict.fromkeys(ROLES, 200) | {"outsider": 403}),
    ("PATCH", f"/{ORG}", {"name": "Acme 2"}, {"admin": 200, "owner": 200, "orgadmin": 200, "member": 403, "viewer": 403, "outsider": 403}),
    ("DELETE", f"/{ORG}", None, {"admin": 200} | dict.fromkeys((*ORG_ROLES, "outsider"), 403)),
    ("GET", f"/{ORG}/members", None, dict.fromkeys(ROLES, 200) | {"outsider": 403}),
    ("POST", f"/{ORG}/members", {"email": "spare-orgs@test.example", "role": "member"},
     {"admin": 201, "owner": 201, "orgadmin": 201, "member": 403, "viewer": 403, "outsider": 403}),
    ("PATCH", f"/{ORG}/members/<member>", {"role": "viewer"},
     {"admin": 200, "owner": 200, "orgadmin": 200, "member": 403, "viewer": 403, "outsider": 403}),
    ("DELETE", f"/{ORG}/members/<viewer>", None,
     {"admin": 204, "owner": 204, "orgadmin": 204, "member": 403, "viewer": 204, "outsider": 403}),  # a viewer may leave
    ("PUT", "/default", {"orgId": ORG}, dict.fromkeys(ROLES, 200) | {"outsider": 403}),
]
CASES = [(m, p, b, role, want[role]) for m, p, b, want in TABLE for role in ROLES]


@pytest.mark.parametrize(("method", "path", "body", "role", "status"), CASES, ids=[f"{c[0]} {c[1]} as {c[3]}" for c in CASES])
def test_every_route_by_role(local, acme, method, path, body, role, status) -> None:
    path = path.replace("<member>", acme["member"].uid).replace("<viewer>", acme["viewer"].uid)
    response = _call(local, acme[role], method, path, body)
    assert response.status_code == status, response.get_data(as_text=True)


def test_create_add_by_email_list_and_audit(local, clean, people) -> None:
    from gateway import firebase

    admin, owner = people["admin"], people["owner"]
    created = _call(local, admin, "POST", "/", {"id": "globex", "name": "Globex", "ownerEmail": owner.email,
                                               "settings": {"dailyCostUsd": 5, "defaultQuotas": {"member": {"dailyTokens": 1000}}}})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["settings"]["defaultQuotas"]["member"]["dailyTokens"] == 1000
    assert _call(local, admin, "POST", "/", {"id": "globex", "name": "Again"}).status_code == 409

    added = _call(local, owner, "POST", "/globex/members", {"email": people["member"].email, "role": "member"})
    assert added.status_code == 201 and added.get_json()["uid"] == people["member"].uid
    assert _call(local, owner, "POST", "/globex/members", {"email": people["member"].email}).status_code == 409

    mine = _call(local, people["member"], "GET", "/").get_json()["orgs"]
    assert [(o["id"], o["role"]) for o in mine] == [("globex", "member")]
    assert _call(local, people["outsider"], "GET", "/").get_json()["orgs"] == []
    detail = _call(local, people["member"], "GET", "/globex").get_json()
    assert {m["uid"]: m["role"] for m in detail["members"]} == {owner.uid: "owner", people["member"].uid: "member"}

    records = [r.to_dict() for r in firebase.db().collection("audit").stream()]
    org_records = [r for r in records if r["collection"] == "orgs" and r["docId"] == "globex"]
    assert org_records[0]["action"] == "create" and org_records[0]["actorEmail"] == admin.email
    member_records = {(r["docId"], r["actorEmail"]) for r in records if r["collection"] == "orgs/globex/members"}
    assert member_records == {(owner.uid, admin.email), (people["member"].uid, owner.email)}


def test_admins_list_every_org_paged(local, clean, people) -> None:
    for org_id in ("org-a", "org-b", "org-c"):
        assert _call(local, people["admin"], "POST", "/", {"id": org_id, "name": org_id}).status_code == 201
    first = _call(local, people["admin"], "GET", "/?limit=2").get_json()
    assert [o["id"] for o in first["orgs"]] == ["org-a", "org-b"] and first["nextPageToken"] == "org-b"
    second = _call(local, people["admin"], "GET", f"/?limit=2&pageToken={first['nextPageToken']}").get_json()
    assert [o["id"] for o in second["orgs"]] == ["org-c"] and second["nextPageToken"] is None


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/", {"id": "Bad_Id", "name": "x"}, "id"),
    ("POST", "/", {"id": "default", "name": "x"}, "id"),
    ("POST", "/", {"id": "ab", "name": "x"}, "id"),
    ("POST", "/", {"id": "okay", "name": "x", "settings": {"dailyCostUsd": -1}}, "settings.dailyCostUsd"),
    ("POST", "/", {"id": "okay", "name": "x", "settings": {"defaultQuotas": {"god": {}}}}, "settings.defaultQuotas.god.[key]"),
    ("POST", f"/{ORG}/members", {"email": "x@y.z", "role": "god"}, "role"),
    ("PATCH", f"/{ORG}", {"colour": "red"}, "colour"),
    ("PUT", "/default", {"orgId": "__x__"}, "orgId"),
    ("GET", "/__x__", None, "id"),
])
def test_bad_input_names_the_field(local, acme, method, path, body, field) -> None:
    response = _call(local, acme["admin"], method, path, body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert _field(response) == field


def test_unknown_email_is_404_naming_email(local, acme) -> None:
    response = _call(local, acme["owner"], "POST", f"/{ORG}/members", {"email": "nobody@test.example"})
    assert response.status_code == 404 and _field(response) == "email"


def test_only_owners_grant_or_touch_owner(local, acme) -> None:
    orgadmin, owner = acme["orgadmin"], acme["owner"]
    grant = _call(local, orgadmin, "POST", f"/{ORG}/members", {"email": acme["spare"].email, "role": "owner"})
    assert grant.status_code == 403 and _field(grant) == "role"
    assert _call(local, orgadmin, "PATCH", f"/{ORG}/members/{acme['member'].uid}", {"role": "owner"}).status_code == 403
    assert _call(local, orgadmin, "PATCH", f"/{ORG}/members/{owner.uid}", {"role": "member"}).status_code == 403
    assert _call(local, orgadmin, "DELETE", f"/{ORG}/members/{owner.uid}").status_code == 403
    assert _call(local, owner, "POST", f"/{ORG}/members", {"email": acme["spare"].email, "role": "owner"}).status_code == 201


def test_last_owner_cannot_be_removed_or_demoted(local, acme) -> None:
    owner = acme["owner"]
    demote = _call(local, owner, "PATCH", f"/{ORG}/members/{owner.uid}", {"role": "admin"})
    assert demote.status_code == 409 and demote.get_json()["error"]["details"]["reason"] == "lastOwner"
    assert _call(local, acme["admin"], "DELETE", f"/{ORG}/members/{owner.uid}").status_code == 409
    assert _call(local, owner, "DELETE", f"/{ORG}/members/{owner.uid}").status_code == 409
    assert _call(local, owner, "PATCH", f"/{ORG}/members/{acme['orgadmin'].uid}", {"role": "owner"}).status_code == 200
    assert _call(local, owner, "PATCH", f"/{ORG}/members/{owner.uid}", {"role": "member"}).status_code == 200


def test_delete_cascades_members_and_a_retry_finishes_an_interrupted_one(local, acme) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import audit, firebase, org_admin, orgs

    db = firebase.db()
    interrupted = org_admin.delete_members(ORG, audit.Actor(acme["admin"].uid, acme["admin"].email), batches=1, size=2)
    assert interrupted == 2  # the first batch committed, then the delete "died"
    assert len(list(orgs.org_ref(ORG).collection("members").stream())) == 2 and orgs.org_ref(ORG).get().exists

    finished = _call(local, acme["admin"], "DELETE", f"/{ORG}")
    assert finished.status_code == 200 and finished.get_json()["membersDeleted"] == 2
    assert not orgs.org_ref(ORG).get().exists and list(orgs.org_ref(ORG).collection("members").stream()) == []
    assert _call(local, acme["admin"], "DELETE", f"/{ORG}").status_code == 404
    deletes = [r.to_dict() for r in db.collection("audit").where(filter=FieldFilter("action", "==", "delete")).stream()]
    assert sorted(r["collection"] for r in deletes) == ["orgs", *["orgs/acme/members"] * 4]
    assert _call(local, acme["member"], "GET", f"/{ORG}").status_code == 403


# --- which organisation a request is for, on the other functions ---


def test_x_org_id_is_checked_on_every_route(local, acme) -> None:
    models = local("models")
    member, outsider = acme["member"], acme["outsider"]
    assert models.get("/", headers=member.headers).status_code == 200  # no header: as before
    assert models.get("/", headers={**member.headers, "X-Org-Id": ORG}).status_code == 200
    refused = models.get("/", headers={**outsider.headers, "X-Org-Id": ORG})
    missing = models.get("/", headers={**outsider.headers, "X-Org-Id": "no-such-org"})
    assert refused.status_code == missing.status_code == 403
    assert refused.get_json()["error"]["details"]["fields"][0]["field"] == "X-Org-Id"
    assert refused.get_json()["error"]["message"] == missing.get_json()["error"]["message"]  # an outsider learns nothing of which ids exist
    assert models.get("/", headers={**acme["admin"].headers, "X-Org-Id": ORG}).status_code == 200
    assert models.get("/", headers={**acme["admin"].headers, "X-Org-Id": "no-such-org"}).status_code == 403


def test_removal_takes_effect_on_the_next_request(local, acme) -> None:
    headers = {**acme["member"].headers, "X-Org-Id": ORG}
    assert local("models").get("/", headers=headers).status_code == 200
    assert _call(local, acme["owner"], "DELETE", f"/{ORG}/members/{acme['member'].uid}").status_code == 204
    assert local("models").get("/", headers=headers).status_code == 403


def test_openai_organization_header_on_the_openai_edge(local, acme, capsys) -> None:
    openai = local("openai")
    assert openai.get("/v1/models", headers={**acme["member"].headers, "OpenAI-Organization": ORG}).status_code == 200
    # A hint: an SDK's OPENAI_ORG_ID (an OpenAI id) or an org the caller is not in is ignored, never a way in.
    capsys.readouterr()
    for outsider_hint in (ORG, "org-AbCdEf123456"):
        assert openai.get("/v1/models", headers={**acme["outsider"].headers, "OpenAI-Organization": outsider_hint}).status_code == 200
        assert _request_log(capsys)["org"] is None
    # X-Org-Id stays strict on the openai edge too.
    refused = openai.get("/v1/models", headers={**acme["outsider"].headers, "X-Org-Id": ORG})
    assert refused.status_code == 403 and "X-Org-Id" in refused.get_json()["error"]["message"]


def test_default_org_is_used_only_while_a_member(local, acme, capsys) -> None:
    from gateway import auth

    member = acme["member"]
    assert _call(local, member, "PUT", "/default", {"orgId": ORG}).get_json() == {"defaultOrg": ORG}
    capsys.readouterr()
    assert local("models").get("/", headers=member.headers).status_code == 200
    assert _request_log(capsys)["org"] == ORG
    assert _call(local, acme["owner"], "DELETE", f"/{ORG}/members/{member.uid}").status_code == 204
    auth.forget()
    capsys.readouterr()
    assert local("models").get("/", headers=member.headers).status_code == 200  # a stale default is ignored, not refused
    assert _request_log(capsys)["org"] is None
    assert _call(local, member, "PUT", "/default", {"orgId": ORG}).status_code == 403


def test_an_empty_org_header_is_no_organisation_whatever_the_default(local, acme, capsys) -> None:
    """A switcher's "project-wide" must not wait for a changed default to reach every instance's profile cache."""
    member = acme["member"]
    assert _call(local, member, "PUT", "/default", {"orgId": ORG}).status_code == 200
    capsys.readouterr()
    assert local("models").get("/", headers={**member.headers, "X-Org-Id": ""}).status_code == 200
    assert _request_log(capsys)["org"] is None
    assert local("models").get("/", headers={**member.headers, "X-Org-Id": "  "}).status_code == 200
    assert _request_log(capsys)["org"] is None
    assert local("models").get("/", headers=member.headers).status_code == 200
    assert _request_log(capsys)["org"] == ORG


def test_cors_allows_the_org_header(local) -> None:
    preflight = local("models").options("/", headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"})
    assert "X-Org-Id" in preflight.headers["Access-Control-Allow-Headers"]


def _request_log(capsys) -> dict[str, Any]:
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [e for e in entries if e.get("message") == "request"][-1]


def test_served_by_the_functions_emulator(emulators, acme) -> None:
    """Registered in main.py like the others: the emulator serves it, X-Org-Id crosses CORS and the edge."""
    import requests

    listed = requests.get(emulators.url("orgs"), headers=acme["viewer"].headers, timeout=60)
    assert listed.status_code == 200 and [o["id"] for o in listed.json()["orgs"]] == [ORG]
    refused = requests.get(emulators.url("models"), headers={**acme["outsider"].headers, "X-Org-Id": ORG}, timeout=60)
    assert refused.status_code == 403


def test_default_org_can_be_cleared(local, acme) -> None:
    from gateway import firebase

    member = acme["member"]
    assert _call(local, member, "PUT", "/default", {"orgId": ORG}).status_code == 200
    assert _call(local, member, "PUT", "/default", {"orgId": None}).get_json() == {"defaultOrg": None}
    assert "defaultOrg" not in (firebase.db().collection("users").document(member.uid).get().to_dict() or {})
