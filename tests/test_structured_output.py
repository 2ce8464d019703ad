"""Structured output (``response_format``) on the openai edge: mapped per provider, and checked by the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai as openai_sdk
import pytest

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}
CITY = {"name": "Paris", "population": 2100000}
PROVIDERS = ["openai", "openrouter", "lmstudio", "anthropic", "gemini", "ollama"]


def _format(schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}}


def _chat(local, account, provider: str, **extra: Any) -> Any:
    body = {"model": f"{provider}-chat", "messages": [{"role": "user", "content": "A city as JSON"}], **extra}
    return local("openai").post("/v1/chat/completions", json=body, headers=account.headers)


def _streamed_text(response: Any) -> tuple[str, list[dict[str, Any]]]:
    lines = [line[6:] for line in response.get_data(as_text=True).splitlines() if line.startswith("data: ")]
    chunks = [json.loads(line) for line in lines if line != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    return text, chunks


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_schema_answer_per_provider(local, providers, accounts, provider: str, stream: bool) -> None:
    providers[provider].state["json_reply"] = CITY
    response = _chat(local, accounts["user"], provider, response_format=_format(), stream=stream)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = _streamed_text(response)[0] if stream else response.get_json()["choices"][0]["message"]["content"]
    assert json.loads(text) == CITY

    sent = providers[provider].state["requests"][-1]["body"]
    if provider == "anthropic":  # emulated: one forced tool whose input schema is the asked one
        assert sent["tool_choice"] == {"type": "tool", "name": "json_answer"}
        assert sent["tools"][0]["input_schema"] == SCHEMA
    elif provider == "gemini":
        assert sent["generationConfig"]["responseMimeType"] == "application/json"
        assert sent["generationConfig"]["responseSchema"] == SCHEMA
    elif provider == "ollama":
        assert sent["format"] == SCHEMA
    else:
        assert sent["response_format"] == {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}}


@pytest.mark.parametrize("provider", ["openai", "gemini", "ollama"])
def test_json_object_mode(local, providers, accounts, provider: str) -> None:
    providers[provider].state["json_reply"] = {"ok": True}
    response = _chat(local, accounts["user"], provider, response_format={"type": "json_object"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.get_json()["choices"][0]["message"]["content"]) == {"ok": True}
    sent = providers[provider].state["requests"][-1]["body"]
    expected = {"openai": ("response_format", {"type": "json_object"}), "ollama": ("format", "json")}
    if provider in expected:
        key, value = expected[provider]
        assert sent[key] == value
    else:
        assert sent["generationConfig"] == {**sent["generationConfig"], "responseMimeType": "application/json"}


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_that_breaks_the_schema_is_an_error_not_passed_on(local, providers, accounts, stream: bool) -> None:
    providers["ollama"].state["json_reply"] = {"name": "Paris"}  # no population
    response = _chat(local, accounts["user"], "ollama", response_format=_format(), stream=stream)
    if stream:  # the text went out as it came; the stream ends with an error instead of a finish
        _, chunks = _streamed_text(response)
        assert "error" in chunks[-1] and chunks[-1]["error"]["code"] == "provider_error"
        assert "population" in chunks[-1]["error"]["message"]
        assert not any(c.get("choices") and c["choices"][0].get("finish_reason") for c in chunks)
    else:
        assert response.status_code == 502
        error = response.get_json()["error"]
        assert error["code"] == "provider_error" and "'population' is a required property" in error["message"]


def test_text_where_json_was_asked_is_an_error(local, providers, accounts) -> None:
    response = _chat(local, accounts["user"], "gemini", response_format={"type": "json_object"})  # no json_reply: plain text
    assert response.status_code == 502 and "not valid JSON" in response.get_json()["error"]["message"]


def test_bad_requests_name_the_field(local, providers, accounts) -> None:
    bad_schema = _chat(local, accounts["user"], "openai", response_format=_format({"type": "nonsense"}))
    assert bad_schema.status_code == 400 and bad_schema.get_json()["error"]["param"] == "response_format.json_schema.schema"
    unknown = _chat(local, accounts["user"], "openai", response_format={"type": "yaml"})
    assert unknown.status_code == 400 and unknown.get_json()["error"]["param"].startswith("response_format")

    from gateway import firebase

    firebase.db().collection("models").document("anthropic-chat").update({"capabilities": ["chat", "tools"]})
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    both = _chat(local, accounts["user"], "anthropic", response_format=_format(), tools=tools)
    assert both.status_code == 400 and both.get_json()["error"]["param"] == "response_format"
    assert providers["anthropic"].state["requests"] == []


def test_text_format_is_plain_text(local, providers, accounts) -> None:
    response = _chat(local, accounts["user"], "openai", response_format={"type": "text"})
    assert response.status_code == 200 and "response_format" not in providers["openai"].state["requests"][-1]["body"]


@pytest.fixture
def sdk(emulators, accounts) -> Iterator[openai_sdk.OpenAI]:
    with openai_sdk.OpenAI(base_url=emulators.url("openai", "/v1"), api_key=accounts["user"].token, max_retries=0, timeout=30) as client:
        yield client


def test_openai_sdk_response_format_unchanged(sdk, providers) -> None:
    providers["anthropic"].state["json_reply"] = CITY
    completion = sdk.chat.completions.create(
        model="anthropic-chat", messages=[{"role": "user", "content": "A city"}], response_format=_format()  # type: ignore[arg-type]
    )
    assert json.loads(completion.choices[0].message.content or "") == CITY
