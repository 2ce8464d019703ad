"""generate_text's own (camelCase) forms of tools, images and structured output: the same core as the openai edge."""

from __future__ import annotations

import base64
import json
from typing import Any

from fakes.images import make

ARGS = {"city": "Paris"}
TOOL = {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def _post(local, account, **body: Any) -> Any:
    return local("generate_text").post("/", json=body, headers=account.headers)


def _capable(*capabilities: str, models: tuple[str, ...] = ("anthropic", "gemini", "openai")) -> None:
    from gateway import firebase
    from gateway.registry import registry

    for name in models:
        firebase.db().collection("models").document(f"{name}-chat").update({"capabilities": ["chat", *capabilities]})
    registry().invalidate()  # read our own write now, not when the listener reports it


def test_tool_round_trip_and_stream(local, providers, accounts) -> None:
    _capable("tools")
    providers["anthropic"].state["tool_call"] = {"name": "get_weather", "arguments": ARGS}
    user = accounts["user"]
    first = _post(local, user, modelId="anthropic-chat", prompt="Weather in Paris?", tools=[TOOL], toolChoice={"name": "get_weather"})
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert body["finishReason"] == "tool_calls"
    [call] = body["toolCalls"]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == ARGS
    assert providers["anthropic"].state["requests"][-1]["body"]["tool_choice"] == {"type": "tool", "name": "get_weather"}

    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "toolCalls": [call]},
        {"role": "tool", "toolCallId": call["id"], "content": "18C"},
    ]
    final = _post(local, user, modelId="anthropic-chat", messages=messages, tools=[TOOL])
    assert final.status_code == 200 and final.get_json()["text"] == "Tool said: 18C" and "toolCalls" not in final.get_json()

    from gateway import answers

    answers.TextAnswer.model_validate(body)
    stream = _post(local, user, modelId="anthropic-chat", prompt="Weather?", tools=[TOOL], stream=True)
    events = [json.loads(line[6:]) for line in stream.get_data(as_text=True).splitlines() if line.startswith("data: {")]
    pieces = [e["toolCall"] for e in events if "toolCall" in e]
    for event in events:
        if "toolCall" in event:
            answers.StreamToolCall.model_validate(event)
    assert pieces[0]["id"] == "toolu_fake1" and pieces[0]["name"] == "get_weather"
    assert "".join(p["arguments"] for p in pieces) == json.dumps(ARGS)
    assert events[-1]["done"] is True and events[-1]["finishReason"] == "tool_calls"


def test_images_with_the_prompt(local, providers, accounts) -> None:
    _capable("vision")
    png = make(4, 4, "png")
    url = f"data:image/png;base64,{base64.b64encode(png).decode()}"
    response = _post(local, accounts["user"], modelId="gemini-chat", prompt="What is it?", images=[url])
    assert response.status_code == 200, response.get_data(as_text=True)
    parts = providers["gemini"].state["requests"][-1]["body"]["contents"][0]["parts"]
    assert parts[0] == {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}}
    refused = _post(local, accounts["user"], modelId="ollama-chat", prompt="What is it?", images=[url])  # no vision
    assert refused.status_code == 400 and refused.get_json()["error"]["details"]["fields"][0]["field"] == "images.0"
    ssrf = _post(local, accounts["user"], modelId="gemini-chat", prompt="x", images=["http://169.254.169.254/"])
    assert ssrf.status_code == 400


def test_json_schema_answer(local, providers, accounts) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    providers["openai"].state["json_reply"] = ARGS
    ok = _post(local, accounts["user"], modelId="openai-chat", prompt="A city", responseFormat={"type": "jsonSchema", "schema": schema})
    assert ok.status_code == 200 and json.loads(ok.get_json()["text"]) == ARGS
    providers["openai"].state["json_reply"] = {"town": "Paris"}
    bad = _post(local, accounts["user"], modelId="openai-chat", prompt="A city", responseFormat={"type": "jsonSchema", "schema": schema})
    assert bad.status_code == 502 and "city" in bad.get_json()["error"]["message"]


def test_fields_named_in_camel_case(local, providers, accounts) -> None:
    _capable("tools")
    cases = [
        ({"tools": [TOOL], "toolChoice": {"name": "other"}}, "toolChoice"),
        ({"toolChoice": "auto"}, "toolChoice"),
        ({"tools": [TOOL]}, "tools"),  # ollama-chat has no tools capability
        ({"responseFormat": {"type": "jsonSchema", "schema": {"type": "nonsense"}}}, "responseFormat.schema"),
        ({"messages": [{"role": "tool", "content": "x"}], "prompt": None}, "messages.0.toolCallId"),
        ({"messages": [{"role": "assistant", "content": "x", "images": ["data:,"]}], "prompt": None}, "messages.0.images"),
    ]
    for extra, field in cases:
        body = {"modelId": "ollama-chat", "prompt": "hi", **extra}
        body = {k: v for k, v in body.items() if v is not None}
        response = _post(local, accounts["user"], **body)
        assert response.status_code == 400, (extra, response.get_data(as_text=True))
        assert response.get_json()["error"]["details"]["fields"][0]["field"] == field, extra
    _capable("tools", models=("ollama",))
    forced = _post(local, accounts["user"], modelId="ollama-chat", prompt="hi", tools=[TOOL], toolChoice="required")
    assert forced.status_code == 400 and forced.get_json()["error"]["details"]["fields"][0]["field"] == "toolChoice"
    serial = _post(local, accounts["user"], modelId="ollama-chat", prompt="hi", tools=[TOOL], parallelToolCalls=False)
    assert serial.status_code == 400 and serial.get_json()["error"]["details"]["fields"][0]["field"] == "parallelToolCalls"
