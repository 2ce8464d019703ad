"""Provider keys: Secret Manager through the real client (REST) against drongo, env fallback, no leaks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conftest import KEYS


def test_secret_manager_round_trip(stack, providers) -> None:
    from gateway import secrets

    secrets.put("AI_GATEWAY_PROVIDER_ROUND_TRIP", "value-one-0123456789")
    assert secrets.get("AI_GATEWAY_PROVIDER_ROUND_TRIP") == "value-one-0123456789"
    secrets.put("AI_GATEWAY_PROVIDER_ROUND_TRIP", "value-two-0123456789")
    assert secrets.get("AI_GATEWAY_PROVIDER_ROUND_TRIP") == "value-two-0123456789"  # put() drops the cached value
    assert secrets.get("AI_GATEWAY_PROVIDER_NEVER_CREATED") is None


def test_the_gateway_names_every_secret() -> None:
    from gateway import secrets

    assert secrets.name_for("openai") == "AI_GATEWAY_PROVIDER_OPENAI"
    assert secrets.name_for("my-llm.v2") == "AI_GATEWAY_PROVIDER_MY_LLM_V2"
    assert secrets.name_for("a" * 64).startswith(secrets.PREFIX) and len(secrets.name_for("a" * 64)) <= 255


@pytest.mark.parametrize("name", ["PATH", "FIREBASE_CONFIG", "STRIPE_WEBHOOK_SECRET", "OPENAI_API_KEY", "AI_GATEWAY_PROVIDER_", "AI_GATEWAY_PROVIDER_x/../Y"])
def test_no_other_secret_is_read_or_written(stack, providers, name: str) -> None:
    """Whatever a caller asks for, this module reads and writes the gateway's secrets only."""
    from gateway import secrets

    with pytest.raises(ValueError, match="not a provider key's secret name"):
        secrets.get(name)
    with pytest.raises(ValueError, match="not a provider key's secret name"):
        secrets.put(name, "sk-overwrite-0123456789")


def test_environment_is_the_fallback_under_the_emulators(stack, providers, monkeypatch) -> None:
    from gateway import secrets

    monkeypatch.setenv("AI_GATEWAY_PROVIDER_ONLY_IN_ENV", "from-the-environment-123")
    secrets.forget()
    assert secrets.get("AI_GATEWAY_PROVIDER_ONLY_IN_ENV") == "from-the-environment-123"
    secrets.put("AI_GATEWAY_PROVIDER_ONLY_IN_ENV", "from-secret-manager-456")
    assert secrets.get("AI_GATEWAY_PROVIDER_ONLY_IN_ENV") == "from-secret-manager-456"  # Secret Manager wins


def test_outside_the_emulators_the_environment_is_never_read(stack, providers, monkeypatch) -> None:
    """In production the environment holds PATH, FIREBASE_CONFIG...: a secret Secret Manager lacks is no key, whatever is set."""
    from gateway import secrets

    monkeypatch.setenv("AI_GATEWAY_PROVIDER_NEVER_STORED", "from-the-environment-123")
    for name in ("FUNCTIONS_EMULATOR", "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    secrets.forget()
    try:
        assert secrets.get("AI_GATEWAY_PROVIDER_NEVER_STORED") is None
        assert secrets.from_environment("AI_GATEWAY_PROVIDER_NEVER_STORED") is None
    finally:
        secrets.forget()


def test_without_a_secret_manager_the_environment_serves(stack, providers, monkeypatch) -> None:
    from gateway import secrets

    monkeypatch.delenv("SECRET_MANAGER_EMULATOR_HOST")
    monkeypatch.setenv("FUNCTIONS_EMULATOR", "true")
    monkeypatch.setenv("AI_GATEWAY_PROVIDER_OPENAI", "env-key-0123456789")
    secrets.forget()
    assert secrets.get("AI_GATEWAY_PROVIDER_OPENAI") == "env-key-0123456789"
    secrets.forget()


@pytest.mark.parametrize("stream", [False, True])
def test_keys_never_reach_responses_or_logs(local, providers, accounts, capsys, stream: bool) -> None:
    """The fake echoes the key it was sent in its 401 message, as OpenAI does; nothing may repeat it."""
    from gateway import firebase

    for name in ("openai", "anthropic", "gemini", "openrouter"):
        providers[name].state["key"] = "a-different-key"
    bodies = []
    for name in ("openai", "anthropic", "gemini", "openrouter"):
        response = local("generate_text").post("/", json={"modelId": f"{name}-chat", "prompt": "hi", "stream": stream}, headers=accounts["user"].headers)
        assert response.status_code == 502
        bodies.append(response.get_data(as_text=True))
    providers["huggingface"].state["faults"] = [{"status": 400, "body": {"error": {"message": f"bad key {KEYS['huggingface']}"}}}]
    response = local("generate_text").post("/", json={"modelId": "huggingface-chat", "prompt": "hi"}, headers=accounts["user"].headers)
    assert response.status_code == 400
    bodies.append(response.get_data(as_text=True))
    captured = capsys.readouterr()
    stored = json.dumps([d.to_dict() for d in firebase.db().collection("providers").stream()], default=str)
    for key in KEYS.values():
        for text in (*bodies, captured.out, captured.err, stored):
            assert key not in text
    assert "[REDACTED]" in bodies[-1]


# -- Secret Manager failing: reported as such, never as "no key" -------------------------------------------------


@pytest.fixture
def failing_secret_manager(monkeypatch) -> Any:
    """A loopback server speaking Secret Manager's REST errors, as the functions' Secret Manager for one test."""
    from fakes.secret_manager_server import SecretManagerServer
    from fakes.server import FakeServer
    from gateway import secrets

    monkeypatch.setenv("GCLOUD_PROJECT", "demo-ai-gateway")
    for name in ("AI_GATEWAY_PROVIDER_OPENAI", "K_SERVICE"):
        monkeypatch.delenv(name, raising=False)
    with FakeServer(SecretManagerServer, mode="disabled", requests=[]) as server:
        monkeypatch.setenv("SECRET_MANAGER_EMULATOR_HOST", server.url.removeprefix("http://"))
        secrets.forget()
        try:
            yield server
        finally:
            secrets.forget()  # the env var is restored by monkeypatch after this


@pytest.mark.parametrize(
    ("mode", "kind", "says"),
    [
        ("disabled", "disabled", "gcloud services enable secretmanager.googleapis.com --project demo-ai-gateway"),
        ("denied", "denied", "grant roles/secretmanager.secretAccessor"),
        ("unusable", "unusable", "disabled or destroyed"),
        ("unavailable", "unavailable", "did not answer"),
    ],
)
def test_a_failed_read_says_why(failing_secret_manager, mode: str, kind: str, says: str) -> None:
    from gateway import secrets

    failing_secret_manager.state["mode"] = mode
    started = time.monotonic()
    read = secrets.read("AI_GATEWAY_PROVIDER_OPENAI")
    elapsed = time.monotonic() - started
    assert read.value is None and read.error is not None
    assert read.error.kind == kind and says in read.error.message, read.error.message
    assert secrets.get("AI_GATEWAY_PROVIDER_OPENAI") is None and secrets.problem("AI_GATEWAY_PROVIDER_OPENAI") is read.error
    assert elapsed < secrets.READ_DEADLINE_SECONDS + 3  # the client's own retries would wait a minute


def test_failures_are_cached_for_seconds_only(failing_secret_manager, monkeypatch) -> None:
    from gateway import secrets

    monkeypatch.setattr(secrets, "FAILURE_CACHE_SECONDS", 0.3)
    failing_secret_manager.state["mode"] = "denied"
    assert secrets.read("AI_GATEWAY_PROVIDER_OPENAI").error is not None
    assert secrets.read("AI_GATEWAY_PROVIDER_OPENAI").error is not None
    assert len(failing_secret_manager.state["requests"]) == 1  # the failure is cached ...
    failing_secret_manager.state.update({"mode": "ok", "value": "sk-granted-at-last-0123456789"})
    time.sleep(0.4)
    read = secrets.read("AI_GATEWAY_PROVIDER_OPENAI")  # ... briefly: the fixed permission is picked up
    assert read.value == "sk-granted-at-last-0123456789" and read.error is None
    assert len(failing_secret_manager.state["requests"]) == 2
    assert secrets.read("AI_GATEWAY_PROVIDER_OPENAI").value == read.value and len(failing_secret_manager.state["requests"]) == 2


def test_an_outage_keeps_the_key_held_and_a_refusal_drops_it(failing_secret_manager, monkeypatch) -> None:
    """Secret Manager down as a cached key expires: the key goes on serving (and is asked for again in seconds);
    access revoked, or the version destroyed, drops it."""
    from gateway import secrets

    monkeypatch.setenv("SECRET_CACHE_SECONDS", "0")  # every read finds the cached key expired
    monkeypatch.setattr(secrets, "FAILURE_CACHE_SECONDS", 0.0)
    failing_secret_manager.state.update({"mode": "ok", "value": "sk-good-key-0123456789"})
    assert secrets.get("AI_GATEWAY_PROVIDER_OPENAI") == "sk-good-key-0123456789"
    failing_secret_manager.state["mode"] = "unavailable"
    held = secrets.read("AI_GATEWAY_PROVIDER_OPENAI")
    assert held.value == "sk-good-key-0123456789" and held.error is None
    asked = len(failing_secret_manager.state["requests"])
    assert secrets.read("AI_GATEWAY_PROVIDER_OPENAI").value == "sk-good-key-0123456789"
    assert len(failing_secret_manager.state["requests"]) > asked  # still asked: the outage is not cached as an answer
    failing_secret_manager.state["mode"] = "unusable"
    refused = secrets.read("AI_GATEWAY_PROVIDER_OPENAI")
    assert refused.value is None and refused.error is not None and refused.error.kind == "unusable"
    failing_secret_manager.state["mode"] = "unavailable"
    assert secrets.read("AI_GATEWAY_PROVIDER_OPENAI").value is None  # nothing held any more to keep


def test_two_providers_naming_one_secret_do_not_reread_it_in_turn(failing_secret_manager) -> None:
    """Two provider documents with one ``secretName`` at different ``keyVersion``s (one written later): each
    version seen is current once read; only a version not seen before reads the secret again."""
    from gateway import secrets

    failing_secret_manager.state.update({"mode": "ok", "value": "sk-shared-0123456789"})

    def accesses() -> int:
        return sum(1 for _, path in failing_secret_manager.state["requests"] if path.endswith(":access"))

    for _ in range(3):
        assert secrets.get("AI_GATEWAY_PROVIDER_OPENAI", "v1") == "sk-shared-0123456789"
        assert secrets.get("AI_GATEWAY_PROVIDER_OPENAI", "v2") == "sk-shared-0123456789"
    assert accesses() == 2
    failing_secret_manager.state["value"] = "sk-rotated-0123456789"
    assert secrets.get("AI_GATEWAY_PROVIDER_OPENAI", "v3") == "sk-rotated-0123456789"  # a key stored since: read at once
    assert secrets.get("AI_GATEWAY_PROVIDER_OPENAI", "v1") == "sk-rotated-0123456789"
    assert accesses() == 3


@pytest.mark.parametrize(
    ("mode", "says"),
    [("disabled", "gcloud services enable secretmanager.googleapis.com"), ("denied", "roles/secretmanager.secretAccessor")],
)
def test_generation_reports_the_failed_read(local, providers, accounts, failing_secret_manager, capsys, mode: str, says: str) -> None:
    """A user learns the key could not be read and why in a few words; the secret, project and IAM remedy go to admins and the logs."""
    failing_secret_manager.state["mode"] = mode
    response = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=accounts["user"].headers)
    assert response.status_code == 502
    error = response.get_json()["error"]
    assert error["code"] == "PROVIDER_AUTH" and error["details"]["reason"] == mode
    assert "could not be read" in error["message"] and "has no key" not in error["message"]
    assert response.headers["X-Request-Id"] in error["message"]  # what to quote to an admin
    text = response.get_data(as_text=True)
    for private in (says, "roles/", "demo-ai-gateway", "AI_GATEWAY_PROVIDER", "secretName", "gcloud"):
        assert private not in text, private
    assert KEYS["openai"] not in text
    assert providers["openai"].state["requests"] == []  # the provider was never called without its key
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"error details"' in line]
    assert [e["requestId"] for e in logged] == [response.headers["X-Request-Id"]] and says in logged[0]["detail"]

    admin = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=accounts["admin"].headers)
    error = admin.get_json()["error"]
    assert admin.status_code == 502 and says in error["message"] and error["details"]["secretName"] == "AI_GATEWAY_PROVIDER_OPENAI"


def test_health_and_provider_admin_report_the_failed_read(local, providers, accounts, failing_secret_manager) -> None:
    from gateway import health

    failing_secret_manager.state["mode"] = "disabled"
    health.reset()
    report = local("health").get("/").get_json()
    assert report["providers"]["openai"] == {**report["providers"]["openai"], "status": "unhealthy", "error": "key unreadable: Secret Manager API disabled"}
    assert report["providers"]["ollama"]["status"] == "healthy"  # no key needed

    admin = accounts["admin"]
    tested = local("providers").post("/openai/test", headers=admin.headers).get_json()
    assert tested["status"] == "unhealthy" and tested["keyError"] == "disabled" and "could not be read" in tested["error"]

    failing_secret_manager.state["mode"] = "denied"
    stored = local("providers").patch("/openai", json={"apiKey": "sk-new-key-0123456789abcdef"}, headers=admin.headers)
    assert stored.status_code == 503
    error = stored.get_json()["error"]
    assert error["details"]["reason"] == "denied" and "roles/secretmanager.secretVersionAdder" in error["message"]
    assert "sk-new-key-0123456789abcdef" not in stored.get_data(as_text=True)


def test_deploy_docs_iam_recipe_grants_the_gateways_secrets_only() -> None:
    """docs/deploy.md's IAM condition names the prefix the code gives every secret, and no Secret Manager role goes without it."""
    import re
    from pathlib import Path

    from gateway import secrets

    deploy_doc = (Path(__file__).resolve().parent.parent / "docs" / "deploy.md").read_text()
    prefixes = set(re.findall(r'startsWith\(\\?"projects/(?:\$N|PROJECT_NUMBER)/secrets/([A-Za-z0-9_-]*)\\?"\)', deploy_doc))
    assert prefixes == {secrets.PREFIX, secrets.ORG_PREFIX}  # project-wide and organisations' provider keys
    recipe = deploy_doc[deploy_doc.index("### Service accounts and IAM"):]
    recipe = recipe[recipe.index("```bash"):]
    recipe = recipe[: recipe.index("```", 7)].replace("\\\n", " ")
    recipe = re.sub(  # unroll the loops: one grant per line, its role named
        r"for role in ([^;]*); do\s*(.*?)\s*done",
        lambda loop: "\n".join(loop.group(2).replace("$role", role) for role in loop.group(1).split()),
        recipe,
        flags=re.S,
    )
    keys = re.search(r"^KEYS=(.*)$", recipe, re.M)
    assert keys and f"secrets/{secrets.PREFIX}" in keys.group(1) and f"secrets/{secrets.ORG_PREFIX}" in keys.group(1)
    grants = [line for line in recipe.splitlines() if "add-iam-policy-binding" in line]
    secret_grants = [line for line in grants if "roles/secretmanager." in line]
    assert len(secret_grants) == 3 and all('--condition "$KEYS"' in line for line in secret_grants), secret_grants
    assert "roles/secretmanager.admin" not in recipe
