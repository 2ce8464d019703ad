"""generate_text against every provider's fake: answers, streams, retries, error mapping, keys."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conftest import KEYS

PROVIDERS = ["openai", "openrouter", "huggingface", "lmstudio", "ollama", "anthropic", "gemini"]
REPLY = "Hello from the fake provider"


def _post(local, account, **body: Any) -> Any:
    return local("generate_text").post("/", json=body, headers=account.headers)


def _events(response: Any) -> list[tuple[str, Any]]:
    """Parse an SSE body into (event, data) pairs; comments kept as ("comment", text)."""
    out: list[tuple[str, Any]] = []
    for block in response.get_data(as_text=True).split("\n\n"):
        if not block.strip():
            continue
        event, data = "message", None
        for line in block.split("\n"):
            if line.startswith(":"):
                out.append(("comment", line[1:].strip()))
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                raw = line[5:].strip()
                data = raw if raw == "[DONE]" else json.loads(raw)
        if data is not None:
            out.append((event, data))
    return out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_answer_from_each_provider(local, providers, accounts, provider: str) -> None:
    response = _post(local, accounts["user"], modelId=f"{provider}-chat", prompt="Say hello", systemPrompt="Be brief")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["text"] == REPLY
    assert body["modelId"] == f"{provider}-chat" and body["provider"] == provider
    assert body["finishReason"] == "stop"
    usage = body["usage"]
    assert usage["completionTokens"] == 5 and usage["promptTokens"] > 0
    assert usage["totalTokens"] == usage["promptTokens"] + usage["completionTokens"]
    if provider == "openrouter":
        assert body["cost"] == {"input": pytest.approx(usage["promptTokens"] / 1e6), "output": pytest.approx(10 / 1e6), "total": 0.000123, "currency": "USD", "source": "provider"}
    else:
        assert body["cost"]["total"] == pytest.approx((usage["promptTokens"] * 1 + 5 * 2) / 1e6)
    sent = providers[provider].state["requests"][-1]
    assert json.dumps(sent["body"]).count("Be brief") == 1  # the system prompt reached the provider once


def test_provider_specific_wire_details(local, providers, accounts) -> None:
    _post(local, accounts["user"], modelId="anthropic-chat", prompt="hi", systemPrompt="sys")
    anthropic = providers["anthropic"].state["requests"][-1]
    assert anthropic["body"]["system"] == "sys" and anthropic["headers"]["x-api-key"] == KEYS["anthropic"]
    assert anthropic["body"]["max_tokens"] == 64
    _post(local, accounts["user"], modelId="gemini-chat", prompt="hi", systemPrompt="sys")
    gemini = providers["gemini"].state["requests"][-1]
    assert gemini["body"]["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert gemini["headers"]["x-goog-api-key"] == KEYS["gemini"]
    assert gemini["path"] == "/v1beta/models/gemini-model:generateContent"
    _post(local, accounts["user"], modelId="openrouter-chat", prompt="hi")
    openrouter = providers["openrouter"].state["requests"][-1]
    assert openrouter["headers"]["X-Title"] and openrouter["headers"]["Authorization"] == f"Bearer {KEYS['openrouter']}"
    _post(local, accounts["user"], modelId="ollama-chat", prompt="hi", temperature=0.3, maxTokens=10)
    assert providers["ollama"].state["requests"][-1]["body"]["options"] == {"temperature": 0.3, "num_predict": 10}
    _post(local, accounts["user"], modelId="lmstudio-chat", prompt="hi")
    assert "Authorization" not in providers["lmstudio"].state["requests"][-1]["headers"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_from_each_provider(local, providers, accounts, provider: str) -> None:
    body = {"modelId": f"{provider}-chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = local("generate_text").post("/", json=body, headers=accounts["user"].headers, buffered=False)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
    events = _events(response)
    contents = [d["content"] for e, d in events if e == "message" and isinstance(d, dict) and "content" in d]
    assert "".join(contents) == REPLY and len(contents) == 5
    final = [d for e, d in events if isinstance(d, dict) and d.get("done")]
    assert len(final) == 1
    assert final[0]["finishReason"] == "stop" and final[0]["usage"]["completionTokens"] == 5 and final[0]["usage"]["promptTokens"] > 0
    assert final[0]["cost"] is not None
    assert events[-1] == ("message", "[DONE]")


def test_server_timing_shows_what_the_ledger_commit_held_the_answer(local, providers, accounts) -> None:
    """Far from every budget a JSON answer is settled after it is sent (its reservation already books the worst case):
    ``Server-Timing`` has no ledger part. Near a budget the settle lands first, and the header says how long it took;
    a stream's entry is committed at the stream's end, after the headers, so its header carries the gateway's part only."""
    from gateway import auth, firebase

    def timing(response: Any) -> dict[str, float]:
        parts = (part.strip().split(";dur=") for part in response.headers["Server-Timing"].split(","))
        return {name: float(duration) for name, duration in parts}

    answer = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert answer.status_code == 200 and set(timing(answer)) == {"gateway"}
    [record] = firebase.db().collection("usage").document(accounts["user"].uid).collection("records").stream()
    assert record.get("status") == "ok"  # settled once the response was closed, as a server closes it

    firebase.db().collection("users").document(accounts["user"].uid).set({"quota": {"dailyTokens": 150}})  # one more like it would not fit
    auth.forget(accounts["user"].uid)
    near = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert near.status_code == 200
    json_timing = timing(near)
    assert set(json_timing) == {"gateway", "ledger"}
    assert 0 < json_timing["ledger"] < json_timing["gateway"]

    streamed = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi", "stream": True}, headers=accounts["user"].headers)
    assert streamed.status_code == 200 and set(timing(streamed)) == {"gateway"}

    refused = _post(local, accounts["user"], modelId="openai-chat")
    assert refused.status_code == 400 and set(timing(refused)) == {"gateway"}  # refused before any generation: no entry


def test_openrouter_comments_are_skipped_and_stream_errors_reported(local, providers, accounts) -> None:
    providers["openrouter"].state["faults"] = [{"stream_error": True}]
    events = _events(_post(local, accounts["user"], modelId="openrouter-chat", prompt="hi", stream=True))
    assert [d["content"] for e, d in events if isinstance(d, dict) and "content" in d] == ["Hello"]
    errors = [d for e, d in events if e == "error"]
    assert errors and errors[0]["error"]["code"] == "PROVIDER_ERROR"
    assert events[-1] == ("message", "[DONE]")


@pytest.mark.parametrize(("provider", "cut"), [("openai", 3), ("ollama", 2), ("anthropic", 4), ("gemini", 2)])
def test_broken_stream_ends_with_an_error_event(local, providers, accounts, provider: str, cut: int) -> None:
    providers[provider].state["faults"] = [{"break_after": cut}]
    response = _post(local, accounts["user"], modelId=f"{provider}-chat", prompt="hi", stream=True)
    assert response.status_code == 200
    events = _events(response)
    assert not [d for e, d in events if isinstance(d, dict) and d.get("done")]
    errors = [d for e, d in events if e == "error"]
    assert len(errors) == 1 and errors[0]["error"]["code"] == "PROVIDER_ERROR"
    assert events[-1] == ("message", "[DONE]")


def test_stream_broken_before_any_text_is_a_plain_error(local, providers, accounts) -> None:
    """Nothing reached the client yet: retried, then an ordinary JSON error with its status."""
    providers["anthropic"].state["faults"] = [{"break_after": 2}] * 3
    response = _post(local, accounts["user"], modelId="anthropic-chat", prompt="hi", stream=True)
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "PROVIDER_ERROR"


def test_anthropic_error_event_mid_stream(local, providers, accounts) -> None:
    providers["anthropic"].state["faults"] = [{"stream_error": True}]
    events = _events(_post(local, accounts["user"], modelId="anthropic-chat", prompt="hi", stream=True))
    assert [d for e, d in events if e == "error"][0]["error"]["code"] == "PROVIDER_ERROR"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 529, 408])
def test_retryable_statuses_are_retried(local, providers, accounts, status: int) -> None:
    providers["openai"].state["faults"] = [{"status": status}, {"status": status}]
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 200
    assert len(providers["openai"].state["requests"]) == 3


def test_retry_after_is_honoured(local, providers, accounts) -> None:
    providers["openai"].state["faults"] = [{"status": 429, "retry_after": "1"}]
    started = time.monotonic()
    assert _post(local, accounts["user"], modelId="openai-chat", prompt="hi").status_code == 200
    assert time.monotonic() - started >= 1.0


def test_retry_after_ms_is_honoured(local, providers, accounts) -> None:
    providers["anthropic"].state["faults"] = [{"status": 529, "retry_after_ms": "600"}]
    started = time.monotonic()
    assert _post(local, accounts["user"], modelId="anthropic-chat", prompt="hi").status_code == 200
    assert time.monotonic() - started >= 0.6


def test_rate_limit_after_retries_is_429_with_retry_after(local, providers, accounts) -> None:
    providers["openai"].state["faults"] = [{"status": 429, "retry_after": "0"}] * 3
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "RATE_LIMITED"
    assert response.headers["Retry-After"] == "1"
    assert len(providers["openai"].state["requests"]) == 3


def test_long_retry_after_is_forwarded_not_waited(local, providers, accounts) -> None:
    providers["openai"].state["faults"] = [{"status": 429, "retry_after": "120"}]
    started = time.monotonic()
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert time.monotonic() - started < 2
    assert response.status_code == 429 and response.headers["Retry-After"] == "120"
    assert len(providers["openai"].state["requests"]) == 1


def test_http_date_retry_after(local, providers, accounts) -> None:
    from email.utils import formatdate

    providers["openai"].state["faults"] = [{"status": 503, "retry_after": formatdate(time.time() + 2, usegmt=True)}]
    started = time.monotonic()
    assert _post(local, accounts["user"], modelId="openai-chat", prompt="hi").status_code == 200
    assert time.monotonic() - started >= 0.9  # the date has one-second resolution


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"status": 401}, 502, "PROVIDER_AUTH"),
        ({"status": 403}, 502, "PROVIDER_AUTH"),
        ({"status": 400, "body": {"error": {"message": "context too long", "type": "invalid_request_error"}}}, 400, "PROVIDER_BAD_REQUEST"),
        ({"malformed": True}, 502, "PROVIDER_ERROR"),
        ({"hang": 4}, 504, "PROVIDER_TIMEOUT"),
    ],
)
def test_error_mapping(local, providers, accounts, fault: dict[str, Any], status: int, code: str) -> None:
    providers["openai"].state["faults"] = [fault] * 3
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["details"]["provider"] == "openai"
    if code == "PROVIDER_BAD_REQUEST":
        assert "context too long" in error["message"]


def test_server_errors_after_retries_are_502(local, providers, accounts) -> None:
    providers["gemini"].state["faults"] = [{"status": 500}] * 3
    response = _post(local, accounts["user"], modelId="gemini-chat", prompt="hi")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "PROVIDER_ERROR"
    assert len(providers["gemini"].state["requests"]) == 3


def test_unreachable_provider_is_502(local, providers, accounts) -> None:
    from gateway import firebase, providers_store

    firebase.db().collection("providers").document("ollama").update({"baseUrl": "http://127.0.0.1:9"})
    providers_store.invalidate()
    response = _post(local, accounts["user"], modelId="ollama-chat", prompt="hi")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "PROVIDER_ERROR"


def test_huggingface_loading_is_retried(local, providers, accounts) -> None:
    providers["huggingface"].state["faults"] = [{"loading": 0.3}]
    assert _post(local, accounts["user"], modelId="huggingface-chat", prompt="hi").status_code == 200
    assert len(providers["huggingface"].state["requests"]) == 2


def test_fallback_model_answers_when_primary_fails(local, providers, accounts) -> None:
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"fallbacks": ["anthropic-chat"]})
    registry().invalidate()
    providers["openai"].state["faults"] = [{"status": 500}] * 3
    body = _post(local, accounts["user"], modelId="openai-chat", prompt="hi").get_json()
    assert body["modelId"] == "anthropic-chat" and body["provider"] == "anthropic" and body["text"] == REPLY
    providers["openai"].state["faults"] = [{"status": 500}] * 3
    events = _events(_post(local, accounts["user"], modelId="openai-chat", prompt="hi", stream=True))
    assert [d for e, d in events if isinstance(d, dict) and d.get("done")][0]["modelId"] == "anthropic-chat"


def test_a_version_added_past_the_gateway_is_not_sent(local, providers, accounts) -> None:
    """A version added straight in Secret Manager (not through the gateway) is never sent: the version the document pins is, 401 or not."""
    import os

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager

    from gateway import secrets

    assert _post(local, accounts["user"], modelId="openai-chat", prompt="hi").status_code == 200
    admin_client = secretmanager.SecretManagerServiceClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://{os.environ['SECRET_MANAGER_EMULATOR_HOST']}"},
    )
    rotated = "sk-test-rotated-abcdef0123456789"
    admin_client.add_secret_version(
        request={"parent": "projects/demo-ai-gateway/secrets/AI_GATEWAY_PROVIDER_OPENAI", "payload": {"data": rotated.encode()}}
    )
    providers["openai"].state["key"] = rotated
    secrets.forget()  # even read afresh
    seen = len(providers["openai"].state["requests"])
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "PROVIDER_AUTH"
    attempts = providers["openai"].state["requests"][seen:]
    assert attempts and {a["headers"]["Authorization"] for a in attempts} == {f"Bearer {KEYS['openai']}"}


def test_missing_key_is_an_operator_error(local, providers, accounts) -> None:
    """A stored key gone from Secret Manager: a 502 that names the secret to admins only, the provider never called keyless."""
    import os

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager

    from gateway import secrets

    admin_client = secretmanager.SecretManagerServiceClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://{os.environ['SECRET_MANAGER_EMULATOR_HOST']}"},
    )
    admin_client.delete_secret(request={"name": "projects/demo-ai-gateway/secrets/AI_GATEWAY_PROVIDER_OPENAI"})
    secrets.forget()
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "PROVIDER_AUTH"
    text = response.get_data(as_text=True)
    assert "has no key" in text and "AI_GATEWAY_PROVIDER" not in text and "secretName" not in text
    assert response.headers["X-Request-Id"] in response.get_json()["error"]["message"]
    as_admin = _post(local, accounts["admin"], modelId="openai-chat", prompt="hi").get_json()["error"]
    assert "AI_GATEWAY_PROVIDER_OPENAI" in as_admin["message"] and as_admin["details"]["secretName"] == "AI_GATEWAY_PROVIDER_OPENAI"
    assert providers["openai"].state["requests"] == []


def test_heartbeat_while_upstream_is_silent(local, providers, accounts, monkeypatch) -> None:
    monkeypatch.setenv("SSE_HEARTBEAT_SECONDS", "1")
    providers["ollama"].state["chunk_delay"] = 1.3
    events = _events(_post(local, accounts["user"], modelId="ollama-chat", prompt="hi", stream=True))
    assert ("comment", "keep-alive") in events
    assert "".join(d["content"] for e, d in events if isinstance(d, dict) and "content" in d) == REPLY


def test_client_disconnect_closes_upstream(local, providers, accounts) -> None:
    providers["openai"].state["reply"] = " ".join(["word"] * 200)
    providers["openai"].state["chunk_delay"] = 0.05
    response = local("generate_text").post(
        "/", json={"modelId": "openai-chat", "prompt": "hi", "stream": True}, headers=accounts["user"].headers, buffered=False
    )
    chunks = iter(response.response)
    assert b"content" in next(chunks)
    response.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not providers["openai"].state.get("disconnected"):
        time.sleep(0.05)
    assert providers["openai"].state.get("disconnected") is True


def test_stream_ends_with_an_error_event_before_the_function_times_out(local, providers, accounts, monkeypatch) -> None:
    """A stream still running near the function's timeout ends with PROVIDER_TIMEOUT, upstream closed, failure in the ledger."""
    from gateway import deploy, firebase, generation

    monkeypatch.setattr(deploy, "STREAM_TIMEOUT_SECONDS", 3)
    monkeypatch.setattr(generation, "STREAM_MARGIN_SECONDS", 2.0)  # the stream must end 1 s after the request began
    providers["openai"].state["reply"] = " ".join(["word"] * 100)
    providers["openai"].state["chunk_delay"] = 0.1
    started = time.monotonic()
    events = _events(_post(local, accounts["user"], modelId="openai-chat", prompt="hi", stream=True))
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.5, elapsed
    assert any(isinstance(d, dict) and "content" in d for _, d in events)  # text came first
    assert events[-2][0] == "error" and events[-2][1]["error"]["code"] == "PROVIDER_TIMEOUT"
    assert events[-1] == ("message", "[DONE]")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not providers["openai"].state.get("disconnected"):
        time.sleep(0.05)
    assert providers["openai"].state.get("disconnected") is True
    records = firebase.db().collection("usage").document(accounts["user"].uid).collection("records").stream()
    assert [r.get("errorCode") for r in records if r.get("status") == "error"] == ["PROVIDER_TIMEOUT"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "hi"}, "modelId"),
        ({"modelId": "openai-chat"}, "prompt"),
        ({"modelId": "openai-chat", "prompt": "hi", "messages": [{"role": "user", "content": "x"}]}, "prompt"),
        ({"modelId": "openai-chat", "prompt": ""}, "prompt"),
        ({"modelId": "openai-chat", "messages": []}, "messages"),
        ({"modelId": "openai-chat", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"modelId": "openai-chat", "prompt": "hi", "temperature": 2.5}, "temperature"),
        ({"modelId": "openai-chat", "prompt": "hi", "maxTokens": 0}, "maxTokens"),
        ({"modelId": "openai-chat", "prompt": "hi", "maxTokens": 1001}, "maxTokens"),
        ({"modelId": "openai-chat", "prompt": "hi", "topP": 0}, "topP"),
        ({"modelId": "openai-chat", "prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"modelId": "openai-chat", "prompt": "hi", "stream": "yes"}, "stream"),
        ({"modelId": "openai-chat", "prompt": "hi", "colour": "red"}, "colour"),
    ],
)
def test_invalid_requests_name_the_field(local, providers, accounts, body: dict[str, Any], field: str) -> None:
    response = local("generate_text").post("/", json=body, headers=accounts["user"].headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["message"].startswith(f"{field}:")
    assert all(not s.state["requests"] for s in providers.values())


def test_unknown_disabled_and_image_models(local, providers, accounts) -> None:
    from gateway import firebase
    from gateway.registry import registry

    db = firebase.db().collection("models")
    db.document("off").set({"name": "x", "provider": "openai", "enabled": False})
    db.document("pic").set({"name": "x", "provider": "openai", "type": "image"})
    registry().invalidate()
    assert _post(local, accounts["user"], modelId="nope", prompt="hi").status_code == 404
    assert _post(local, accounts["user"], modelId="off", prompt="hi").status_code == 404
    response = _post(local, accounts["user"], modelId="pic", prompt="hi")
    assert response.status_code == 400 and response.get_json()["error"]["message"].startswith("modelId:")


def test_roles(local, providers, accounts) -> None:
    assert _post(local, accounts["viewer"], modelId="openai-chat", prompt="hi").status_code == 403
    assert _post(local, accounts["admin"], modelId="openai-chat", prompt="hi").status_code == 200
    assert local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}).status_code == 401


def test_get_describes_the_schema(local, providers, accounts) -> None:
    body = local("generate_text").get("/", headers=accounts["viewer"].headers).get_json()
    assert set(body["request"]["properties"]) >= {"modelId", "prompt", "messages", "temperature", "maxTokens", "stream"}
