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


def test_seeding_a_real_project_only_adds_what_is_missing(emulators, clean, monkeypatch, capsys) -> None:
    """``load.py --project``: no loopback providers or their models, nothing existing updated or disabled, skips said.

    The target is the emulator standing in for the project (target.select would
    otherwise drop the emulator hosts and use Application Default Credentials).
    """
    from gateway import firebase
    from gateway.registry import registry
    from seed import load

    db = firebase.db()
    emulators.clear_firestore()
    registry().invalidate()
    # What an admin did in the project: enabled OpenAI behind a proxy, tuned a seed model, added their own.
    db.collection("providers").document("openai").set(
        {"type": "openai-compatible", "baseUrl": "https://llm-proxy.example.com/v1", "enabled": True, "secretName": "OPENAI_API_KEY"}
    )
    db.collection("models").document("openai-gpt-4o-mini").set(
        {"name": "gpt-4o-mini", "provider": "openai", "displayName": "Our assistant", "enabled": False, "config": {"systemPrompt": "Be nice"}}
    )
    registry().invalidate()
    monkeypatch.setattr(load.target, "select", lambda project: f"emulators standing in for project {project}")
    monkeypatch.setattr("sys.argv", ["load.py", "--project", "acme-prod"])

    load.main()
    out = capsys.readouterr().out
    seeds = {p["id"]: p for p in json.loads((Path(load.DATA) / "providers.json").read_text())}
    models = json.loads((Path(load.DATA) / "models.json").read_text())
    providers = {d.id: d.to_dict() for d in db.collection("providers").stream()}
    stored = {d.id: d.to_dict() for d in db.collection("models").stream()}

    assert set(providers) == set(seeds) - {"lmstudio", "ollama"}
    assert providers["openai"]["enabled"] is True and providers["openai"]["baseUrl"] == "https://llm-proxy.example.com/v1"
    assert all(providers[p]["enabled"] is False for p in providers if p != "openai")
    assert set(stored) == {m["id"] for m in models if m["provider"] not in ("lmstudio", "ollama")}
    assert stored["openai-gpt-4o-mini"]["displayName"] == "Our assistant" and stored["openai-gpt-4o-mini"]["enabled"] is False
    for line in (
        "skipped provider lmstudio: http://localhost:1234/v1 is a loopback address",
        "skipped provider ollama: http://localhost:11434 is a loopback address",
        "skipped model lmstudio-local: its provider lmstudio is local only",
        "skipped model ollama-llama3.2: its provider ollama is local only",
        "kept provider openai as it is: it exists",
        "kept model openai-gpt-4o-mini as it is: it exists",
    ):
        assert f"seed: {line}" in out, (line, out)
    assert f"seed: {len(seeds) - 3} provider(s) and {len(stored) - 1} model(s) written" in out

    # Run again (CI): nothing written, nothing changed, every seed reported as kept or skipped.
    from google.cloud.firestore_v1.base_query import FieldFilter

    # Counted by the seed's actor: the console-audit trigger may still be recording the deletes of an earlier test's models.
    audits = len(list(db.collection("audit").where(filter=FieldFilter("actor", "==", "seed")).stream()))
    assert load.load_all(real_project=True) == (0, 0)
    assert {d.id: d.to_dict() for d in db.collection("providers").stream()} == providers
    assert {d.id: d.to_dict() for d in db.collection("models").stream()} == stored
    assert len(list(db.collection("audit").where(filter=FieldFilter("actor", "==", "seed")).stream())) == audits
    again = capsys.readouterr().out
    assert again.count("seed: kept provider") == len(providers) and again.count("seed: kept model") == len(stored)


def test_local_seed_still_repairs_the_dev_stack(emulators, clean) -> None:
    """Without --project the seed is the truth: loopback providers enabled, an edited seed model put back."""
    from gateway import firebase
    from gateway.registry import registry
    from seed import load

    db = firebase.db()
    load.load_all()
    db.collection("models").document("ollama-llama3.2").update({"displayName": "edited"})
    db.collection("providers").document("ollama").update({"enabled": False})
    registry().invalidate()
    assert load.load_all() == (1, 1)
    assert db.collection("providers").document("ollama").get().to_dict()["enabled"] is True
    assert db.collection("models").document("ollama-llama3.2").get().to_dict()["displayName"] != "edited"


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


def test_audit_backfill_names_people_and_drops_key_bindings(emulators, accounts, clean) -> None:
    """Records from before actorEmail and before keyBinding was kept out: an operator's one run brings them up to date."""
    from gateway import firebase
    from seed import audit_backfill

    audit = firebase.db().collection("audit")
    admin = accounts["admin"]
    audit.document("old-admin").set({"actor": admin.uid, "action": "update", "collection": "providers", "docId": "p",
                                     "before": {"baseUrl": "a", "keyBinding": "f" * 64}, "after": {"baseUrl": "b", "keyBinding": "e" * 64}})
    audit.document("old-gone").set({"actor": "no-such-uid-anymore", "action": "delete", "collection": "models", "docId": "m", "before": {"name": "x"}, "after": None})
    audit.document("console").set({"actor": "console", "action": "create", "collection": "models", "docId": "c", "before": None, "after": {"name": "y"}})

    assert audit_backfill.backfill(dry_run=True) == {"emails": 1, "scrubbed": 1}
    assert "actorEmail" not in audit.document("old-admin").get().to_dict()  # a dry run changes nothing
    assert audit_backfill.backfill() == {"emails": 1, "scrubbed": 1}
    fixed = audit.document("old-admin").get().to_dict()
    assert fixed["actorEmail"] == admin.email
    assert fixed["before"] == {"baseUrl": "a"} and fixed["after"] == {"baseUrl": "b"}
    assert "actorEmail" not in audit.document("old-gone").get().to_dict()  # Auth no longer knows it: it stays a uid
    assert audit.document("console").get().to_dict() == {"actor": "console", "action": "create", "collection": "models", "docId": "c", "before": None, "after": {"name": "y"}}
    assert audit_backfill.backfill() == {"emails": 0, "scrubbed": 0}  # once only
