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
    return {"uid": uid, "other": other}


def _url(emulators, path: str) -> str:
    return f"{emulators.firestore}/v1/projects/{emulators.project}/databases/(default)/documents/{path}"


def _get(emulators, path: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(_url(emulators, path), headers=headers, timeout=10).status_code


def _write(emulators, path: str, token: str | None, fields: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"fields": {k: {"stringValue": str(v)} for k, v in fields.items()}}
    return requests.patch(_url(emulators, path), json=body, headers=headers, timeout=10).status_code


def test_models_readable_when_enabled_by_signed_in_users(emulators, accounts, docs) -> None:
    token = accounts["user"].token
    assert _get(emulators, "models/rules-enabled", token) == 200
    assert _get(emulators, "models/rules-disabled", token) == 403
    assert _get(emulators, "models/rules-enabled", None) == 403
    assert _write(emulators, "models/rules-enabled", accounts["admin"].token, {"name": "hacked"}) == 403


def test_own_user_document(emulators, accounts, docs) -> None:
    token = accounts["user"].token
    assert _get(emulators, f"users/{docs['uid']}", token) == 200
    assert _get(emulators, f"users/{docs['other']}", token) == 403
    assert _get(emulators, f"users/{docs['uid']}", None) == 403
    # Own profile fields may change; role and disabled never.
    assert _write(emulators, f"users/{docs['uid']}?updateMask.fieldPaths=displayName", token, {"displayName": "New"}) == 200
    assert _write(emulators, f"users/{docs['uid']}?updateMask.fieldPaths=role", token, {"role": "admin"}) == 403
    assert _write(emulators, f"users/{docs['uid']}?updateMask.fieldPaths=disabled", token, {"disabled": "false"}) == 403
    assert _write(emulators, f"users/{docs['other']}?updateMask.fieldPaths=displayName", token, {"displayName": "x"}) == 403


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


@pytest.mark.parametrize("path", ["providers/rules-provider", "usage/{uid}"])
def test_server_only_collections_are_closed(emulators, accounts, docs, path: str) -> None:
    path = path.format(uid=docs["uid"])
    for role in ("admin", "user", "viewer"):
        assert _get(emulators, path, accounts[role].token) == 403
        assert _write(emulators, path, accounts[role].token, {"x": "y"}) == 403
