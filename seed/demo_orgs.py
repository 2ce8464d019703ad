"""Two demo organisations for `make dev`, so a newcomer sees isolation at work (emulators only).

- ``acme`` (Acme Corp): owner alice@acme.test; its own provider ``demo`` (the
  demo upstream, its key in the org's own secret) and model ``acme-chat``;
  shares the project-wide ``demo-chat`` and ``demo-image``; a $5 daily cap.
- ``globex`` (Globex Inc): owner bob@globex.test; its own ``demo`` provider
  and model ``globex-chat``; shares nothing.
- user@demo.test is a member of both (the web app's switcher shows each
  one's models and conversations); admin@demo.test, a project admin, manages
  all of them.

Written as the gateway writes (each document with its audit record), with the
demo accounts' password. Never loaded into a real project.
"""

from __future__ import annotations

import os
from typing import Any

PASSWORD = "demo-password"
ORGS: dict[str, dict[str, Any]] = {
    "acme": {
        "name": "Acme Corp",
        "owner": "alice@acme.test",
        "settings": {"dailyCostUsd": 5.0, "sharedModels": ["demo-chat", "demo-image"],
                     "defaultQuotas": {"member": {"dailyTokens": 200_000}}},
        "model": {"id": "acme-chat", "name": "acme-chat", "displayName": "Acme assistant (local)"},
    },
    "globex": {
        "name": "Globex Inc",
        "owner": "bob@globex.test",
        "settings": {"sharedModels": []},
        "model": {"id": "globex-chat", "name": "globex-chat", "displayName": "Globex assistant (local)"},
    },
}
MEMBER = "user@demo.test"


def _account(email: str) -> str:
    """The uid of ``email`` in the Auth emulator, created (project role ``user``) if missing."""
    from firebase_admin import auth

    from gateway import firebase

    app = firebase.app()
    try:
        user = auth.get_user_by_email(email, app=app)
        auth.update_user(user.uid, password=PASSWORD, app=app)
    except auth.UserNotFoundError:
        user = auth.create_user(email=email, password=PASSWORD, email_verified=True, app=app)
        auth.set_custom_user_claims(user.uid, {"role": "user"}, app=app)
        firebase.db().collection("users").document(user.uid).set({"email": email, "role": "user"}, merge=True)
    return str(user.uid)


def _put(batch: Any, collection: str, doc_id: str, data: dict[str, Any], actor: str) -> None:
    """``data`` at ``collection/doc_id`` with its audit record, keeping ``createdAt``/``addedAt`` of a document already there."""
    from gateway import audit, firebase

    snap = firebase.db().collection(collection).document(doc_id).get()
    before = snap.to_dict() if snap.exists else None
    kept = {k: before[k] for k in ("createdAt", "addedAt") if before and k in before and k in data}
    audit.add_to_batch(batch, collection, doc_id, actor, "create" if before is None else "update", before, {**data, **kept})


def create_all(demo_url: str, actor: str = "seed") -> list[tuple[str, str]]:
    """Create (or reset) both organisations; the accounts to sign in with and what each one is."""
    from gateway import audit, firebase, secrets
    from gateway.schemas import key_binding
    from seed.demo_provider import KEY, MODELS

    if not os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
        raise SystemExit("demo organisations are for the emulators only")
    db, at = firebase.db(), audit.now()
    member_uid = _account(MEMBER)
    chat = next(m for m in MODELS if m["id"] == "demo-chat")
    accounts: list[tuple[str, str]] = []
    for org, spec in ORGS.items():
        owner_uid = _account(spec["owner"])
        batch = db.batch()
        _put(batch, "orgs", org, {"name": spec["name"], "settings": spec["settings"], "createdAt": at, "createdBy": actor}, actor)
        for uid, email, role in ((owner_uid, spec["owner"], "owner"), (member_uid, MEMBER, "member")):
            _put(batch, f"orgs/{org}/members", uid, {"uid": uid, "role": role, "email": email, "addedAt": at, "addedBy": actor}, actor)
        version = secrets.put(secrets.name_for("demo", org=org), KEY)
        provider = {"type": "openai-compatible", "displayName": f"{spec['name']} demo (local)", "baseUrl": f"{demo_url}/v1",
                    "enabled": True, "hasKey": True, "keyVersion": version, "createdAt": at, "updatedAt": at}
        provider["keyBinding"] = key_binding(KEY, "demo", provider)
        _put(batch, f"orgs/{org}/providers", "demo", provider, actor)
        model = {**chat, **spec["model"], "provider": "demo", "createdAt": at, "createdBy": actor, "updatedAt": at, "updatedBy": actor}
        _put(batch, f"orgs/{org}/models", model.pop("id"), model, actor)
        batch.commit()
        accounts.append((spec["owner"], f"owner of {org}"))
    accounts.append((MEMBER, "member of " + " and ".join(ORGS)))
    return accounts
