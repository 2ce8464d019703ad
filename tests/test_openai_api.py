"""The OpenAI-compatible endpoint: wire format in-process, and the official openai SDK through the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai as openai_sdk
import pytest
from test_generate_text import REPLY


def _chat(local, account, **body: Any) -> Any:
    return local("openai").post("/v1/chat/completions", json=body, headers=account.headers)


def _data_lines(response: Any) -> list[Any]:
    out = []
    for line in response.get_data(as_text=True).splitlines():
        if line.startswith("data: "):
            raw = line[6:]
            out.append(raw if raw == "[DONE]" else json.loads(raw))
    return out


def test_chat_completion_shape(local, providers, accounts) -> None:
    response = _chat(local, accounts["user"], model="anthropic-chat", messages=[{"role": "developer", "content": "brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-") and body["model"] == "anthropic-chat"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": REPLY, "refusal": None}  # refusal: required by OpenAI's schema
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 5
    assert providers["anthropic"].state["requests"][-1]["body"]["system"] == "brief"


def test_stream_chunks_and_usage(local, providers, accounts) -> None:
    response = _chat(local, accounts["user"], model="gemini-chat", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True})
    lines = _data_lines(response)
    assert lines[-1] == "[DONE]"
    chunks = lines[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == REPLY
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5


def test_stream_without_usage_has_no_usage_chunk(local, providers, accounts) -> None:
    lines = _data_lines(_chat(local, accounts["user"], model="openai-chat", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert all(c["choices"] for c in lines[:-1])


def test_errors_in_openai_shape(local, providers, accounts) -> None:
    bad = _chat(local, accounts["user"], model="openai-chat", messages=[], temperature=1)
    assert bad.status_code == 400
    assert bad.get_json()["error"]["type"] == "invalid_request_error" and bad.get_json()["error"]["param"] == "messages"
    unknown = _chat(local, accounts["user"], model="nope", messages=[{"role": "user", "content": "hi"}])
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"
    anonymous = local("openai").post("/v1/chat/completions", json={})
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["type"] == "authentication_error"
    viewer = _chat(local, accounts["viewer"], model="openai-chat", messages=[{"role": "user", "content": "hi"}])
    assert viewer.status_code == 403
    image = _chat(local, accounts["user"], model="openai-chat", messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    assert image.status_code == 400 and image.get_json()["error"]["param"] == "messages.0.content.0"  # the part itself
    providers["openai"].state["faults"] = [{"status": 429, "retry_after": "60"}]
    limited = _chat(local, accounts["user"], model="openai-chat", messages=[{"role": "user", "content": "hi"}])
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "60"
    assert limited.get_json()["error"]["type"] == "rate_limit_error"


def test_models_list(local, providers, accounts) -> None:
    body = local("openai").get("/v1/models", headers=accounts["viewer"].headers).get_json()
    assert body["object"] == "list"
    assert {m["id"] for m in body["data"]} == {f"{p}-chat" for p in ("openai", "openrouter", "huggingface", "lmstudio", "ollama", "anthropic", "gemini")}
    one = local("openai").get("/v1/models/ollama-chat", headers=accounts["viewer"].headers).get_json()
    assert one == {**one, "id": "ollama-chat", "object": "model", "owned_by": "ollama"}


@pytest.fixture
def sdk(emulators, accounts) -> Iterator[openai_sdk.OpenAI]:
    with openai_sdk.OpenAI(base_url=emulators.url("openai", "/v1"), api_key=accounts["user"].token, max_retries=0, timeout=30) as client:
        yield client


def test_openai_sdk_works_unchanged(sdk, providers) -> None:
    completion = sdk.chat.completions.create(model="openai-chat", messages=[{"role": "user", "content": "Say hello"}])
    assert completion.choices[0].message.content == REPLY
    assert completion.usage is not None and completion.usage.completion_tokens == 5

    stream = sdk.chat.completions.create(
        model="ollama-chat", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5

    assert "gemini-chat" in {m.id for m in sdk.models.list()}


def test_openai_sdk_errors(sdk, providers, emulators) -> None:
    with pytest.raises(openai_sdk.NotFoundError):
        sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai_sdk.BadRequestError):
        sdk.chat.completions.create(model="openai-chat", messages=[{"role": "user", "content": "hi"}], temperature=5)
    with openai_sdk.OpenAI(base_url=emulators.url("openai", "/v1"), api_key="not-a-token", max_retries=0) as bad_token:
        with pytest.raises(openai_sdk.AuthenticationError):
            bad_token.models.list()


def test_stream_ends_with_an_error_chunk_before_the_function_times_out(local, providers, accounts, monkeypatch) -> None:
    from gateway import deploy, generation

    monkeypatch.setattr(deploy, "STREAM_TIMEOUT_SECONDS", 3)
    monkeypatch.setattr(generation, "STREAM_MARGIN_SECONDS", 2.0)
    providers["openai"].state["reply"] = " ".join(["word"] * 100)
    providers["openai"].state["chunk_delay"] = 0.1
    lines = _data_lines(_chat(local, accounts["user"], model="openai-chat", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert lines[-1] == "[DONE]"
    assert lines[-2]["error"]["code"] == "provider_timeout"
    assert any(chunk.get("choices") and chunk["choices"][0]["delta"].get("content") for chunk in lines[:-2])


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"logprobs": True}, "logprobs"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"logit_bias": {"1": 1}}, "logit_bias"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),  # without stream, as OpenAI answers
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "audio": {"id": "a"}}]}, "messages.1.audio"),
        ({"messages": [{"role": "user", "content": "hi", "refusal": "no"}]}, "messages.0.refusal"),
        ({"no_such_field": 1}, "no_such_field"),
        ({"stream": True, "stream_options": {"include_usage": True, "extra": 1}}, "stream_options.extra"),
        ({"messages": [{"role": "user", "content": "hi", "tool_calls": []}]}, "messages.0.tool_calls"),
        ({"messages": [{"role": "function", "content": "42", "name": "f"}]}, "messages.0.role"),  # the legacy functions API
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]}, "messages.0.content.0"),
    ],
)
def test_unsupported_fields_are_refused_naming_the_param(local, providers, accounts, extra: dict[str, Any], param: str) -> None:
    """Never a silent drop: a field the gateway does not honour is a 400 with OpenAI's param, and no provider call."""
    body = {"model": "openai-chat", "messages": [{"role": "user", "content": "hi"}], **extra}
    response = _chat(local, accounts["user"], **body)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert providers["openai"].state["requests"] == []


def test_fields_at_their_defaults_are_accepted_and_change_nothing(local, providers, accounts) -> None:
    """What real clients send: defaults and nulls of documented fields, and an answer dumped back into the history (SDK ``model_dump()``)."""
    first = _chat(local, accounts["user"], model="openai-chat", messages=[{"role": "user", "content": "hi"}])
    answer = first.get_json()["choices"][0]["message"]
    history = [
        {"role": "user", "content": "hi"},
        {**answer, "audio": None, "function_call": None, "annotations": [], "tool_calls": None},
        {"role": "user", "content": "again"},
    ]
    defaults = {
        "frequency_penalty": 0.0, "presence_penalty": 0, "logprobs": False, "top_logprobs": None, "logit_bias": None, "modalities": ["text"],
        "prediction": None, "audio": None, "reasoning_effort": None, "stream": None, "safety_identifier": "user-1", "prompt_cache_key": "k",
        "function_call": None, "functions": None, "web_search_options": None,
    }
    response = _chat(local, accounts["user"], model="openai-chat", messages=history, **defaults)
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = providers["openai"].state["requests"][-1]["body"]
    assert not set(defaults) & set(sent) - {"stream"}
    assert [m.get("content") for m in sent["messages"]] == ["hi", REPLY, "again"]
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"capabilities": ["chat", "tools"]})
    registry().invalidate()
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}, "strict": False}}]
    assert _chat(local, accounts["user"], model="openai-chat", messages=[{"role": "user", "content": "hi"}], tools=tools).status_code == 200


def test_documented_ignored_fields_are_accepted(local, providers, accounts) -> None:
    response = _chat(
        local, accounts["user"], model="openai-chat", seed=7, user="u-1", store=False, metadata={"a": "b"}, service_tier="auto",
        messages=[{"role": "user", "content": "hi", "name": "alice"}],
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = providers["openai"].state["requests"][-1]["body"]
    assert not {"seed", "user", "store", "metadata", "service_tier"} & set(sent)


def test_role_chunk_leaves_when_the_provider_answers_not_with_the_first_token(local, providers, accounts) -> None:
    """The first chunk (role delta) is relayed as soon as the provider's stream opens, not one token gap later."""
    providers["openai"].state.update(reply="slow words here", chunk_delay=0.4)
    started = time.monotonic()
    response = local("openai").post(
        "/v1/chat/completions",
        json={"model": "openai-chat", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers=accounts["user"].headers,
        buffered=False,
    )
    chunks = iter(response.response)
    first = next(chunks)
    role_at = time.monotonic() - started
    content = next(c for c in chunks if b'"content": "slow"' in c or b'"content":"slow"' in c)
    content_at = time.monotonic() - started
    response.close()
    assert b'"role":"assistant"' in first.replace(b" ", b"") and b"slow" not in first
    assert content_at - role_at > 0.3, (role_at, content_at)  # the role chunk did not wait for the first token (0.4 s later)
    assert content


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tool_choice": "garbage"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"nom": "f"}}}, "tool_choice.function.name"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "bad name", "schema": {}}}}, "response_format.json_schema.name"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": []}}}, "response_format.json_schema.schema"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, "hi"]}]}, "messages.0.content.1"),
        ({"stop": 5}, "stop"),
        ({"top_p": 1.5}, "top_p"),
        ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]}, "messages.0.content.0"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]}, "messages.0.content.0"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "prompt_cache_breakpoint": {"mode": "x"}}]}]},
         "messages.0.content.0.prompt_cache_breakpoint"),
        ({"messages": [{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}]}, "messages.0.content.0"),
        ({"moderation": {"input": {"mode": "block"}}}, "moderation"),
    ],
)
def test_param_is_the_field_path(local, providers, accounts, extra: dict[str, Any], param: str) -> None:
    """OpenAI's param, and every details.fields[].field, is the path of the field sent: never a union member's tag."""
    response = _chat(local, accounts["user"], **{"model": "openai-chat", "messages": [{"role": "user", "content": "hi"}], **extra})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["param"] == param
    assert providers["openai"].state["requests"] == []


def test_native_fields_are_field_paths(local, providers, accounts) -> None:
    body = {"modelId": "openai-chat", "prompt": "hi", "toolChoice": "garbage", "responseFormat": {"type": "jsonSchema", "schema": 5}}
    response = local("generate_text").post("/", json=body, headers=accounts["user"].headers)
    assert response.status_code == 400
    assert {f["field"] for f in response.get_json()["error"]["details"]["fields"]} == {"toolChoice", "responseFormat.schema"}


@pytest.mark.parametrize(("provider", "sent_as"), [("openai", 0), ("openrouter", 0), ("lmstudio", 0), ("huggingface", 1e-6), ("anthropic", 0), ("gemini", 0), ("ollama", 0)])
def test_top_p_zero_is_the_likeliest_token(local, providers, accounts, provider: str, sent_as: float) -> None:
    """OpenAI allows top_p 0: passed on where the provider takes 0; HF's servers (TGI, vLLM) want more than 0."""
    response = _chat(local, accounts["user"], model=f"{provider}-chat", messages=[{"role": "user", "content": "hi"}], top_p=0)
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = providers[provider].state["requests"][-1]["body"]
    value = sent.get("top_p", (sent.get("options") or {}).get("top_p", (sent.get("generationConfig") or {}).get("topP")))
    assert value is not None and value == sent_as


def test_sdk_stream_helper_answers_are_accepted_back(local, providers, accounts) -> None:
    """The SDKs' stream helpers (``get_final_completion()``) add ``parsed``, ``parsed_arguments`` and ``index``: dumped
    back into the history they change nothing, as do the documented defaults verbosity/reasoning_effort medium."""
    call = {"id": "call_1", "type": "function", "index": 0, "function": {"name": "get_weather", "arguments": '{"city":"Paris"}', "parsed_arguments": {"city": "Paris"}}}
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "parsed": None, "refusal": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    response = _chat(local, accounts["user"], model="openai-chat", messages=messages, verbosity="medium", reasoning_effort="medium",
                     stream=True, stream_options={"include_usage": True, "include_obfuscation": False})
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = providers["openai"].state["requests"][-1]["body"]
    assert sent["messages"][1]["tool_calls"] == [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]
    assert not {"verbosity", "reasoning_effort"} & set(sent)


def test_message_fields_at_their_defaults_are_accepted(local, providers, accounts) -> None:
    """A text part's prompt_cache_breakpoint (OpenAI's prompt cache: no answer changes) and an assistant's refusal part."""
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "hi", "prompt_cache_breakpoint": {"mode": "explicit"}}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I cannot."}]},
        {"role": "user", "content": [{"type": "text", "text": "again", "prompt_cache_breakpoint": None}]},
    ]
    response = _chat(local, accounts["user"], model="openai-chat", messages=messages, prompt_cache_options={"mode": "explicit"}, moderation=None)
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = providers["openai"].state["requests"][-1]["body"]
    assert [m["content"] for m in sent["messages"]] == ["hi", "I cannot.", "again"]
    assert not {"prompt_cache_options", "moderation"} & set(sent)
