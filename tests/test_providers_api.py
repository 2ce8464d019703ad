"""providers: admin CRUD with keys in Secret Manager, 409 on dependents, live tests, discovery, import."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
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
    assert created.get_json()["secretName"] == "AI_GATEWAY_PROVIDER_ACME" and created.get_json()["hasKey"] is True
    stored = firebase.db().collection("providers").document("acme").get().to_dict()
    assert "secretName" not in stored  # named by the gateway, never by the document
    secrets.forget()
    assert secrets.get("AI_GATEWAY_PROVIDER_ACME") == key

    listed = _call(local, admin, "GET").get_json()["providers"]
    assert "acme" in {p["id"] for p in listed}
    patched = _call(local, admin, "PATCH", "/acme", json={"displayName": "Acme AI", "headers": None})
    assert patched.status_code == 200 and patched.get_json()["displayName"] == "Acme AI" and patched.get_json()["headers"] == {}
    assert patched.get_json()["hasKey"] is True
    moved = _call(local, admin, "PUT", "/acme", json={"type": "openai-compatible", "baseUrl": "https://example.com/v1"})
    assert moved.status_code == 400 and moved.get_json()["error"]["details"]["fields"][0]["field"] == "apiKey"
    replaced = _call(local, admin, "PUT", "/acme", json={"type": "openai-compatible", "baseUrl": "https://example.com/v1", "apiKey": None})
    assert replaced.status_code == 200 and replaced.get_json()["baseUrl"] == "https://example.com/v1"
    assert replaced.get_json()["hasKey"] is False and replaced.get_json()["keyVersion"] is None
    assert _call(local, admin, "DELETE", "/acme").status_code == 200
    assert _call(local, admin, "GET", "/acme").status_code == 404
    assert [r["action"] for r in _audits("providers", "acme")] == ["create", "update", "update", "delete"]

    out = capsys.readouterr()
    everything = json.dumps(stored, default=str) + created.get_data(as_text=True) + patched.get_data(as_text=True) + out.out + out.err
    audits = json.dumps(_audits("providers", "acme"), default=str)
    assert key not in everything and key not in audits
    # the key's HMAC binding is a guessing oracle for a weak key: no audit record keeps it
    assert "keyBinding" not in audits and "keyBinding" in stored
    assert {r["actorEmail"] for r in _audits("providers", "acme")} == {admin.email}


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
        ({"secretName": "STRIPE_WEBHOOK_SECRET"}, "secretName"),
        ({"secretName": "PATH"}, "secretName"),
        ({"secretName": None}, "secretName"),
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
    assert result.get_json() == {"created": ["openrouter-fake-model", "big-one"], "updated": [], "org": None}
    model = registry().get("openrouter-fake-model")
    assert model is not None and model.enabled is False and model.pricing.inputPer1M == 0.15 and model.provider == "openrouter"
    assert registry().get("big-one").enabled is True
    again = _call(local, admin, "POST", "/openrouter/models/import", json={"models": [{"name": "fake-model", "displayName": "Renamed"}]}).get_json()
    assert again == {"created": [], "updated": ["openrouter-fake-model"], "org": None}
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


# -- Keys go to the gateway's own secrets, and only to the addresses they were stored for ------------------------


class _Capture(BaseHTTPRequestHandler):
    """Any host an admin might type: answers every request like an empty model list and records every header it was sent."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # the body, so a kept-alive connection stays in step
        self.server.state["requests"].append({"path": self.path, "headers": dict(self.headers.items())})  # type: ignore[attr-defined]
        body = b'{"data": [], "models": [], "object": "list"}'
        if self.server.state.get("status") == 401:  # type: ignore[attr-defined]
            body = b'{"error": {"message": "invalid api key"}}'
        self.send_response(self.server.state.get("status", 200))  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def capture() -> Any:
    from fakes.server import FakeServer

    with FakeServer(_Capture, requests=[]) as server:
        yield server


def _sent(capture: Any) -> str:
    """Every header value the capture server received, as one text to search."""
    return json.dumps([r["headers"] for r in capture.state["requests"]])


def test_a_stored_key_is_never_sent_to_a_new_host(local, providers, accounts, capture) -> None:
    """Review finding: PATCH baseUrl to a capture server, then POST /test, delivered the stored key. Now the move needs the key again."""
    from conftest import KEYS

    admin = accounts["admin"]
    for method, body in (
        ("PATCH", {"baseUrl": f"{capture.url}/v1"}),
        ("PATCH", {"healthCheckUrl": f"{capture.url}/v1/models"}),
        ("PATCH", {"imageBaseUrl": f"{capture.url}/v1"}),
        ("PATCH", {"allowedHosts": ["capture.example"]}),
        ("PUT", {"type": "openai", "baseUrl": f"{capture.url}/v1"}),
    ):
        refused = _call(local, admin, method, "/openai", json=body)
        assert refused.status_code == 400, (body, refused.get_data(as_text=True))
        assert refused.get_json()["error"]["details"]["fields"][0]["field"] == "apiKey"
    assert _call(local, admin, "POST", "/openai/test").get_json()["status"] == "healthy"  # still at its own host, with its key
    assert capture.state["requests"] == []

    dropped = _call(local, admin, "PATCH", "/openai", json={"baseUrl": f"{capture.url}/v1", "apiKey": None})
    assert dropped.status_code == 200 and dropped.get_json()["hasKey"] is False
    _call(local, admin, "POST", "/openai/test")
    assert capture.state["requests"], "the test must reach the new host"
    assert KEYS["openai"] not in _sent(capture)

    # delete and create again under the same id, at the capture server: the secret left behind is not used
    assert _call(local, admin, "DELETE", "/anthropic", query_string={"cascade": "true"}).status_code == 200
    recreated = _call(local, admin, "POST", json={"id": "anthropic", "type": "anthropic", "baseUrl": capture.url})
    assert recreated.status_code == 201 and recreated.get_json()["hasKey"] is False
    seen = len(capture.state["requests"])
    _call(local, admin, "POST", "/anthropic/test")
    assert len(capture.state["requests"]) > seen and KEYS["anthropic"] not in _sent(capture)

    moved = _call(local, admin, "PATCH", "/gemini", json={"baseUrl": f"{capture.url}/v1beta", "apiKey": "sk-given-with-the-move-0123"})
    assert moved.status_code == 200 and moved.get_json()["hasKey"] is True  # the admin sent a key for the new host: that one goes
    _call(local, admin, "POST", "/gemini/test")
    assert "sk-given-with-the-move-0123" in _sent(capture) and KEYS["gemini"] not in _sent(capture)


def test_a_console_edit_cannot_move_a_stored_key(local, providers, accounts, capture) -> None:
    """The key is bound to the addresses it was stored for: moving a provider past the API (the console) leaves its key unused."""
    from conftest import KEYS
    from gateway import firebase, providers_store

    admin, user = accounts["admin"], accounts["user"]
    doc = firebase.db().collection("providers").document("openai")
    doc.update({"baseUrl": f"{capture.url}/v1"})  # a console edit: Firestore only, no key
    providers_store.invalidate()
    report = _call(local, admin, "POST", "/openai/test").get_json()
    assert report["keyError"] == "unbound" and "store the key again" in report["error"], report
    generated = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=user.headers)
    assert generated.status_code == 502 and "secret" not in generated.get_data(as_text=True).lower(), generated.get_data(as_text=True)
    doc.update({"keyBinding": "0" * 64})  # nor can the console forge a binding without the key
    providers_store.invalidate()
    _call(local, admin, "POST", "/openai/test")
    local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=user.headers)
    # nor turn it into a type that needs no key, at a host that answers 401 (once, a 401 re-read the key and sent it)
    doc.update({"type": "lmstudio"})
    providers_store.invalidate()
    capture.state["status"] = 401
    local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=user.headers)
    assert capture.state["requests"], "the keyless type must reach the new host"
    assert KEYS["openai"] not in _sent(capture)
    capture.state["status"] = 200
    doc.update({"type": "openai"})

    stored = _call(local, admin, "PATCH", "/openai", json={"apiKey": "sk-stored-for-the-capture-0123"})  # the key again, through the API
    assert stored.status_code == 200 and "keyBinding" not in stored.get_json()
    _call(local, admin, "POST", "/openai/test")
    assert "sk-stored-for-the-capture-0123" in _sent(capture)


def test_no_document_can_point_at_another_secret_or_the_environment(local, providers, accounts, capture, monkeypatch) -> None:
    """Review finding: secretName was free text, so /test sent another team's secret, or PATH and FIREBASE_CONFIG, to any host."""
    import os

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager

    from gateway import firebase, providers_store, secrets

    planted = "whsec-another-teams-secret-0123456789"
    client = secretmanager.SecretManagerServiceClient(
        transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": f"http://{os.environ['SECRET_MANAGER_EMULATOR_HOST']}"}
    )
    parent = "projects/demo-ai-gateway"
    client.create_secret(request={"parent": parent, "secret_id": "STRIPE_WEBHOOK_SECRET", "secret": {"replication": {"automatic": {}}}})
    client.add_secret_version(request={"parent": f"{parent}/secrets/STRIPE_WEBHOOK_SECRET", "payload": {"data": planted.encode()}})
    monkeypatch.setenv("FIREBASE_CONFIG", '{"projectId":"demo-ai-gateway","storageBucket":"config-0123456789"}')
    admin = accounts["admin"]

    base = {"type": "openai-compatible", "baseUrl": f"{capture.url}/v1"}
    for name in ("STRIPE_WEBHOOK_SECRET", "PATH", "FIREBASE_CONFIG"):
        refused = _call(local, admin, "POST", json={"id": "thief", **base, "secretName": name})
        assert refused.status_code == 400 and refused.get_json()["error"]["details"]["fields"][0]["field"] == "secretName"
        refused = _call(local, admin, "PATCH", "/openai", json={"secretName": name})
        assert refused.status_code == 400 and refused.get_json()["error"]["details"]["fields"][0]["field"] == "secretName"

    # documents written past the API (the console, an old version) that name a secret: the name is ignored
    for doc_id, name in (("stripe", "STRIPE_WEBHOOK_SECRET"), ("path", "PATH"), ("config", "FIREBASE_CONFIG")):
        firebase.db().collection("providers").document(doc_id).set({**base, "enabled": True, "secretName": name, "hasKey": True})
    providers_store.invalidate()
    secrets.forget()
    for doc_id in ("stripe", "path", "config"):
        assert _call(local, admin, "GET", f"/{doc_id}").get_json()["secretName"] == f"AI_GATEWAY_PROVIDER_{doc_id.upper()}"
        _call(local, admin, "POST", f"/{doc_id}/test")
    assert len(capture.state["requests"]) >= 3
    sent = _sent(capture)
    for value in (planted, os.environ["PATH"], os.environ["FIREBASE_CONFIG"], "config-0123456789"):
        assert value not in sent
    secrets.forget()
    assert secrets.get("AI_GATEWAY_PROVIDER_STRIPE") is None  # and nothing was written anywhere else either
    version = client.access_secret_version(request={"name": f"{parent}/secrets/STRIPE_WEBHOOK_SECRET/versions/latest"})
    assert version.payload.data.decode() == planted


def test_ids_sharing_a_secret_name_are_refused(local, providers, accounts) -> None:
    admin = accounts["admin"]
    assert _call(local, admin, "POST", json={"id": "my-llm", "type": "ollama", "baseUrl": "http://localhost:11434"}).status_code == 201
    clash = _call(local, admin, "POST", json={"id": "my_llm", "type": "ollama", "baseUrl": "http://localhost:11434"})
    assert clash.status_code == 409 and clash.get_json()["error"]["details"]["conflictsWith"] == "my-llm"
