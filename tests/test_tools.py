"""Tool (function) calling on the openai edge, mapped to every provider's wire format and back.

Each fake speaks its provider's real tool format (``tests/fakes``): it calls ``state["tool_call"]``
when tools are offered, and answers ``Tool said: <result>`` once the result comes back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Literal

import openai as openai_sdk
import pytest

ARGS = {"city": "Paris", "unit": "C"}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}}, "required": ["city"]},
    },
}
# Every wire format: the OpenAI family (as is), Anthropic, Gemini, Ollama.
PROVIDERS = ["openai", "openrouter", "huggingface", "lmstudio", "anthropic", "gemini", "ollama"]


@pytest.fixture
def tooled(providers) -> dict[str, Any]:
    """Every ``<provider>-chat`` model declares ``tools``; every fake calls get_weather when offered tools."""
    from gateway import firebase

    for name in PROVIDERS:
        firebase.db().collection("models").document(f"{name}-chat").update({"capabilities": ["chat", "tools"]})
        providers[name].state["tool_call"] = {"name": "get_weather", "arguments": ARGS}
    from gateway.registry import registry

    registry().invalidate()  # read our own writes at once, not when the listener reports them
    return providers


def _chat(local, account, **body: Any) -> Any:
    return local("openai").post("/v1/chat/completions", json=body, headers=account.headers)


def _ask(provider: str, **extra: Any) -> dict[str, Any]:
    return {"model": f"{provider}-chat", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER], **extra}


def _chunks(response: Any) -> list[dict[str, Any]]:
    lines = [line[6:] for line in response.get_data(as_text=True).splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]", lines[-3:]
    return [json.loads(line) for line in lines[:-1]]


def _sent(server: Any) -> dict[str, Any]:
    return server.state["requests"][-1]["body"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_round_trip(local, tooled, accounts, provider: str) -> None:
    """Call -> the app runs the tool -> its result goes back -> the model's final answer."""
    user = accounts["user"]
    first = _chat(local, user, **_ask(provider))
    assert first.status_code == 200, first.get_data(as_text=True)
    choice = first.get_json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather" and call["id"]
    assert json.loads(call["function"]["arguments"]) == ARGS

    # The tools reached the provider in its own format.
    sent = _sent(tooled[provider])
    if provider == "anthropic":
        assert sent["tools"] == [{"name": "get_weather", "description": "Current weather in a city", "input_schema": WEATHER["function"]["parameters"]}]
    elif provider == "gemini":
        assert sent["tools"][0]["functionDeclarations"][0]["parameters"] == WEATHER["function"]["parameters"]
    else:
        assert sent["tools"][0]["function"]["name"] == "get_weather"

    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"},
    ]
    second = _chat(local, user, model=f"{provider}-chat", messages=history, tools=[WEATHER])
    assert second.status_code == 200, second.get_data(as_text=True)
    answer = second.get_json()["choices"][0]
    assert answer["finish_reason"] == "stop" and "tool_calls" not in answer["message"]
    assert "18C and sunny" in answer["message"]["content"]

    # The call and its result reached the provider in its format.
    sent = _sent(tooled[provider])
    if provider == "anthropic":
        assert sent["messages"][1]["content"][-1] == {"type": "tool_use", "id": call["id"], "name": "get_weather", "input": ARGS}
        assert sent["messages"][2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "18C and sunny"}]}
    elif provider == "gemini":
        assert sent["contents"][1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": ARGS}}]}
        assert sent["contents"][2]["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"content": "18C and sunny"}}}]
    elif provider == "ollama":
        assert sent["messages"][1]["tool_calls"] == [{"function": {"name": "get_weather", "arguments": ARGS}}]
        assert sent["messages"][2] == {"role": "tool", "content": "18C and sunny", "tool_name": "get_weather"}
    else:
        assert sent["messages"][1]["tool_calls"][0]["function"] == call["function"]
        assert sent["messages"][2] == {"role": "tool", "content": "18C and sunny", "tool_call_id": call["id"]}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streamed_tool_call_is_reassembled(local, tooled, accounts, provider: str) -> None:
    """OpenAI's streamed shape whatever the provider streams (fragments, Anthropic input_json_delta, whole calls)."""
    from gateway import firebase

    user = accounts["user"]
    response = _chat(local, user, **_ask(provider, stream=True, stream_options={"include_usage": True}))
    chunks = _chunks(response)
    pieces = [tc for c in chunks for choice in c["choices"] for tc in (choice["delta"].get("tool_calls") or [])]
    assert pieces and all(p["index"] == 0 for p in pieces)
    assert pieces[0]["id"] and pieces[0]["type"] == "function" and pieces[0]["function"]["name"] == "get_weather"
    assert all("id" not in p and "name" not in p["function"] for p in pieces[1:])
    arguments = "".join(p["function"]["arguments"] for p in pieces)
    if provider in ("gemini", "ollama"):  # structured arguments on the wire: re-encoded compactly
        assert arguments == json.dumps(ARGS, separators=(",", ":"))
    else:  # JSON text fragments: relayed byte for byte
        assert arguments == json.dumps(ARGS)
    finishes = [choice["finish_reason"] for c in chunks for choice in c["choices"] if choice["finish_reason"]]
    assert finishes == ["tool_calls"]
    assert chunks[-1]["usage"]["completion_tokens"] == 7
    records = [r.to_dict() for r in firebase.db().collection("usage").document(user.uid).collection("records").stream()]
    assert any(r["modelId"] == f"{provider}-chat" and r["status"] == "ok" and r["completionTokens"] == 7 for r in records)


def test_model_without_tools_capability_is_refused(local, providers, accounts) -> None:
    response = _chat(local, accounts["user"], **_ask("openai"))
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "tools"
    assert providers["openai"].state["requests"] == []


@pytest.mark.parametrize(
    ("provider", "choice", "expected"),
    [
        ("anthropic", "required", {"type": "any"}),
        ("anthropic", {"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
        ("anthropic", "none", {"type": "none"}),
        ("gemini", "required", {"functionCallingConfig": {"mode": "ANY"}}),
        ("gemini", {"type": "function", "function": {"name": "get_weather"}}, {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}),
        ("openai", {"type": "function", "function": {"name": "get_weather"}}, {"type": "function", "function": {"name": "get_weather"}}),
        ("openai", "required", "required"),
    ],
)
def test_tool_choice_is_mapped(local, tooled, accounts, provider: str, choice: Any, expected: Any) -> None:
    response = _chat(local, accounts["user"], **_ask(provider, tool_choice=choice))
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = _sent(tooled[provider])
    assert (sent["toolConfig"] if provider == "gemini" else sent["tool_choice"]) == expected


def test_parallel_tool_calls_off_is_mapped(local, tooled, accounts) -> None:
    assert _chat(local, accounts["user"], **_ask("anthropic", parallel_tool_calls=False)).status_code == 200
    assert _sent(tooled["anthropic"])["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert _chat(local, accounts["user"], **_ask("openai", parallel_tool_calls=False)).status_code == 200
    assert _sent(tooled["openai"])["parallel_tool_calls"] is False
    for provider in ("gemini", "ollama"):  # cannot be asked: refused, not dropped
        refused = _chat(local, accounts["user"], **_ask(provider, parallel_tool_calls=False))
        assert refused.status_code == 400 and refused.get_json()["error"]["param"] == "parallel_tool_calls"
        assert tooled[provider].state["requests"] == []
        assert _chat(local, accounts["user"], **_ask(provider, parallel_tool_calls=True)).status_code == 200


def test_what_a_provider_cannot_express_is_refused(local, tooled, accounts) -> None:
    """Ollama has no tool_choice: 'required' or a named function is a 400 before any call; 'none' sends no tools."""
    for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        response = _chat(local, accounts["user"], **_ask("ollama", tool_choice=choice))
        assert response.status_code == 400 and response.get_json()["error"]["param"] == "tool_choice"
    assert tooled["ollama"].state["requests"] == []
    none = _chat(local, accounts["user"], **_ask("ollama", tool_choice="none"))
    assert none.status_code == 200 and none.get_json()["choices"][0]["finish_reason"] == "stop"
    assert "tools" not in _sent(tooled["ollama"])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tool_choice": "auto", "tools": None}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "other"}}}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools.0.function.name"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.tool_call_id"),
        ({"messages": [{"role": "user", "content": "x", "tool_call_id": "c"}]}, "messages.0.tool_call_id"),
        ({"messages": [{"role": "user", "content": "x", "tool_calls": []}]}, "messages.0.tool_calls"),
    ],
)
def test_bad_tool_requests_name_the_field(local, tooled, accounts, body: dict[str, Any], param: str) -> None:
    request = {**_ask("openai"), **body}
    if request.get("tools") is None:
        request.pop("tools")
    response = _chat(local, accounts["user"], **request)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["param"] == param


@pytest.fixture
def sdk(emulators, accounts) -> Iterator[openai_sdk.OpenAI]:
    with openai_sdk.OpenAI(base_url=emulators.url("openai", "/v1"), api_key=accounts["user"].token, max_retries=0, timeout=30) as client:
        yield client


def _propagated(call: Any) -> Any:
    """``call()`` once the emulator's worker has the models' new capabilities (its listener: within 2 s)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return call()
        except openai_sdk.BadRequestError as err:
            if "capabilities" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_openai_sdk_runs_a_tool_call_unchanged(sdk, tooled) -> None:
    """The official SDK, through the Functions emulator: a call, the result, the answer; then the same streamed."""
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = _propagated(lambda: sdk.chat.completions.create(model="anthropic-chat", messages=messages, tools=[WEATHER]))
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and json.loads(call.function.arguments) == ARGS
    messages += [first.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "18C"}]
    final = sdk.chat.completions.create(model="anthropic-chat", messages=messages, tools=[WEATHER])
    assert final.choices[0].message.content.endswith("18C")

    _propagated(lambda: sdk.chat.completions.create(model="gemini-chat", messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER]))
    arguments = ""
    with sdk.chat.completions.stream(model="gemini-chat", messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER]) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                arguments += event.arguments_delta
        completion = stream.get_final_completion()
    assert json.loads(arguments) == ARGS
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"


def _strict(strict: bool | None) -> dict[str, Any]:
    return {**WEATHER, "function": {**WEATHER["function"], "strict": strict}}


@pytest.mark.parametrize("provider", ["openai", "huggingface", "anthropic", "gemini", "ollama"])
def test_strict_tool_is_honoured_and_a_matching_call_answered(local, tooled, accounts, provider: str) -> None:
    """strict: true is sent where the provider's API takes it (OpenAI's family); every provider's call is checked."""
    response = _chat(local, accounts["user"], **_ask(provider, tools=[_strict(True)]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.get_json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == ARGS
    sent = json.dumps(_sent(tooled[provider]))
    if provider in ("openai", "huggingface"):
        assert _sent(tooled[provider])["tools"][0]["function"]["strict"] is True
    else:  # no such field in their API: the gateway's check is the guarantee
        assert '"strict"' not in sent


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_strict_tool_call_breaking_its_schema_is_an_error(local, tooled, accounts, provider: str, stream: bool) -> None:
    tooled[provider].state["tool_call"] = {"name": "get_weather", "arguments": {"city": 5}}
    response = _chat(local, accounts["user"], **_ask(provider, tools=[_strict(True)], stream=stream))
    if stream:  # the fragments went out as they came; the stream ends with an error instead of a finish
        chunks = _chunks(response)
        error = chunks[-1]["error"]
        assert not any(choice["finish_reason"] for c in chunks for choice in c.get("choices") or [])
    else:
        assert response.status_code == 502, response.get_data(as_text=True)
        error = response.get_json()["error"]
    assert error["code"] == "provider_error" and error["param"] == "tools"
    assert error["message"] == "The provider's call of tool 'get_weather' does not match its parameters at city: 5 is not of type 'string'"


def test_strict_tool_call_cut_short_is_an_error(local, tooled, accounts) -> None:
    tooled["openai"].state["tool_call"] = {"name": "get_weather", "arguments": '{"city": "Par'}
    response = _chat(local, accounts["user"], **_ask("openai", tools=[_strict(True)]))
    assert response.status_code == 502
    assert response.get_json()["error"]["message"] == "The provider's call of tool 'get_weather' has arguments that are not valid JSON"


@pytest.mark.parametrize("strict", [False, None])
def test_tool_calls_are_passed_on_unchecked_without_strict(local, tooled, accounts, strict: bool | None) -> None:
    """As OpenAI: without strict the model's arguments are not promised to match; the gateway relays them."""
    tooled["openai"].state["tool_call"] = {"name": "get_weather", "arguments": {"city": 5}}
    response = _chat(local, accounts["user"], **_ask("openai", tools=[_strict(strict)]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert json.loads(response.get_json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": 5}
    assert _sent(tooled["openai"])["tools"][0]["function"].get("strict") is strict


def test_native_strict_tool_is_checked(local, tooled, accounts) -> None:
    """generate_text's tools take strict too (same check, same 502)."""
    tooled["anthropic"].state["tool_call"] = {"name": "get_weather", "arguments": {"unit": "C"}}
    tool = {"name": "get_weather", "parameters": WEATHER["function"]["parameters"], "strict": True}
    response = local("generate_text").post("/", json={"modelId": "anthropic-chat", "prompt": "Weather?", "tools": [tool]}, headers=accounts["user"].headers)
    assert response.status_code == 502, response.get_data(as_text=True)
    assert response.get_json()["error"]["details"] == {"field": "tools", "tool": "get_weather", "path": "(root)"}
    bad = local("generate_text").post("/", json={"modelId": "anthropic-chat", "prompt": "Weather?", "tools": [{**tool, "parameters": {"type": 5}}]}, headers=accounts["user"].headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["fields"][0]["field"] == "tools.0.parameters"


def test_tool_parameters_must_be_a_json_schema(local, tooled, accounts) -> None:
    tools = [WEATHER, {"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}]
    response = _chat(local, accounts["user"], **_ask("openai", tools=tools))
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "tools.1.function.parameters"
    assert tooled["openai"].state["requests"] == []


TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize(("provider", "mode", "expected"), [("openai", "required", "required"), ("anthropic", "required", {"type": "any"}), ("openai", "auto", "auto")])
def test_allowed_tools_are_the_only_tools_offered(local, tooled, accounts, provider: str, mode: str, expected: Any) -> None:
    choice = {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": [{"type": "function", "function": {"name": "get_weather"}}]}}
    response = _chat(local, accounts["user"], **_ask(provider, tools=[TIME, WEATHER], tool_choice=choice))
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = _sent(tooled[provider])
    names = [t["name"] if provider == "anthropic" else t["function"]["name"] for t in sent["tools"]]
    assert names == ["get_weather"] and sent["tool_choice"] == expected


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "nope"}}]}}},
         "tool_choice.allowed_tools.tools.0.function.name"),
        ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "none", "tools": [{"type": "function", "function": {"name": "get_weather"}}]}}},
         "tool_choice.allowed_tools.mode"),
        ({"tool_choice": {"type": "custom", "custom": {"name": "get_weather"}}}, "tool_choice"),
        ({"tools": [WEATHER, {"type": "custom", "custom": {"name": "sql"}}]}, "tools.1"),
        ({"tool_choice": {"type": "function", "function": {}}}, "tool_choice.function.name"),
        ({"tool_choice": "garbage"}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]}, "tools.0.function.strict"),
    ],
)
def test_tool_choice_refusals_name_the_field(local, tooled, accounts, body: dict[str, Any], param: str) -> None:
    response = _chat(local, accounts["user"], **{**_ask("openai"), **body})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["param"] == param
    assert tooled["openai"].state["requests"] == []


def test_strict_tool_whose_ref_leads_nowhere_is_a_400_not_a_500(local, tooled, accounts) -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "strict": True, "parameters": {"type": "object", "properties": {"city": {"$ref": "#/$defs/nope"}}}}}
    response = _chat(local, accounts["user"], **_ask("anthropic", tools=[tool]))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["param"] == "tools" and "$ref" in response.get_json()["error"]["message"]


def test_openai_sdk_parses_strict_tool_calls_unchanged(sdk, tooled) -> None:
    """``chat.completions.parse`` with ``pydantic_function_tool`` (which sends strict: true), through the emulator, on a
    provider without strict: the gateway's check is what lets the SDK trust the arguments."""
    import pydantic

    class GetWeather(pydantic.BaseModel):
        city: str
        unit: Literal["C", "F"]

    tool = openai_sdk.pydantic_function_tool(GetWeather, name="get_weather")
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    completion = _propagated(lambda: sdk.chat.completions.parse(model="gemini-chat", messages=messages, tools=[tool]))
    assert completion.choices[0].message.tool_calls[0].function.parsed_arguments == GetWeather(city="Paris", unit="C")
    tooled["gemini"].state["tool_call"] = {"name": "get_weather", "arguments": {"city": "Paris"}}
    with pytest.raises(openai_sdk.APIStatusError) as failed:
        sdk.chat.completions.parse(model="gemini-chat", messages=messages, tools=[tool])
    assert failed.value.status_code == 502 and "get_weather" in failed.value.message
