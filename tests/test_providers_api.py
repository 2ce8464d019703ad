"""providers: admin CRUD with keys in Secret Manager, 409 on dependents, live tests, discovery, import."""

from __future__ import annotations

import json
from typing import Any

import pytest


def _call(local, account, method: str, path: str = "/", **kwargs: Any) -> Any:
    return local("providers").open(path, method=method, headers=account.headers, **kwargs)


def _audits(collection: str, doc_id: str) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import firebase

    query = firebase.db().collection("audit").where(filter=FieldFilter("docId", "==", doc_id))
    return sorted((r.to_dict() for r in query.stream() if r.to_dict()["collection"] == collection), key=lambda r: r["at"])


def test_crud_with_key_in_secret_manager(local, providers, accounts, capsys) -> None:
    from gateway import firebase, secrets

    admin = accounts["admin"]
    key = "sk-brand-new-key-0123456789"
    body = {"id": "acme", "type": "openai-compatible", "baseUrl": f"{providers['openai'].url}/v1", "apiKey": key, "headers": {"X-Team": "ai"}}
    created = _call(local, admin, "POST", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["secretName"] == "ACME_API_KEY" and created.get_json()["hasKey"] is True
    stored = firebase.db().collection("providers").document("acme").get().to_dict()
    assert secrets.refresh("ACME_API_KEY") == key

    listed = _call(local, admin, "GET").get_json()["providers"]
    assert "acme" in {p["id"] for p in listed}
    patched = _call(local, admin, "PATCH", "/acme", json={"displayName": "Acme AI", "headers": None})
    assert patched.status_code == 200 and patched.get_json()["displayName"] == "Acme AI" and patched.get_json()["headers"] == {}
    assert patched.get_json()["hasKey"] is True
    replaced = _call(local, admin, "PUT", "/acme", json={"type": "openai-compatible", "baseUrl": "https://example.com/v1", "secretName": "ACME_API_KEY"})
    assert replaced.status_code == 200 and replaced.get_json()["baseUrl"] == "https://example.com/v1"
    assert _call(local, admin, "DELETE", "/acme").status_code == 200
    assert _call(local, admin, "GET", "/acme").status_code == 404
    assert [r["action"] for r in _audits("providers", "acme")] == ["create", "update", "update", "delete"]

    out = capsys.readouterr()
    everything = json.dumps(stored, default=str) + created.get_data(as_text=True) + patched.get_data(as_text=True) + out.out + out.err
    audits = json.dumps(_audits("providers", "acme"), default=str)
    assert key not in everything and key not in audits


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"baseUrl": "ftp://example.com"}, "baseUrl"),
        ({"baseUrl": "http://user@evil.example"}, "baseUrl"),
        ({"type": "carrier-pigeon"}, "type"),
        ({"headers": {"Authorization": "Bearer x"}}, "headers"),
        ({"headers": {"x-api-key": "k"}}, "headers"),
        ({"apiKey": "short"}, "apiKey"),
        ({"id": "Bad Id"}, "id"),
        ({"hasKey": True}, "hasKey"),
        # found by the fuzz run: each was sent as a header and was a 500 (httpx refuses non-ASCII) on every call to the provider
        ({"headers": {"X-Team": "équipe"}}, "headers"),
        ({"type": "openrouter", "appTitle": "Démo"}, "appTitle"),
        ({"type": "openrouter", "appUrl": "https://exemple.fr/démo"}, "appUrl"),
        ({"apiKey": "sk-clé-secrète-123"}, "apiKey"),
    ],
)
def test_invalid_providers_are_400(local, providers, accounts, body: dict[str, Any], field: str) -> None:
    response = _call(local, accounts["admin"], "POST", json={"id": "newone", "type": "ollama", "baseUrl": "http://localhost:11434", **body})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(f"{field}:")


def test_only_admins(local, providers, accounts) -> None:
    for role in ("user", "viewer"):
        assert _call(local, accounts[role], "GET").status_code == 403
        assert _call(local, accounts[role], "POST", "/openai/test").status_code == 403
    assert local("providers").get("/").status_code == 401


def test_duplicate_is_409(local, providers, accounts) -> None:
    response = _call(local, accounts["admin"], "POST", json={"id": "openai", "type": "openai", "baseUrl": "https://api.openai.com/v1"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "ALREADY_EXISTS"


def test_delete_refused_while_models_use_it_unless_cascade(local, providers, accounts) -> None:
    from gateway.registry import registry

    admin = accounts["admin"]
    refused = _call(local, admin, "DELETE", "/ollama")
    assert refused.status_code == 409 and refused.get_json()["error"]["details"]["models"] == ["ollama-chat"]
    done = _call(local, admin, "DELETE", "/ollama", query_string={"cascade": "true"})
    assert done.status_code == 200 and done.get_json()["disabledModels"] == ["ollama-chat"]
    registry().invalidate()
    assert registry().get("ollama-chat").enabled is False
    assert [r["action"] for r in _audits("models", "ollama-chat")][-1] == "update"


def test_live_test_reports_and_saves(local, providers, accounts) -> None:
    from gateway import firebase

    admin = accounts["admin"]
    report = _call(local, admin, "POST", "/anthropic/test").get_json()
    assert report == {**report, "reachable": True, "authValid": True, "modelCount": 1, "status": "healthy"}
    assert report["latencyMs"] >= 0
    stored = firebase.db().collection("providers").document("anthropic").get().to_dict()
    assert stored["healthStatus"] == "healthy" and stored["lastHealthCheck"]

    providers["gemini"].state["key"] = "rotated-elsewhere"
    bad_key = _call(local, admin, "POST", "/gemini/test").get_json()
    assert bad_key["authValid"] is False and bad_key["status"] == "unhealthy"

    firebase.db().collection("providers").document("lmstudio").update({"baseUrl": "http://127.0.0.1:9/v1"})
    unreachable = _call(local, admin, "POST", "/lmstudio/test").get_json()
    assert unreachable["reachable"] is False and unreachable["status"] == "unhealthy"
    assert _call(local, admin, "POST", "/nope/test").status_code == 404


def test_discovery_is_normalised_and_cached(local, providers, accounts) -> None:
    admin = accounts["admin"]
    openrouter = _call(local, admin, "GET", "/openrouter/models").get_json()["models"]
    assert openrouter[0] == {"name": "fake-model", "displayName": "Fake-Model", "contextLength": 128000, "pricing": {"inputPer1M": 0.15, "outputPer1M": 0.6}}
    seen = len(providers["openrouter"].state["requests"])
    _call(local, admin, "GET", "/openrouter/models")
    assert len(providers["openrouter"].state["requests"]) == seen
    _call(local, admin, "GET", "/openrouter/models", query_string={"refresh": "true"})
    assert len(providers["openrouter"].state["requests"]) == seen + 1
    assert [m["name"] for m in _call(local, admin, "GET", "/ollama/models").get_json()["models"]] == ["llama3.2:latest"]
    assert [m["name"] for m in _call(local, admin, "GET", "/gemini/models").get_json()["models"]] == ["gemini-fake"]
    assert [m["displayName"] for m in _call(local, admin, "GET", "/anthropic/models").get_json()["models"]] == ["Claude Fake"]


def test_import_creates_and_updates_in_one_audited_batch(local, providers, accounts) -> None:
    from gateway.registry import registry

    admin = accounts["admin"]
    result = _call(local, admin, "POST", "/openrouter/models/import", json={"models": [{"name": "fake-model"}, {"name": "fake-model-large", "id": "big-one", "enabled": True}]})
    assert result.status_code == 200, result.get_data(as_text=True)
    assert result.get_json() == {"created": ["openrouter-fake-model", "big-one"], "updated": []}
    model = registry().get("openrouter-fake-model")
    assert model is not None and model.enabled is False and model.pricing.inputPer1M == 0.15 and model.provider == "openrouter"
    assert registry().get("big-one").enabled is True
    again = _call(local, admin, "POST", "/openrouter/models/import", json={"models": [{"name": "fake-model", "displayName": "Renamed"}]}).get_json()
    assert again == {"created": [], "updated": ["openrouter-fake-model"]}
    assert registry().get("openrouter-fake-model").displayName == "Renamed"
    assert [r["action"] for r in _audits("models", "openrouter-fake-model")] == ["create", "update"]

    unknown = _call(local, admin, "POST", "/openrouter/models/import", json={"models": [{"name": "not-there"}]})
    assert unknown.status_code == 400 and unknown.get_json()["error"]["message"].startswith("models.0.name:")
    bad_type = _call(local, admin, "POST", "/openrouter/models/import", json={"models": [{"name": "fake-model", "type": "video"}]})
    assert bad_type.status_code == 400 and bad_type.get_json()["error"]["message"].startswith("models.0.type:")


@pytest.mark.parametrize(
    ("item", "field"), [({"name": ["fake-model"]}, "models.0.name"), ({"name": {"a": 1}}, "models.0.name"), ({"name": "fake-model", "bogus": 1}, "models.0.bogus")]
)
def test_import_items_are_validated_before_discovery(local, providers, accounts, item: dict[str, Any], field: str) -> None:
    """Found by the fuzz run: a non-string name was a 500 (unhashable), an unknown item field was silently ignored."""
    response = _call(local, accounts["admin"], "POST", "/openrouter/models/import", json={"models": [item]})
    assert response.status_code == 400 and response.get_json()["error"]["details"]["fields"][0]["field"] == field


@pytest.mark.parametrize(("method", "path"), [("GET", "/__x__"), ("DELETE", "/__x__"), ("POST", "/__x__/test"), ("GET", "/__x__/models")])
def test_ids_firestore_refuses_are_a_400_naming_id(local, providers, accounts, method: str, path: str) -> None:
    response = _call(local, accounts["admin"], method, path)
    assert response.status_code == 400 and response.get_json()["error"]["details"]["fields"][0]["field"] == "id"


def test_broken_console_document_is_a_clear_409_and_can_be_fixed_or_deleted(local, providers, accounts) -> None:
    from gateway import firebase

    admin = accounts["admin"]
    firebase.db().collection("providers").document("broken").set({"type": "carrier-pigeon", "baseUrl": "not a url"})
    got = _call(local, admin, "GET", "/broken")
    assert got.status_code == 409 and got.get_json()["error"]["code"] == "CONFLICT"
    assert "broken" not in {p["id"] for p in _call(local, admin, "GET").get_json()["providers"]}
    assert _call(local, admin, "POST", "/broken/test").status_code == 409
    fixed = _call(local, admin, "PUT", "/broken", json={"type": "ollama", "baseUrl": "http://localhost:11434"})
    assert fixed.status_code == 200 and _call(local, admin, "GET", "/broken").status_code == 200
    firebase.db().collection("providers").document("broken").set({"type": "carrier-pigeon"})
    assert _call(local, admin, "DELETE", "/broken").status_code == 200
    assert _call(local, admin, "DELETE", "/broken").status_code == 404
