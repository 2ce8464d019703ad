"""Seed loading is idempotent and audited; set_role changes the claim a new token carries."""

from __future__ import annotations

import json
from pathlib import Path


def test_load_is_idempotent_and_valid(emulators, clean) -> None:
    from gateway import firebase
    from gateway.registry import registry
    from seed import load

    emulators.clear_firestore()
    registry().invalidate()
    first = load.load_all(actor="seed")
    seeds = json.loads((Path(load.DATA) / "models.json").read_text())
    assert first == (7, len(seeds))
    assert load.load_all(actor="seed") == (0, 0)
    registry().invalidate()
    assert set(registry().all()) == {m["id"] for m in seeds}
    audits = [a.to_dict() for a in firebase.db().collection("audit").stream()]
    assert len([a for a in audits if a["actor"] == "seed"]) == 7 + len(seeds)


def test_set_role_reaches_the_next_token(local, clean, emulators) -> None:
    from gateway import auth as gateway_auth
    from seed.set_role import set_role

    account = emulators.sign_up(role="viewer")
    assert local("models").post("/", json={"id": "x"}, headers=account.headers).status_code == 403
    set_role("admin", email=account.email)
    fresh = {"Authorization": f"Bearer {emulators.sign_in(account.email)}"}
    gateway_auth.forget(account.uid)
    assert local("models").post("/", json={"id": "x"}, headers=fresh).status_code == 400  # admin: validation
