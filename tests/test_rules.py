"""firestore.rules, loaded by the real Firestore emulator, with emulator ID tokens."""

from __future__ import annotations

from typing import Any

import pytest
import requests


@pytest.fixture(scope="module")
def docs(emulators, accounts) -> dict[str, str]:
    """Documents written with the Admin SDK (rules bypassed), to be read by clients."""
    from gateway import firebase

    db = firebase.db()
    uid, other = accounts["user"].uid, accounts["viewer"].uid
    db.collection("models").document("rules-enabled").set({"name": "a", "provider": "ollama", "enabled": True})
    db.collection("models").document("rules-disabled").set({"name": "b", "provider": "ollama", "enabled": False})
    db.collection("users").document(uid).set({"role": "user", "displayName": "Me"})
    db.collection("users").document(other).set({"role": "viewer"})
    db.collection("users").document(uid).collection("images").document("img1").set({"path": "generated/x.png"})
    conversation = db.collection("users").document(uid).collection("conversations").document("conv1")
    conversation.set({"title": "Trip", "messageCount": 1})
    conversation.collection("messages").document("msg1").set({"role": "user", "content": "hi"})
    db.collection("audit").document("rules-audit").set({"actor": "x"})
    db.collection("providers").document("rules-provider").set({"baseUrl": "http://x"})
    db.collection("usage").document(uid).set({"tokens": 1})
    db.collection("users").document(uid).collection("responses").document("resp_rules").set({"response": "{}", "context": "[]"})
    return {"uid": uid, "other": other}


def _url(emulators, path: str) -> str:
    return f"{emulators.firestore}/v1/projects/{emulators.project}/databases/(default)/documents/{path}"


def _get(emulators, path: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(_url(emulators, path), headers=headers, timeout=10).status_code


def _value(v: Any) -> dict[str, Any]:
    """A Firestore REST value."""
    if v is None:
        return {"nullValue": None}
    if isinstance(v, bool):
        return {"booleanValue": v}
    if isinstance(v, int):
        return {"integerValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, dict):
        return {"mapValue": {"fields": {k: _value(x) for k, x in v.items()}}}
    return {"stringValue": str(v)}


def _write(emulators, path: str, token: str | None, fields: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"fields": {k: _value(v) for k, v in fields.items()}}
    return requests.patch(_url(emulators, path), json=body, headers=headers, timeout=10).status_code


def _create(emulators, uid: str, token: str | None, fields: dict[str, Any]) -> int:
    """Create users/{uid} (refused by the emulator if it already exists, so the rules see a create)."""
    return _write(emulators, f"users/{uid}?currentDocument.exists=false", token, fields)


def _update(emulators, uid: str, token: str | None, fields: dict[str, Any], mask: list[str] | None = None) -> int:
    """Update only ``mask`` (default: the fields given) of the existing users/{uid}; a masked field not given is removed."""
    query = "&".join(f"updateMask.fieldPaths={f}" for f in (mask or list(fields)))
    return _write(emulators, f"users/{uid}?currentDocument.exists=true&{query}", token, fields)


def _stored(uid: str) -> dict[str, Any] | None:
    from gateway import firebase

    return firebase.db().collection("users").document(uid).get().to_dict()


def test_models_readable_by_admins_only(emulators, accounts, docs) -> None:
    """A model holds what only admins see (system prompt, endpoint, admins' uids): users and viewers use the API."""
    from gateway import firebase

    firebase.db().collection("models").document("rules-private").set(
        {"name": "c", "provider": "ollama", "enabled": True, "endpointURL": "https://inference.internal.example/v1",
         "config": {"systemPrompt": "Never reveal the discount code SAVE50"}, "createdBy": accounts["admin"].uid}
    )
    for path in ("models/rules-enabled", "models/rules-private", "models/rules-disabled"):
        assert _get(emulators, path, accounts["admin"].token) == 200
        for role in ("user", "viewer"):
            assert _get(emulators, path, accounts[role].token) == 403, (role, path)
        assert _get(emulators, path, None) == 403
    for role in ("user", "viewer"):  # nor by listing the collection
        assert _get(emulators, "models", accounts[role].token) == 403
    assert _get(emulators, "models", accounts["admin"].token) == 200
    assert _write(emulators, "models/rules-enabled", accounts["admin"].token, {"name": "hacked"}) == 403


def test_own_user_document(emulators, accounts, docs) -> None:
    token = accounts["user"].token
    assert _get(emulators, f"users/{docs['uid']}", token) == 200
    assert _get(emulators, f"users/{docs['other']}", token) == 403
    assert _get(emulators, f"users/{docs['uid']}", None) == 403
    # Own profile fields may change; role and disabled never (every case: the tests below).
    assert _write(emulators, f"users/{docs['uid']}?updateMask.fieldPaths=displayName", token, {"displayName": "New"}) == 200
    assert _write(emulators, f"users/{docs['uid']}?updateMask.fieldPaths=role", token, {"role": "admin"}) == 403
    assert _write(emulators, f"users/{docs['uid']}?updateMask.fieldPaths=disabled", token, {"disabled": False}) == 403
    assert _write(emulators, f"users/{docs['other']}?updateMask.fieldPaths=displayName", token, {"displayName": "x"}) == 403


# The fields an owner may write in users/{uid} (firestore.rules), one valid value each.
PROFILE = {"displayName": "Ada Lovelace", "photoURL": "https://example.com/ada.png", "preferences": {"theme": "dark", "fontSize": 14}}

# What the owner may never write: each field the gateway trusts from users/{uid}
# (gateway/auth.py: role, disabled; gateway/usage.py: quota), the seed's copy of
# the Auth email, and fields nobody reads yet, refused only because they are
# not on the allow-list (a future limit or billing field).
TRUSTED = {
    "role": "admin",
    "disabled": False,
    "quota": {"dailyTokens": 1_000_000_000, "dailyCostUsd": 1e9},
    "email": "admin@demo.test",
    "billingPlan": "enterprise",
    "limits": {"perMinute": 1_000_000},
    "defaultOrg": "acme",  # gateway/orgs.py reads it (honoured only for a member); set through PUT orgs/default
}


@pytest.fixture
def mine(emulators, accounts, docs) -> tuple[str, str]:
    """The user account's users/{uid} as the gateway wrote it (reset for each test), and the owner's token."""
    from gateway import firebase

    uid = docs["uid"]
    firebase.db().collection("users").document(uid).set({"role": "user", "displayName": "Me"})
    return uid, accounts["user"].token


@pytest.mark.parametrize("field", list(PROFILE))
def test_owner_creates_their_document_with_each_profile_field(emulators, field: str) -> None:
    owner = emulators.sign_up(None)
    assert _create(emulators, owner.uid, owner.token, {field: PROFILE[field]}) == 200
    assert _stored(owner.uid) == {field: PROFILE[field]}


def test_owner_creates_their_document_with_every_profile_field(emulators) -> None:
    owner = emulators.sign_up(None)
    assert _create(emulators, owner.uid, owner.token, PROFILE) == 200
    assert _stored(owner.uid) == PROFILE


@pytest.mark.parametrize("field", list(PROFILE))
def test_owner_updates_and_removes_each_profile_field(emulators, mine, field: str) -> None:
    """Changed and removed, next to the trusted fields the gateway wrote (which stay as they were)."""
    uid, token = mine
    assert _update(emulators, uid, token, {field: PROFILE[field]}) == 200
    assert _stored(uid) == {"role": "user", "displayName": "Me", field: PROFILE[field]}
    assert _update(emulators, uid, token, {}, mask=[field]) == 200
    assert field not in _stored(uid)
    assert _stored(uid)["role"] == "user"


@pytest.mark.parametrize("field", list(TRUSTED))
def test_owner_cannot_create_their_document_with_a_field_off_the_list(emulators, field: str) -> None:
    owner = emulators.sign_up(None)
    assert _create(emulators, owner.uid, owner.token, {"displayName": "Me", field: TRUSTED[field]}) == 403
    assert _stored(owner.uid) is None
    assert _create(emulators, owner.uid, owner.token, {"displayName": "Me"}) == 200  # the field was the reason


@pytest.mark.parametrize("field", list(TRUSTED))
def test_owner_cannot_add_or_change_a_field_off_the_list(emulators, mine, field: str) -> None:
    uid, token = mine
    # Alone, next to an allowed field, inside a map (e.g. quota.dailyTokens), and by rewriting the whole document.
    assert _update(emulators, uid, token, {field: TRUSTED[field]}) == 403
    assert _update(emulators, uid, token, {"displayName": "New", field: TRUSTED[field]}) == 403
    assert _update(emulators, uid, token, {field: {"dailyTokens": 10**9}}, mask=[f"{field}.dailyTokens"]) == 403
    assert _write(emulators, f"users/{uid}", token, {"role": "user", "displayName": "Me", field: TRUSTED[field]}) == 403
    assert _stored(uid) == {"role": "user", "displayName": "Me"}


@pytest.mark.parametrize("field, value", [("role", "viewer"), ("disabled", True), ("quota", {"dailyTokens": 100})])
def test_owner_cannot_remove_a_trusted_field(emulators, mine, field: str, value: Any) -> None:
    """Removing is a change too: e.g. dropping ``disabled: true`` or a small quota."""
    from gateway import firebase

    uid, token = mine
    firebase.db().collection("users").document(uid).set({field: value}, merge=True)
    assert _update(emulators, uid, token, {}, mask=[field]) == 403
    assert _write(emulators, f"users/{uid}", token, {"displayName": "Me"}) == 403  # a rewrite that leaves it out
    assert _stored(uid)[field] == value


@pytest.mark.parametrize(
    "fields",
    [
        {"displayName": "x" * 201},
        {"displayName": 42},
        {"photoURL": "javascript:alert(1)"},
        {"photoURL": "http://169.254.169.254/computeMetadata/v1/"},
        {"photoURL": "https://example.com/" + "x" * 2048},
        {"preferences": "dark"},
        {"preferences": {f"k{i}": i for i in range(51)}},
    ],
    ids=["long-name", "number-name", "javascript-url", "http-url", "long-url", "string-preferences", "51-preferences"],
)
def test_profile_fields_are_type_and_size_checked(emulators, mine, fields: dict[str, Any]) -> None:
    uid, token = mine
    owner = emulators.sign_up(None)
    assert _create(emulators, owner.uid, owner.token, fields) == 403
    assert _update(emulators, uid, token, fields) == 403
    assert _stored(owner.uid) is None
    assert _stored(uid) == {"role": "user", "displayName": "Me"}


def test_nobody_else_writes_or_deletes_a_users_document(emulators, accounts, mine) -> None:
    uid, token = mine
    newcomer = emulators.sign_up(None)
    for other in (accounts["viewer"].token, accounts["admin"].token, None):
        assert _create(emulators, newcomer.uid, other, {"displayName": "Mallory"}) == 403
        assert _update(emulators, uid, other, {"displayName": "Mallory"}) == 403
        assert _write(emulators, f"users/{uid}", other, {"displayName": "Mallory"}) == 403
    for deleter in (token, accounts["admin"].token):
        response = requests.delete(_url(emulators, f"users/{uid}"), headers={"Authorization": f"Bearer {deleter}"}, timeout=10)
        assert response.status_code == 403
    assert _stored(newcomer.uid) is None
    assert _stored(uid) == {"role": "user", "displayName": "Me"}


def test_own_image_records_read_only(emulators, accounts, docs) -> None:
    path = f"users/{docs['uid']}/images/img1"
    assert _get(emulators, path, accounts["user"].token) == 200
    assert _get(emulators, path, accounts["viewer"].token) == 403
    assert _write(emulators, path, accounts["user"].token, {"path": "x"}) == 403


@pytest.mark.parametrize("path", ["conversations/conv1", "conversations/conv1/messages/msg1", "conversations", "conversations/conv1/messages"])
def test_own_conversations_read_only(emulators, accounts, docs, path: str) -> None:
    """The owner reads (and lists) their conversations and messages; nobody else does, and no client writes them."""
    path = f"users/{docs['uid']}/{path}"
    assert _get(emulators, path, accounts["user"].token) == 200
    for role in ("viewer", "admin"):
        assert _get(emulators, path, accounts[role].token) == 403
    assert _get(emulators, path, None) == 403
    if path.count("/") % 2 == 1:  # a document: no update, no delete
        for role in ("user", "admin"):
            assert _write(emulators, path, accounts[role].token, {"title": "mine now"}) == 403
            assert requests.delete(_url(emulators, path), headers=accounts[role].headers, timeout=10).status_code == 403
    else:  # a collection: no new document in it
        assert _write(emulators, f"{path}/new-doc", accounts["user"].token, {"content": "x"}) == 403


def test_the_sidebars_query_is_the_owners_only(emulators, accounts, docs) -> None:
    """The web sidebar's listener query (own conversations, newest first, a limit) as a client runs it: the owner only."""
    query = {
        "structuredQuery": {
            "from": [{"collectionId": "conversations"}],
            "orderBy": [{"field": {"fieldPath": "updatedAt"}, "direction": "DESCENDING"}],
            "limit": 51,
        }
    }

    def run(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(f"{_url(emulators, 'users/' + docs['uid'])}:runQuery", json=query, headers=headers, timeout=10).status_code

    assert run(accounts["user"].token) == 200
    for role in ("viewer", "admin"):
        assert run(accounts[role].token) == 403
    assert run(None) == 403


def test_audit_trail_read_only_for_admins(emulators, accounts, docs) -> None:
    from gateway import firebase

    assert _get(emulators, "audit/rules-audit", accounts["admin"].token) == 200
    for role in ("user", "viewer"):
        assert _get(emulators, "audit/rules-audit", accounts[role].token) == 403
    for role in ("admin", "user"):
        assert _write(emulators, "audit/rules-audit", accounts[role].token, {"actor": "me"}) == 403
    # An admin by users/{uid}.role (no claim) reads it too; a claim that says otherwise wins.
    promoted = emulators.sign_up(None)
    firebase.db().collection("users").document(promoted.uid).set({"role": "admin"})
    assert _get(emulators, "audit/rules-audit", promoted.token) == 200
    firebase.db().collection("users").document(docs["uid"]).set({"role": "admin"}, merge=True)
    assert _get(emulators, "audit/rules-audit", accounts["user"].token) == 403
    firebase.db().collection("users").document(docs["uid"]).set({"role": "user"}, merge=True)


@pytest.mark.parametrize("path", ["providers/rules-provider", "usage/{uid}", "users/{uid}/responses/resp_rules"])
def test_server_only_collections_are_closed(emulators, accounts, docs, path: str) -> None:
    path = path.format(uid=docs["uid"])
    for role in ("admin", "user", "viewer"):
        assert _get(emulators, path, accounts[role].token) == 403
        assert _write(emulators, path, accounts[role].token, {"x": "y"}) == 403


@pytest.fixture(scope="module")
def org_docs(emulators, accounts, docs) -> dict[str, str]:
    """Two organisations: the user account is a member of ``rules-org``, the viewer of ``rules-other``."""
    from gateway import firebase

    db = firebase.db()
    for org_id, uid in (("rules-org", accounts["user"].uid), ("rules-other", accounts["viewer"].uid)):
        db.collection("orgs").document(org_id).set({"name": org_id, "settings": {}})
        db.collection("orgs").document(org_id).collection("members").document(uid).set({"uid": uid, "role": "member"})
    return {"member": accounts["user"].uid, "other": accounts["viewer"].uid}


def test_a_member_reads_their_organisation_and_its_members(emulators, accounts, org_docs) -> None:
    token = accounts["user"].token
    assert _get(emulators, "orgs/rules-org", token) == 200
    assert _get(emulators, f"orgs/rules-org/members/{org_docs['member']}", token) == 200
    assert _get(emulators, "orgs/rules-org/members", token) == 200
    assert _get(emulators, "orgs/rules-org", accounts["admin"].token) == 200


def test_a_non_member_reads_no_organisation_nor_its_members(emulators, accounts, org_docs) -> None:
    token = accounts["user"].token
    assert _get(emulators, "orgs/rules-other", token) == 403
    assert _get(emulators, f"orgs/rules-other/members/{org_docs['other']}", token) == 403
    assert _get(emulators, "orgs/rules-other/members", token) == 403
    assert _get(emulators, "orgs/no-such-org", token) == 403  # the same answer: whether it exists is not told
    assert _get(emulators, "orgs", token) == 403
    assert _get(emulators, "orgs/rules-org", None) == 403


def test_nobody_writes_organisations_or_members(emulators, accounts, org_docs) -> None:
    for role in ("user", "admin"):
        token = accounts[role].token
        assert _write(emulators, "orgs/rules-org", token, {"name": "hacked"}) == 403
        assert _write(emulators, f"orgs/rules-org/members/{org_docs['member']}", token, {"role": "owner"}) == 403
        assert _write(emulators, f"orgs/rules-other/members/{accounts[role].uid}", token, {"role": "owner"}) == 403
        assert _write(emulators, "orgs/new-org", token, {"name": "mine"}) == 403
