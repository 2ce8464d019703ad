"""The models function over HTTP through the Functions emulator: CRUD, audit, roles, validation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from conftest import eventually


def _spec(**overrides: Any) -> dict[str, Any]:
    spec = {
        "id": f"m-{uuid.uuid4().hex[:10]}",
        "name": "llama3.2",
        "displayName": "Llama test",
        "provider": "ollama",
        "type": "text",
        "config": {"temperature": 0.5, "maxTokens": 256, "maxTokensLimit": 4096},
        "pricing": {"inputPer1M": 0.1, "outputPer1M": 0.2},
        "capabilities": ["chat"],
    }
    spec.update(overrides)
    return spec


def _audits(doc_id: str) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import firebase

    records = firebase.db().collection("audit").where(filter=FieldFilter("docId", "==", doc_id)).stream()
    return sorted((r.to_dict() for r in records), key=lambda r: r["at"])


@pytest.fixture(scope="module")
def seeded(emulators) -> None:
    from seed import load

    load.load_providers(actor="test")


def test_crud_round_trip_with_audit(emulators, accounts, seeded) -> None:
    admin = accounts["admin"].headers
    url = emulators.url("models")
    spec = _spec()
    model_id = spec["id"]

    created = requests.post(url, json=spec, headers=admin, timeout=30)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == model_id and body["createdBy"] == accounts["admin"].uid
    assert "lastAuditId" not in body

    got = requests.get(f"{url}/{model_id}", headers=accounts["user"].headers, timeout=30)
    assert got.status_code == 200 and got.json()["config"]["maxTokens"] == 256

    replaced = requests.put(f"{url}/{model_id}", json={**spec, "name": "llama3.3"}, headers=admin, timeout=30)
    assert replaced.status_code == 200 and replaced.json()["name"] == "llama3.3"
    assert replaced.json()["createdAt"] == body["createdAt"]

    patched = requests.patch(f"{url}/{model_id}", json={"config": {"temperature": 1.5}, "pricing": None}, headers=admin, timeout=30)
    assert patched.status_code == 200, patched.text
    assert patched.json()["config"] == {"temperature": 1.5, "maxTokens": 256, "maxTokensLimit": 4096}
    assert patched.json()["pricing"] is None

    deleted = requests.delete(f"{url}/{model_id}", headers=admin, timeout=30)
    assert deleted.status_code == 204
    assert requests.get(f"{url}/{model_id}", headers=admin, timeout=30).status_code == 404

    records = _audits(model_id)
    assert [r["action"] for r in records] == ["create", "update", "update", "delete"]
    assert all(r["actor"] == accounts["admin"].uid and r["via"] == "api" for r in records)
    assert all(r["actorEmail"] == accounts["admin"].email for r in records)  # the audit page names people, no lookup
    assert records[0]["before"] is None and records[0]["after"]["name"] == "llama3.2"
    assert records[1]["before"]["name"] == "llama3.2" and records[1]["after"]["name"] == "llama3.3"
    assert records[3]["after"] is None and records[3]["before"]["name"] == "llama3.3"


def test_duplicate_id_is_409(emulators, accounts, seeded) -> None:
    spec = _spec()
    url = emulators.url("models")
    assert requests.post(url, json=spec, headers=accounts["admin"].headers, timeout=30).status_code == 201
    again = requests.post(url, json=spec, headers=accounts["admin"].headers, timeout=30)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "ALREADY_EXISTS"
    assert len(_audits(spec["id"])) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/no-such-model"), ("PATCH", "/no-such-model"), ("DELETE", "/no-such-model"), ("GET", "/no-such-model")],
)
def test_unknown_model_is_404(emulators, accounts, seeded, method: str, path: str) -> None:
    body = _spec(id="no-such-model") if method in ("PUT", "PATCH") else None
    response = requests.request(method, emulators.url("models", path), json=body, headers=accounts["admin"].headers, timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": "Not A Slug!"}, "id"),
        ({"name": ""}, "name"),
        ({"type": "video"}, "type"),
        ({"provider": "no-such-provider"}, "provider"),
        ({"config": {"temperature": 3}}, "config.temperature"),
        ({"config": {"maxTokens": 0}}, "config.maxTokens"),
        ({"config": {"maxTokensLimit": 2**64}}, "config.maxTokensLimit"),  # found by the fuzz run: Firestore's int64 refused it, a 500
        ({"config": {"temprature": 1}}, "config.temprature"),
        ({"pricing": {"inputPer1M": -1}}, "pricing.inputPer1M"),
        ({"endpointURL": "ftp://example.com"}, "endpointURL"),
        ({"enabled": "maybe"}, "enabled"),
        ({"createdAt": "2020-01-01T00:00:00Z"}, "createdAt"),
        ({"capabilities": "chat"}, "capabilities"),
    ],
)
def test_invalid_model_is_400_naming_the_field(emulators, accounts, seeded, overrides: dict[str, Any], field: str) -> None:
    spec = _spec(**overrides)
    response = requests.post(emulators.url("models"), json=spec, headers=accounts["admin"].headers, timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(f"{field}:")
    assert field in [f["field"] for f in error["details"]["fields"]]
    assert _audits(spec["id"]) == []


def test_missing_required_field_is_named(emulators, accounts, seeded) -> None:
    spec = _spec()
    del spec["name"]
    response = requests.post(emulators.url("models"), json=spec, headers=accounts["admin"].headers, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("name:")


def test_path_and_body_ids_must_agree(emulators, accounts, seeded) -> None:
    spec = _spec()
    url = emulators.url("models")
    requests.post(url, json=spec, headers=accounts["admin"].headers, timeout=30).raise_for_status()
    response = requests.put(f"{url}/{spec['id']}", json={**spec, "id": "other"}, headers=accounts["admin"].headers, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("id:")


ROLE_MATRIX = [
    # method, needs an existing model, expected status per role (admin, user, viewer, anonymous)
    ("GET-list", False, (200, 200, 200, 401)),
    ("GET-one", True, (200, 200, 200, 401)),
    ("POST", False, (201, 403, 403, 401)),
    ("PUT", True, (200, 403, 403, 401)),
    ("PATCH", True, (200, 403, 403, 401)),
    ("DELETE", True, (204, 403, 403, 401)),
]


@pytest.mark.parametrize(("action", "needs_model", "expected"), ROLE_MATRIX, ids=[r[0] for r in ROLE_MATRIX])
def test_role_matrix(emulators, accounts, seeded, action: str, needs_model: bool, expected: tuple[int, ...]) -> None:
    url = emulators.url("models")
    for who, status in zip(("admin", "user", "viewer", None), expected, strict=True):
        spec = _spec()
        if needs_model:
            requests.post(url, json=spec, headers=accounts["admin"].headers, timeout=30).raise_for_status()
        headers = accounts[who].headers if who else {}
        method = action.split("-")[0]
        target = url if action in ("GET-list", "POST") else f"{url}/{spec['id']}"
        body = {"displayName": "x"} if method == "PATCH" else spec if method in ("POST", "PUT") else None
        response = requests.request(method, target, json=body, headers=headers, timeout=30)
        assert response.status_code == status, f"{who} {action}: {response.text}"
        if status >= 400:
            assert response.json()["error"]["code"] == {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}[status]


def test_health_needs_no_auth(emulators) -> None:
    response = requests.get(emulators.url("health"), timeout=30)
    assert response.status_code in (200, 503)
    body = response.json()
    assert set(body) == {"status", "timestamp", "version", "api", "providers", "summary"}


def test_disabled_model_hidden_from_users_not_admins(emulators, accounts, seeded) -> None:
    spec = _spec(enabled=False)
    url = emulators.url("models")
    requests.post(url, json=spec, headers=accounts["admin"].headers, timeout=30).raise_for_status()
    assert requests.get(f"{url}/{spec['id']}", headers=accounts["user"].headers, timeout=30).status_code == 404
    assert requests.get(f"{url}/{spec['id']}", headers=accounts["viewer"].headers, timeout=30).status_code == 404
    assert requests.get(f"{url}/{spec['id']}", headers=accounts["admin"].headers, timeout=30).status_code == 200


def test_models_of_a_disabled_provider_are_not_offered_to_users(emulators, accounts, seeded) -> None:
    """A picker must not offer what cannot answer: users see enabled models of enabled providers only."""
    url = emulators.url("models")
    usable, stranded = _spec(provider="ollama"), _spec(provider="openai")  # the seed enables ollama, not openai
    for spec in (usable, stranded):
        requests.post(url, json=spec, headers=accounts["admin"].headers, timeout=30).raise_for_status()

    def listed(role: str) -> set[str]:
        body = requests.get(url, params={"limit": 100}, headers=accounts[role].headers, timeout=30).json()
        return {m["id"] for m in body["models"]}

    assert usable["id"] in listed("user") and stranded["id"] not in listed("user")
    assert requests.get(f"{url}/{stranded['id']}", headers=accounts["user"].headers, timeout=30).status_code == 404
    assert {usable["id"], stranded["id"]} <= listed("admin")
    openai_url = emulators.url("openai")
    for role in ("user", "viewer", "admin"):  # OpenAI's listing shows what the caller can call: for admins too

        def offered(headers: dict[str, str] = accounts[role].headers) -> None:
            data = requests.get(f"{openai_url}/v1/models", headers=headers, timeout=30).json()["data"]
            ids = {m["id"] for m in data}
            assert usable["id"] in ids and stranded["id"] not in ids

        eventually(offered)  # the openai function learns of the new models through its listener
        one = requests.get(f"{openai_url}/v1/models/{stranded['id']}", headers=accounts[role].headers, timeout=30)
        assert one.status_code == 404 and one.json()["error"]["type"] == "not_found_error"
        assert requests.get(f"{openai_url}/v1/models/{usable['id']}", headers=accounts[role].headers, timeout=30).status_code == 200


def test_users_and_viewers_see_a_public_view_admins_see_all(emulators, accounts, seeded) -> None:
    """No system prompt, private endpoint or admins' uids for anyone but admins, in a read, a list or the OpenAI listing."""
    url = emulators.url("models")
    secret_prompt = "You work for ACME; never mention the discount code SAVE50."
    spec = _spec(endpointURL="https://inference.acme.example/v1", config={"maxTokens": 256, "systemPrompt": secret_prompt})
    created = requests.post(url, json=spec, headers=accounts["admin"].headers, timeout=30)
    assert created.status_code == 201, created.text
    private = {"endpointURL", "createdBy", "updatedBy"}

    def views(role: str) -> list[dict[str, Any]]:
        headers = accounts[role].headers
        one = requests.get(f"{url}/{spec['id']}", headers=headers, timeout=30)
        listed = requests.get(url, params={"limit": 100}, headers=headers, timeout=30)
        assert one.status_code == listed.status_code == 200, (role, one.text, listed.text)
        return [one.json(), next(m for m in listed.json()["models"] if m["id"] == spec["id"])]

    for role in ("user", "viewer"):
        for model in views(role):
            assert private.isdisjoint(model), (role, model)
            assert "systemPrompt" not in model["config"] and model["config"] == {"maxTokens": 256}
            assert secret_prompt not in str(model) and accounts["admin"].uid not in str(model)
            assert model["displayName"] == "Llama test" and model["provider"] == "ollama"
    for model in views("admin"):
        assert model["endpointURL"] == "https://inference.acme.example/v1"
        assert model["config"]["systemPrompt"] == secret_prompt
        assert model["createdBy"] == model["updatedBy"] == accounts["admin"].uid

    def listed() -> dict[str, Any]:
        listing = requests.get(emulators.url("openai", "/v1/models"), headers=accounts["viewer"].headers, timeout=30)
        assert listing.status_code == 200, listing.text
        return next(m for m in listing.json()["data"] if m["id"] == spec["id"])

    entry = eventually(listed)  # the openai function learns of the new model through its listener
    assert set(entry) == {"id", "object", "created", "owned_by"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "   "}, "name"),
        ({"displayName": " \t "}, "displayName"),
        ({"provider": "nope-no-such-provider"}, "provider"),
        ({"fallbacks": ["no-such-model-here"]}, "fallbacks"),
    ],
)
def test_blank_labels_and_unknown_references_are_400_naming_the_field(
    emulators, accounts, seeded, overrides: dict[str, Any], field: str
) -> None:
    spec = _spec(**overrides)
    response = requests.post(emulators.url("models"), json=spec, headers=accounts["admin"].headers, timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"].startswith(f"{field}:")
    assert [f["field"] for f in error["details"]["fields"]] == [field]
    assert requests.get(f"{emulators.url('models')}/{spec['id']}", headers=accounts["admin"].headers, timeout=30).status_code == 404


def test_fallbacks_must_be_other_existing_models(emulators, accounts, seeded) -> None:
    admin = accounts["admin"].headers
    url = emulators.url("models")
    other, spec = _spec(), _spec()
    assert requests.post(url, json=other, headers=admin, timeout=30).status_code == 201
    itself = requests.post(url, json={**spec, "fallbacks": [spec["id"]]}, headers=admin, timeout=30)
    assert itself.status_code == 400 and itself.json()["error"]["message"].startswith("fallbacks:"), itself.text
    assert spec["id"] in itself.json()["error"]["message"]

    created = requests.post(url, json={**spec, "fallbacks": [other["id"]]}, headers=admin, timeout=30)
    assert created.status_code == 201, created.text
    for method, body in (("PATCH", {"fallbacks": ["gone-model-x"]}), ("PATCH", {"fallbacks": [spec["id"]]}), ("PUT", {**spec, "fallbacks": ["gone-model-x"]})):
        response = requests.request(method, f"{url}/{spec['id']}", json=body, headers=admin, timeout=30)
        assert response.status_code == 400, (method, body, response.text)
        assert response.json()["error"]["details"]["fields"][0]["field"] == "fallbacks"
    blank = requests.patch(f"{url}/{spec['id']}", json={"name": "  "}, headers=admin, timeout=30)
    assert blank.status_code == 400 and blank.json()["error"]["message"].startswith("name:")

    # a fallback deleted later does not block unrelated changes
    assert requests.delete(f"{url}/{other['id']}", headers=admin, timeout=30).status_code == 204
    patched = requests.patch(f"{url}/{spec['id']}", json={"enabled": False}, headers=admin, timeout=30)
    assert patched.status_code == 200, patched.text
