"""Organisations and the caller's data: conversations, images and audit per organisation, and an organisation's delete cascade.

Real emulators, in-process functions. The organisations share the project-wide models they use
(``settings.sharedModels``), so these tests hold whether or not org catalogues restrict what a member may call.
"""

from __future__ import annotations

from typing import Any

import pytest

ACME, GLOBEX = "acme-data", "globex-data"
SHARED = ["openai-chat", "hf-image"]


@pytest.fixture(scope="module")
def people(emulators, accounts) -> dict[str, Any]:
    """Alice (owner of acme, member of globex), Bob (member of acme), Carol (admin of globex), a project admin."""
    made = {name: emulators.sign_up("user", f"{name}-orgdata@test.example") for name in ("alice", "bob", "carol")}
    return {"admin": accounts["admin"], **made}


@pytest.fixture
def orgs2(clean, providers, people) -> dict[str, Any]:
    """Two organisations written with the Admin SDK (cold caches), an image model, the fakes as providers."""
    from gateway import audit, firebase, orgs
    from gateway.registry import registry

    db = firebase.db()
    db.collection("models").document("hf-image").set({
        "type": "image", "enabled": True, "name": "black-forest-labs/FLUX.1-schnell", "provider": "huggingface",
        "pricing": {"perImage": 0.002}, "config": {"width": 256, "height": 256, "timeoutSeconds": 5},
    })
    for org_id in (ACME, GLOBEX):
        db.collection("orgs").document(org_id).set({"name": org_id, "settings": {"sharedModels": SHARED}, "createdAt": audit.now(), "createdBy": "test"})
    for org_id, name, role in ((ACME, "alice", "owner"), (ACME, "bob", "member"), (GLOBEX, "alice", "member"), (GLOBEX, "carol", "admin")):
        account = people[name]
        orgs.member_ref(org_id, account.uid).set({"uid": account.uid, "role": role, "email": account.email, "addedAt": audit.now(), "addedBy": "test"})
    orgs.forget()
    registry().invalidate()
    return people


def _in(org: str | None) -> dict[str, str]:
    return {"X-Org-Id": org} if org else {}


def _ask(local, account, org: str | None, **body: Any) -> Any:
    return local("generate_text").post("/", json={"modelId": "openai-chat", **body}, headers={**account.headers, **_in(org)})


def _conversations(local, account, org: str | None, path: str = "/", method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    return local("conversations").open(path, method=method, json=body, headers={**account.headers, **_in(org)})


# --- conversations ---


def test_a_conversation_belongs_to_the_organisation_it_was_started_in(local, orgs2) -> None:
    from gateway import conversations

    alice = orgs2["alice"]
    started = {}
    for org in (ACME, GLOBEX, None):
        answer = _ask(local, alice, org, prompt=f"hello from {org}", saveHistory=True)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        started[org] = answer.get_json()["conversationId"]
    stored = {org: conversations.conversations(alice.uid).document(cid).get().to_dict()["org"] for org, cid in started.items()}
    assert stored == {ACME: ACME, GLOBEX: GLOBEX, None: None}

    for org in (ACME, GLOBEX, None):
        listed = _conversations(local, alice, org).get_json()["conversations"]
        assert [(c["id"], c["org"]) for c in listed] == [(started[org], org)]
        assert _conversations(local, alice, org, f"/{started[org]}").status_code == 200


def test_another_organisations_conversation_is_a_404_everywhere(local, orgs2) -> None:
    alice = orgs2["alice"]
    theirs = _ask(local, alice, GLOBEX, prompt="globex secret plan", saveHistory=True).get_json()["conversationId"]
    for org in (ACME, None):  # from another organisation, and from none: the same 404 as an unknown id
        for method, body in (("GET", None), ("PATCH", {"title": "stolen"}), ("DELETE", None)):
            response = _conversations(local, alice, org, f"/{theirs}", method, body)
            assert response.status_code == 404, (org, method, response.get_data(as_text=True))
            assert "globex secret" not in response.get_data(as_text=True)
        unknown = _conversations(local, alice, org, "/nosuchconversation").get_json()["error"]
        assert _conversations(local, alice, org, f"/{theirs}").get_json()["error"]["code"] == unknown["code"]
        continued = _ask(local, alice, org, prompt="and now?", conversationId=theirs)
        assert continued.status_code == 404 and continued.get_json()["error"]["details"]["field"] == "conversationId"
        assert theirs not in _conversations(local, alice, org).get_data(as_text=True)
    # Still there, untouched, for its own organisation.
    detail = _conversations(local, alice, GLOBEX, f"/{theirs}").get_json()
    assert detail["title"] == "globex secret plan" and detail["messageCount"] == 2


def test_conversations_stored_before_organisations_stay_project_wide(local, orgs2) -> None:
    """A conversation with no ``org`` field (stored before organisations) is listed with none, and paged past org ones."""
    from datetime import datetime, timedelta, timezone

    from gateway import conversations, firebase

    alice = orgs2["alice"]
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    batch = firebase.db().batch()
    for i in range(5):
        data = {"title": f"c{i}", "modelId": "openai-chat", "createdAt": at, "updatedAt": at + timedelta(seconds=i), "messageCount": 0, "totalTokens": 0, "cost": 0.0}
        if i % 2:
            data["org"] = ACME
        batch.set(conversations.conversations(alice.uid).document(f"old{i}"), data)
    batch.commit()
    first = _conversations(local, alice, None, "/?limit=2").get_json()
    assert [c["id"] for c in first["conversations"]] == ["old4", "old2"] and first["nextPageToken"]
    second = _conversations(local, alice, None, f"/?limit=2&pageToken={first['nextPageToken']}").get_json()
    assert [c["id"] for c in second["conversations"]] == ["old0"] and second["nextPageToken"] is None
    assert [c["id"] for c in _conversations(local, alice, ACME).get_json()["conversations"]] == ["old3", "old1"]


def _respond(local, account, org: str | None, **body: Any) -> Any:
    return local("openai").post("/v1/responses", json={"model": "openai-chat", "input": "hi", **body}, headers={**account.headers, **_in(org)})


def test_a_stored_response_is_found_only_in_its_organisation(local, orgs2) -> None:
    """The openai edge's Responses API keeps state too: GET, DELETE and previous_response_id find only the org's own."""
    alice = orgs2["alice"]
    created = _respond(local, alice, ACME, input="acme question")
    assert created.status_code == 200, created.get_data(as_text=True)
    response_id = created.get_json()["id"]
    client = local("openai")
    for org in (GLOBEX, None):
        headers = {**alice.headers, **_in(org)}
        assert client.get(f"/v1/responses/{response_id}", headers=headers).status_code == 404
        assert client.delete(f"/v1/responses/{response_id}", headers=headers).status_code == 404
        continued = _respond(local, alice, org, previous_response_id=response_id)
        assert continued.status_code == 404, continued.get_data(as_text=True)
    assert client.get(f"/v1/responses/{response_id}", headers={**alice.headers, **_in(ACME)}).status_code == 200
    assert _respond(local, alice, ACME, previous_response_id=response_id).status_code == 200


# --- images ---


def test_images_of_an_organisation_go_under_its_path_and_record_it(local, orgs2) -> None:
    from gateway import firebase, storage

    alice = orgs2["alice"]
    made = {}
    for org in (ACME, None):
        response = local("generate_image").post("/", json={"modelId": "hf-image", "prompt": "a fox"}, headers={**alice.headers, **_in(org)})
        assert response.status_code == 200, response.get_data(as_text=True)
        made[org] = response.get_json()["images"][0]
    assert made[ACME]["path"].startswith(f"orgs/{ACME}/generated/{alice.uid}/")
    assert made[None]["path"].startswith(f"generated/{alice.uid}/")
    blob = storage.bucket().get_blob(made[ACME]["path"])
    assert blob is not None and blob.metadata["org"] == ACME
    records = {d.id: d.to_dict() for d in firebase.db().collection("users").document(alice.uid).collection("images").stream()}
    assert records[made[ACME]["id"]]["org"] == ACME and records[made[None]["id"]]["org"] is None


def test_the_gallerys_query_lists_one_organisations_images(local, orgs2, emulators) -> None:
    """What the web gallery asks Firestore (``org ==`` the selected one), with the owner's token, under the real rules."""
    import requests

    alice = orgs2["alice"]
    for org in (ACME, GLOBEX):
        local("generate_image").post("/", json={"modelId": "hf-image", "prompt": f"a fox of {org}"}, headers={**alice.headers, **_in(org)})
    url = f"{emulators.firestore}/v1/projects/{emulators.project}/databases/(default)/documents/users/{alice.uid}:runQuery"
    query = {"structuredQuery": {
        "from": [{"collectionId": "images"}],
        "where": {"fieldFilter": {"field": {"fieldPath": "org"}, "op": "EQUAL", "value": {"stringValue": ACME}}},
        "orderBy": [{"field": {"fieldPath": "createdAt"}, "direction": "DESCENDING"}],
    }}
    rows = requests.post(url, json=query, headers={"Authorization": f"Bearer {alice.token}"}, timeout=10).json()
    prompts = [r["document"]["fields"]["prompt"]["stringValue"] for r in rows if "document" in r]
    assert prompts == [f"a fox of {ACME}"]
    bob = orgs2["bob"]  # another user: not even their own organisation's member reads them
    assert requests.post(url, json=query, headers={"Authorization": f"Bearer {bob.token}"}, timeout=10).status_code == 403


def test_an_image_generated_in_an_organisation_is_sent_to_a_model_only_from_it(local, orgs2) -> None:
    """gs:// paths on the openai edge: the caller's own image of the request's organisation, no other."""
    from gateway import firebase, storage
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"capabilities": ["chat", "vision"]})
    registry().invalidate()
    alice = orgs2["alice"]
    made = local("generate_image").post("/", json={"modelId": "hf-image", "prompt": "a fox"}, headers={**alice.headers, **_in(ACME)})
    url = f"gs://{storage.bucket_name()}/{made.get_json()['images'][0]['path']}"
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    body = {"model": "openai-chat", "messages": [{"role": "user", "content": content}]}
    seen = {org: local("openai").post("/v1/chat/completions", json=body, headers={**alice.headers, **_in(org)}) for org in (ACME, GLOBEX, None)}
    assert seen[ACME].status_code == 200, seen[ACME].get_data(as_text=True)
    for org in (GLOBEX, None):
        assert seen[org].status_code == 403 and "not one of your images" in seen[org].get_json()["error"]["message"]


# --- audit ---


def _audit(local, account, org: str, query: str = "", header: str | None = None) -> Any:
    return local("orgs").get(f"/{org}/audit{query}", headers={**account.headers, **_in(header)})


def test_org_writes_are_audited_with_their_org_and_read_by_its_managers_only(local, orgs2) -> None:
    from gateway import firebase

    alice, bob, carol, admin = orgs2["alice"], orgs2["bob"], orgs2["carol"], orgs2["admin"]
    assert local("orgs").patch(f"/{ACME}", json={"name": "Acme Data"}, headers=alice.headers).status_code == 200
    assert local("orgs").patch(f"/{ACME}/members/{bob.uid}", json={"role": "viewer"}, headers=alice.headers).status_code == 200
    assert local("orgs").patch(f"/{GLOBEX}", json={"name": "Globex Data"}, headers=carol.headers).status_code == 200
    records = {(r.get("collection"), r.get("docId")): r.get("org") for r in (s.to_dict() for s in firebase.db().collection("audit").stream())}
    assert records[("orgs", ACME)] == ACME and records[(f"orgs/{ACME}/members", bob.uid)] == ACME and records[("orgs", GLOBEX)] == GLOBEX

    mine = _audit(local, alice, ACME, header=ACME)
    assert mine.status_code == 200, mine.get_data(as_text=True)
    assert {r["org"] for r in mine.get_json()["records"]} == {ACME}
    assert [(r["collection"], r["action"]) for r in mine.get_json()["records"]] == [(f"orgs/{ACME}/members", "update"), ("orgs", "update")]
    assert GLOBEX not in mine.get_data(as_text=True)
    page = _audit(local, alice, ACME, "?limit=1").get_json()
    assert len(page["records"]) == 1 and page["nextPageToken"]
    rest = _audit(local, alice, ACME, f"?limit=1&pageToken={page['nextPageToken']}").get_json()
    assert [r["id"] for r in rest["records"]] != [r["id"] for r in page["records"]] and rest["nextPageToken"] is None
    assert _audit(local, admin, GLOBEX).get_json()["records"][0]["docId"] == GLOBEX  # project admins: any organisation

    assert _audit(local, alice, GLOBEX).status_code == 403  # a plain member of globex
    assert _audit(local, bob, ACME).status_code == 403  # a viewer of acme
    assert _audit(local, carol, ACME).status_code == 403  # a manager of another organisation
    assert _audit(local, carol, ACME, header=ACME).status_code == 403  # naming it in X-Org-Id does not help
    assert _audit(local, alice, ACME, "?pageToken=nope").status_code == 400


# --- rules ---


def _rest(emulators, path: str, token: str) -> int:
    import requests

    url = f"{emulators.firestore}/v1/projects/{emulators.project}/databases/(default)/documents/{path}"
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def _audit_query(emulators, token: str, org: str) -> int:
    import requests

    url = f"{emulators.firestore}/v1/projects/{emulators.project}/databases/(default)/documents:runQuery"
    query = {"structuredQuery": {"from": [{"collectionId": "audit"}],
                                 "where": {"fieldFilter": {"field": {"fieldPath": "org"}, "op": "EQUAL", "value": {"stringValue": org}}}}}
    return requests.post(url, json=query, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_rules_org_catalogue_readable_by_admins_and_its_managers_only(emulators, orgs2) -> None:
    from gateway import firebase

    db = firebase.db()
    db.document(f"orgs/{ACME}/models/secret-model").set({"name": "m", "provider": "acme-openai", "config": {"systemPrompt": "private"}})
    db.document(f"orgs/{ACME}/providers/acme-openai").set({"type": "openai", "baseUrl": "http://internal.example"})
    for path in (f"orgs/{ACME}/models/secret-model", f"orgs/{ACME}/providers/acme-openai"):
        assert _rest(emulators, path, orgs2["admin"].token) == 200
        assert _rest(emulators, path, orgs2["alice"].token) == 200  # owner of acme
        assert _rest(emulators, path, orgs2["bob"].token) == 403  # a member: through the models function only
        assert _rest(emulators, path, orgs2["carol"].token) == 403  # another organisation's admin
    import requests

    url = f"{emulators.firestore}/v1/projects/{emulators.project}/databases/(default)/documents/orgs/{ACME}/models/x"
    written = requests.patch(url, json={"fields": {"name": {"stringValue": "x"}}}, headers={"Authorization": f"Bearer {orgs2['alice'].token}"}, timeout=10)
    assert written.status_code == 403  # nobody writes: the gateway does


def test_rules_audit_records_of_an_org_readable_by_its_managers(emulators, orgs2) -> None:
    from gateway import firebase

    db = firebase.db()
    db.collection("audit").document("org-record").set({"actor": "x", "collection": "orgs", "docId": ACME, "org": ACME})
    db.collection("audit").document("plain-record").set({"actor": "x", "collection": "models", "docId": "m", "org": None})
    assert _rest(emulators, "audit/org-record", orgs2["alice"].token) == 200
    assert _rest(emulators, "audit/org-record", orgs2["bob"].token) == 403
    assert _rest(emulators, "audit/org-record", orgs2["carol"].token) == 403
    assert _rest(emulators, "audit/plain-record", orgs2["alice"].token) == 403
    assert _audit_query(emulators, orgs2["alice"].token, ACME) == 200
    assert _audit_query(emulators, orgs2["carol"].token, ACME) == 403
    assert _audit_query(emulators, orgs2["carol"].token, GLOBEX) == 200


# --- an organisation's delete ---


def test_delete_cascades_to_catalogue_conversations_and_images_and_a_retry_finishes(local, orgs2) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import audit, conversations, firebase, org_admin, orgs, secrets, storage

    db = firebase.db()
    alice, bob, admin = orgs2["alice"], orgs2["bob"], orgs2["admin"]
    for i in range(3):
        db.document(f"orgs/{ACME}/models/m{i}").set({"name": f"m{i}", "provider": "acme-openai", "type": "text", "enabled": True})
    db.document(f"orgs/{ACME}/providers/acme-openai").set({"type": "openai", "baseUrl": "http://x", "enabled": True, "keyBinding": "hmac"})
    secret = secrets.name_for("acme-openai", ACME)
    assert secret == "AI_GATEWAY_ORG_ACME_DATA__ACME_OPENAI"
    manager, parent = secrets.client(), f"projects/{firebase.project_id()}"
    manager.create_secret(request={"parent": parent, "secret_id": secret, "secret": {"replication": {"automatic": {}}}})
    manager.add_secret_version(request={"parent": f"{parent}/secrets/{secret}", "payload": {"data": b"sk-acme"}})
    stored_response = _respond(local, alice, ACME).get_json()["id"]
    ours = [_ask(local, who, ACME, prompt=f"acme {who.email}", saveHistory=True).get_json()["conversationId"] for who in (alice, bob, alice)]
    kept = _ask(local, alice, GLOBEX, prompt="globex stays", saveHistory=True).get_json()["conversationId"]
    image = local("generate_image").post("/", json={"modelId": "hf-image", "prompt": "fox"}, headers={**alice.headers, **_in(ACME)}).get_json()["images"][0]
    other_image = local("generate_image").post("/", json={"modelId": "hf-image", "prompt": "fox"}, headers={**alice.headers, **_in(GLOBEX)}).get_json()["images"][0]
    ledger_before = len(list(db.collection_group("records").stream()))

    # The delete "dies" after one batch of each step.
    actor = audit.Actor(admin.uid, admin.email)
    assert org_admin.delete_catalogue(ACME, actor, batches=1, size=2) == {"models": 2, "providers": 1}
    assert org_admin.delete_conversations(ACME, actor, batches=1, size=2) == 2
    assert len(list(db.collection(f"orgs/{ACME}/models").stream())) == 1 and orgs.org_ref(ACME).get().exists

    finished = local("orgs").delete(f"/{ACME}", headers=admin.headers)
    assert finished.status_code == 200, finished.get_data(as_text=True)
    assert finished.get_json() == {"deleted": ACME, "membersDeleted": 2, "modelsDeleted": 1, "providersDeleted": 0,
                                   "conversationsDeleted": 1, "responsesDeleted": 1, "imagesDeleted": 1}
    assert list(db.collection(f"orgs/{ACME}/models").stream()) == [] and list(db.collection(f"orgs/{ACME}/providers").stream()) == []
    from google.api_core import exceptions

    with pytest.raises(exceptions.NotFound):
        manager.get_secret(request={"name": f"{parent}/secrets/{secret}"})
    for who, cid in zip((alice, bob, alice), ours, strict=True):
        ref = conversations.conversations(who.uid).document(cid)
        assert not ref.get().exists and list(ref.collection("messages").stream()) == []
    assert conversations.conversations(alice.uid).document(kept).get().exists
    assert not db.document(f"users/{alice.uid}/responses/{stored_response}").get().exists
    assert not db.document(f"users/{alice.uid}/images/{image['id']}").get().exists
    assert storage.bucket().get_blob(image["path"]) is None
    assert db.document(f"users/{alice.uid}/images/{other_image['id']}").get().exists and storage.bucket().get_blob(other_image["path"])
    assert len(list(db.collection_group("records").stream())) == ledger_before  # the ledger (money history) is kept

    # (the emulator's console-edit trigger may add records of the previous test's reset: the admin's are this delete's)
    deletes = [r.to_dict() for r in db.collection("audit").where(filter=FieldFilter("actor", "==", admin.uid)).stream()]
    assert {r["action"] for r in deletes} == {"delete"}
    assert {r["org"] for r in deletes} == {ACME}
    by_collection = sorted(r["collection"].split("/")[-1] for r in deletes)
    assert by_collection == sorted(["orgs", *["members"] * 2, *["models"] * 3, "providers", *["conversations"] * 3, "responses", "images"])
    assert all("keyBinding" not in (r["before"] or {}) for r in deletes)
    assert all("title" not in (r["before"] or {}) for r in deletes if r["collection"].endswith("conversations"))
    assert local("orgs").delete(f"/{ACME}", headers=admin.headers).status_code == 404
