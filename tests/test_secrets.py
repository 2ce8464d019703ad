"""Provider keys: Secret Manager through the real client (REST) against drongo, env fallback, no leaks."""

from __future__ import annotations

import json

import pytest

from conftest import KEYS


def test_secret_manager_round_trip(stack, providers) -> None:
    from gateway import secrets

    secrets.put("ROUND_TRIP_KEY", "value-one-0123456789")
    assert secrets.get("ROUND_TRIP_KEY") == "value-one-0123456789"
    secrets.put("ROUND_TRIP_KEY", "value-two-0123456789")
    assert secrets.get("ROUND_TRIP_KEY") == "value-two-0123456789"  # put() drops the cached value
    assert secrets.get("NEVER_CREATED_KEY") is None


def test_environment_is_the_fallback(stack, providers, monkeypatch) -> None:
    from gateway import secrets

    monkeypatch.setenv("ONLY_IN_ENV_KEY", "from-the-environment-123")
    secrets.forget()
    assert secrets.get("ONLY_IN_ENV_KEY") == "from-the-environment-123"
    secrets.put("ONLY_IN_ENV_KEY", "from-secret-manager-456")
    assert secrets.get("ONLY_IN_ENV_KEY") == "from-secret-manager-456"  # Secret Manager wins


def test_without_a_secret_manager_the_environment_serves(stack, providers, monkeypatch) -> None:
    from gateway import secrets

    monkeypatch.delenv("SECRET_MANAGER_EMULATOR_HOST")
    monkeypatch.setenv("FUNCTIONS_EMULATOR", "true")
    monkeypatch.setenv("OPENAI_API_KEY", "env-key-0123456789")
    secrets.forget()
    assert secrets.get("OPENAI_API_KEY") == "env-key-0123456789"
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
