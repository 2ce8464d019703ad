"""OpenAI's Responses API on the ``openai`` function: wire format in-process, the official SDK through the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai as openai_sdk
import pytest
from test_generate_text import REPLY

ARGS = {"city": "Paris"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False},
    "strict": True,
}


def _create(local, account, **body: Any) -> Any:
    return local("openai").post("/v1/responses", json=body, headers=account.headers)


def _events(response: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, payload)`` of each event of a stream, checking each ``event:`` line names its payload's type."""
    out = []
    for block in response.get_data(as_text=True).split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        if not lines:
            continue
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        name, payload = lines[0][7:], json.loads(lines[1][6:])
        assert payload["type"] == name
        out.append((name, payload))
    return out


def _records(uid: str) -> list[dict[str, Any]]:
    from gateway import firebase

    return [r.to_dict() for r in firebase.db().collection("usage").document(uid).collection("records").stream()]


def _described(name: str, payload: dict[str, Any]) -> None:
    """``payload`` matches its answer model in the API description (``extra="forbid"``: no field left undescribed)."""
    from gateway import answers

    getattr(answers, name).model_validate(payload)


def _sent(server: Any) -> dict[str, Any]:
    return server.state["requests"][-1]["body"]


@pytest.fixture
def tooled(providers) -> dict[str, Any]:
    from gateway import firebase
    from gateway.registry import registry

    for name in ("openai", "anthropic"):
        firebase.db().collection("models").document(f"{name}-chat").update({"capabilities": ["chat", "tools"]})
        providers[name].state["tool_call"] = {"name": "get_weather", "arguments": ARGS}
    registry().invalidate()
    return providers


def test_string_input_answers_a_response_object(local, providers, accounts) -> None:
    response = _create(local, accounts["user"], model="openai-chat", input="Say hello")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["object"] == "response" and body["id"].startswith("resp_") and body["status"] == "completed"
    assert body["model"] == "openai-chat" and body["error"] is None and body["incomplete_details"] is None
    [message] = body["output"]
    assert message["type"] == "message" and message["id"].startswith("msg_") and message["role"] == "assistant" and message["status"] == "completed"
    assert message["content"] == [{"type": "output_text", "text": REPLY, "annotations": [], "logprobs": []}]
    assert "output_text" not in body  # an SDK convenience, not on the wire
    usage = body["usage"]
    assert usage["output_tokens"] == 5 and usage["total_tokens"] == usage["input_tokens"] + 5
    assert usage["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0} and usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert body["store"] is True and body["tools"] == [] and body["tool_choice"] == "auto" and body["text"] == {"format": {"type": "text"}}
    assert _sent(providers["openai"])["messages"][-1] == {"role": "user", "content": "Say hello"}
    _described("OpenAIResponse", body)
    [record] = _records(accounts["user"].uid)  # the same ledger as chat completions
    assert record["status"] == "ok" and record["modelId"] == "openai-chat" and record["completionTokens"] == 5


def test_instructions_and_items_reach_every_provider_as_the_system_prompt(local, providers, accounts) -> None:
    items = [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}, {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "yo", "annotations": []}]}, {"role": "user", "content": "again"}]
    response = _create(local, accounts["user"], model="anthropic-chat", input=items, instructions="Be brief")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["instructions"] == "Be brief"
    sent = _sent(providers["anthropic"])
    assert sent["system"] == "Be brief"
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]


def test_function_call_round_trip(local, tooled, accounts) -> None:
    first = _create(local, accounts["user"], model="openai-chat", input="Weather in Paris?", tools=[WEATHER], store=False)
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert body["store"] is False and body["tools"] == [WEATHER]
    [call] = body["output"]
    assert call["type"] == "function_call" and call["id"].startswith("fc_") and call["status"] == "completed"
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == ARGS and call["call_id"] == "call_fake1"
    items = [{"role": "user", "content": "Weather in Paris?"}, call, {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]
    second = _create(local, accounts["user"], model="openai-chat", input=items, tools=[WEATHER])
    assert second.status_code == 200, second.get_data(as_text=True)
    assert second.get_json()["output"][0]["content"][0]["text"] == "Tool said: sunny"
    sent = _sent(tooled["openai"])["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_fake1" and sent[2] == {"role": "tool", "tool_call_id": "call_fake1", "content": "sunny"}


def test_strict_tool_calls_are_checked_against_their_parameters(local, tooled, accounts) -> None:
    tooled["openai"].state["tool_call"] = {"name": "get_weather", "arguments": {"town": "Paris"}}
    response = _create(local, accounts["user"], model="openai-chat", input="Weather?", tools=[WEATHER])
    assert response.status_code == 502 and response.get_json()["error"]["param"] == "tools"
    loose = _create(local, accounts["user"], model="openai-chat", input="Weather?", tools=[{**WEATHER, "strict": False}])
    assert loose.status_code == 200


def test_text_format_json_schema(local, providers, accounts) -> None:
    providers["openai"].state["json_reply"] = {"city": "Paris"}
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    fmt = {"type": "json_schema", "name": "place", "schema": schema, "strict": True}
    response = _create(local, accounts["user"], model="openai-chat", input="Where?", text={"format": fmt})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.get_json()["output"][0]["content"][0]["text"]) == {"city": "Paris"}
    assert response.get_json()["text"] == {"format": fmt}
    assert _sent(providers["openai"])["response_format"]["json_schema"]["schema"] == schema


def test_max_output_tokens_cut_is_incomplete(local, providers, accounts) -> None:
    providers["openai"].state.update({"reply": " ".join(["word"] * 40), "finish_reason": "length"})
    body = _create(local, accounts["user"], model="openai-chat", input="Talk", max_output_tokens=16).get_json()
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["output"][0]["status"] == "incomplete" and body["max_output_tokens"] == 16
    assert _sent(providers["openai"])["max_tokens"] == 16 or _sent(providers["openai"]).get("max_completion_tokens") == 16


def test_stream_event_sequence(local, providers, accounts) -> None:
    response = _create(local, accounts["user"], model="gemini-chat", input="hi", stream=True)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = _events(response)
    names = [name for name, _ in events]
    assert names[:5] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.delta"]
    assert names[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [p["sequence_number"] for _, p in events] == list(range(len(events)))
    deltas = [p["delta"] for name, p in events if name == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == REPLY
    done = dict(events)["response.output_text.done"]
    assert done["text"] == REPLY
    final = events[-1][1]["response"]
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == REPLY
    assert final["usage"]["output_tokens"] == 5
    assert events[0][1]["response"]["id"] == final["id"] and events[0][1]["response"]["status"] == "in_progress"
    from gateway.openai.responses import EVENT_MODELS

    for _, payload in events:  # every event is one the API description lists
        assert any(_try(model, payload) for model in EVENT_MODELS), payload
    [record] = _records(accounts["user"].uid)
    assert record["status"] == "ok" and record["completionTokens"] == 5


def _try(model: str, payload: dict[str, Any]) -> bool:
    try:
        _described(model, payload)
    except ValueError:
        return False
    return True


def test_stream_of_a_tool_call(local, tooled, accounts) -> None:
    events = _events(_create(local, accounts["user"], model="anthropic-chat", input="Weather?", tools=[WEATHER], stream=True))
    names = [name for name, _ in events]
    added = [p["item"]["type"] for name, p in events if name == "response.output_item.added"]
    assert added == ["message", "function_call"]  # Anthropic says a little text first: its item is done before the call's
    assert names.index("response.output_item.done") < names.index("response.function_call_arguments.delta")
    pieces = [p["delta"] for name, p in events if name == "response.function_call_arguments.delta"]
    assert json.loads("".join(pieces)) == ARGS
    assert names[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    text, call = events[-1][1]["response"]["output"]
    assert text["content"][0]["text"] == "Let me check."
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == ARGS and call["status"] == "completed"


def test_stored_response_continues_with_previous_response_id(local, providers, accounts) -> None:
    first = _create(local, accounts["user"], model="openai-chat", input="My name is Ada", instructions="first rules").get_json()
    providers["openai"].state["reply"] = "Ada it is"
    second = _create(local, accounts["user"], model="openai-chat", input="What is my name?", previous_response_id=first["id"], instructions="second rules")
    assert second.status_code == 200, second.get_data(as_text=True)
    assert second.get_json()["previous_response_id"] == first["id"]
    sent = _sent(providers["openai"])["messages"]
    assert sent == [
        {"role": "system", "content": "second rules"},  # the earlier instructions are not carried over
        {"role": "user", "content": "My name is Ada"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "What is my name?"},
    ]
    third = _create(local, accounts["user"], model="openai-chat", input="And again?", previous_response_id=second.get_json()["id"], stream=True)
    assert _events(third)[-1][0] == "response.completed"
    assert [m["content"] for m in _sent(providers["openai"])["messages"]] == ["My name is Ada", REPLY, "What is my name?", "Ada it is", "And again?"]


def test_item_references_name_the_callers_stored_output_items(local, providers, accounts) -> None:
    """``@ai-sdk/openai`` sends earlier outputs as ``item_reference`` when responses are stored: each is the item it names."""
    first = _create(local, accounts["user"], model="openai-chat", input="My name is Ada").get_json()
    message_id = first["output"][0]["id"]
    turn = [{"role": "user", "content": "My name is Ada"}, {"type": "item_reference", "id": message_id}, {"role": "user", "content": "And?"}]
    second = _create(local, accounts["user"], model="openai-chat", input=turn)
    assert second.status_code == 200, second.get_data(as_text=True)
    assert [(m["role"], m["content"]) for m in _sent(providers["openai"])["messages"]] == [
        ("user", "My name is Ada"), ("assistant", REPLY), ("user", "And?"),
    ]
    for who, ref in (("admin", message_id), ("user", "msg_unknown")):  # another user's item, or none: the same 404
        refused = _create(local, accounts[who], model="openai-chat", input=[{"role": "user", "content": "x"}, {"type": "item_reference", "id": ref}])
        assert refused.status_code == 404 and refused.get_json()["error"]["param"] == "input.1.id"


def test_sdk_dumped_items_are_accepted_back(local, tooled, accounts) -> None:
    """``item.model_dump()`` of the Python SDK's function call names ``async`` as ``async_`` and carries null extras."""
    first = _create(local, accounts["user"], model="openai-chat", input="Weather?", tools=[WEATHER]).get_json()
    call = next(i for i in first["output"] if i["type"] == "function_call")
    dumped = {**call, "async_": None, "caller": None, "namespace": None}
    items = [{"role": "user", "content": "Weather?"}, dumped, {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]
    assert _create(local, accounts["user"], model="openai-chat", input=items, tools=[WEATHER]).status_code == 200


def test_get_and_delete_a_stored_response(local, providers, accounts) -> None:
    created = _create(local, accounts["user"], model="openai-chat", input="hi").get_json()
    client, user = local("openai"), accounts["user"].headers
    got = client.get(f"/v1/responses/{created['id']}", headers=user)
    assert got.status_code == 200 and got.get_json() == created
    other = accounts["admin"].headers
    assert client.get(f"/v1/responses/{created['id']}", headers=other).status_code == 404
    assert client.delete(f"/v1/responses/{created['id']}", headers=other).status_code == 404
    taken = _create(local, accounts["admin"], model="openai-chat", input="hi", previous_response_id=created["id"])
    assert taken.status_code == 404 and taken.get_json()["error"]["param"] == "previous_response_id"
    deleted = client.delete(f"/v1/responses/{created['id']}", headers=user)
    assert deleted.status_code == 200 and deleted.get_json() == {"id": created["id"], "object": "response.deleted", "deleted": True}
    assert client.get(f"/v1/responses/{created['id']}", headers=user).status_code == 404
    assert client.get("/v1/responses/resp_missing", headers=user).status_code == 404


def test_store_false_and_streams_store_one_document(local, providers, accounts) -> None:
    from gateway import firebase

    _create(local, accounts["user"], model="openai-chat", input="hi", store=False)
    streamed = _events(_create(local, accounts["user"], model="openai-chat", input="hi", stream=True))[-1][1]["response"]
    docs = list(firebase.db().collection("users").document(accounts["user"].uid).collection("responses").stream())
    assert [d.id for d in docs] == [streamed["id"]]
    assert json.loads(docs[0].get("response")) == streamed


def test_viewer_is_refused(local, providers, accounts) -> None:
    assert _create(local, accounts["viewer"], model="openai-chat", input="hi").status_code == 403


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools.0.type"),
        ({"tools": [{"type": "function", "name": "f", "parameters": {}, "strict": False, "bogus": 1}]}, "tools.0.bogus"),
        ({"truncation": "auto"}, "truncation"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"reasoning": {"effort": "high"}}, "reasoning"),
        ({"background": True}, "background"),
        ({"input": [{"type": "reasoning", "id": "rs_1", "summary": []}]}, "input.0.type"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1", "detail": "auto"}]}]}, "input.0.content.0.file_id"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input.0.call_id"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": 5}}}}, "text.format.schema"),
        ({"stream_options": {"include_obfuscation": False}}, "stream_options"),
        ({"previous_response_id": "resp_nothere"}, "previous_response_id"),
        ({"whatever": 1}, "whatever"),
    ],
)
def test_unsupported_fields_are_refused_naming_the_param(local, providers, accounts, extra: dict[str, Any], param: str) -> None:
    response = _create(local, accounts["user"], **{"model": "openai-chat", "input": "hi", **extra})
    assert response.status_code in (400, 404), response.get_data(as_text=True)
    assert response.get_json()["error"]["param"] == param


def test_fields_at_their_defaults_are_accepted(local, providers, accounts) -> None:
    body = {
        "model": "openai-chat", "input": "hi", "truncation": "disabled", "include": [], "reasoning": None, "background": False,
        "service_tier": "auto", "prompt_cache_key": "k", "safety_identifier": "s", "user": "u", "metadata": {"a": "b"},
        "top_logprobs": 0, "text": {"format": {"type": "text"}, "verbosity": "medium"}, "parallel_tool_calls": True, "store": None,
        "stream": None, "max_tool_calls": None, "prompt": None, "conversation": None,
    }
    response = _create(local, accounts["user"], **body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["metadata"] == {"a": "b"}


def test_provider_429_is_a_rate_limit_error(local, providers, accounts) -> None:
    providers["openai"].state["faults"] = [{"status": 429, "retry_after": "60"}]
    limited = _create(local, accounts["user"], model="openai-chat", input="hi")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "60"
    assert limited.get_json()["error"]["type"] == "rate_limit_error"


def test_stream_failure_ends_with_error_and_failed_events(local, providers, accounts) -> None:
    providers["openai"].state["faults"] = [{"stream_error": True}]
    events = _events(_create(local, accounts["user"], model="openai-chat", input="hi", stream=True))
    assert [name for name, _ in events][-2:] == ["error", "response.failed"]
    assert events[-1][1]["response"]["status"] == "failed" and events[-1][1]["response"]["error"]["code"] == "server_error"


@pytest.fixture
def sdk(emulators, accounts) -> Iterator[openai_sdk.OpenAI]:
    with openai_sdk.OpenAI(base_url=emulators.url("openai", "/v1"), api_key=accounts["user"].token, max_retries=0, timeout=30) as client:
        yield client


def test_openai_sdk_responses(sdk, providers) -> None:
    response = sdk.responses.create(model="openai-chat", input="Say hello", instructions="Be brief")
    assert response.output_text == REPLY and response.usage is not None and response.usage.output_tokens == 5
    again = sdk.responses.create(model="ollama-chat", input="more", previous_response_id=response.id)
    assert again.previous_response_id == response.id and again.output_text == REPLY
    assert sdk.responses.retrieve(response.id).output_text == REPLY

    streamed = list(sdk.responses.create(model="gemini-chat", input="hi", stream=True))
    assert streamed[-1].type == "response.completed" and streamed[-1].response.output_text == REPLY
    with sdk.responses.stream(model="anthropic-chat", input="hi") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == REPLY and final.output_text == REPLY

    sdk.responses.delete(response.id)
    with pytest.raises(openai_sdk.NotFoundError):
        sdk.responses.retrieve(response.id)
    with pytest.raises(openai_sdk.BadRequestError):
        sdk.responses.create(model="openai-chat", input="hi", tools=[{"type": "web_search"}])
