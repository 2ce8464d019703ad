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


def test_migrate_secrets_moves_keys_out_of_the_secrets_old_documents_named(local, providers, accounts) -> None:
    """Documents from before the gateway named its secrets: their keys move into AI_GATEWAY_PROVIDER_<ID>, old secrets untouched."""
    import os

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager

    from conftest import KEYS
    from gateway import firebase, providers_store, secrets
    from seed import migrate_secrets

    client = secretmanager.SecretManagerServiceClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": f"http://{os.environ['SECRET_MANAGER_EMULATOR_HOST']}"}
    )
    parent = "projects/demo-ai-gateway"
    client.create_secret(request={"parent": parent, "secret_id": "OPENAI_API_KEY", "secret": {"replication": {"automatic": {}}}})
    client.add_secret_version(request={"parent": f"{parent}/secrets/OPENAI_API_KEY", "payload": {"data": KEYS["openai"].encode()}})
    client.delete_secret(request={"name": f"{parent}/secrets/AI_GATEWAY_PROVIDER_OPENAI"})
    db = firebase.db()
    db.collection("providers").document("openai").update({"secretName": "OPENAI_API_KEY", "keyVersion": None})
    db.collection("providers").document("gemini").update({"secretName": "GONE_API_KEY"})
    db.collection("providers").document("ollama").update({"secretName": None})
    providers_store.invalidate()
    secrets.forget()
    before = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=accounts["user"].headers)
    assert before.status_code == 502  # the old secretName is no longer read

    assert migrate_secrets.migrate(dry_run=True) == {"openai": "moved", "gemini": "no key found", "ollama": "renamed"}
    assert "secretName" in db.collection("providers").document("openai").get().to_dict()  # a dry run changes nothing
    assert migrate_secrets.migrate() == {"openai": "moved", "gemini": "no key found", "ollama": "renamed"}
    assert migrate_secrets.migrate() == {}  # once only
    openai = db.collection("providers").document("openai").get().to_dict()
    assert "secretName" not in openai and openai["hasKey"] is True and openai["keyVersion"]
    assert db.collection("providers").document("gemini").get().to_dict()["hasKey"] is False
    providers_store.invalidate()
    after = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=accounts["user"].headers)
    assert after.status_code == 200, after.get_data(as_text=True)
    old = client.access_secret_version(request={"name": f"{parent}/secrets/OPENAI_API_KEY/versions/latest"})
    assert old.payload.data.decode() == KEYS["openai"]  # read, never changed or deleted
