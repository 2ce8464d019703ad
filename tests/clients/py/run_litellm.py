"""litellm as a client (the SDK, not its proxy), as its docs show it, against the gateway."""

from __future__ import annotations

import asyncio
import json

import litellm
from common import BASE_URL, EMBED_MODEL, IMAGE_URL, LIMITED_MODEL, MODEL, REPLY, TOKEN, TOOL_ANSWER, TOOL_RESULT, WEATHER_TOOL, expect, expect_status, run
from pydantic import BaseModel

SETTINGS = {"model": f"openai/{MODEL}", "api_base": BASE_URL, "api_key": TOKEN, "max_retries": 0, "timeout": 60}
HI = [{"role": "user", "content": "Say hello"}]


class City(BaseModel):
    city: str
    country: str


def plain() -> None:
    answer = litellm.completion(messages=HI, **SETTINGS)
    expect(answer.choices[0].message.content == REPLY, f"content {answer.choices[0].message.content!r}")


def stream() -> None:
    text = "".join(chunk.choices[0].delta.content or "" for chunk in litellm.completion(messages=HI, stream=True, **SETTINGS) if chunk.choices)
    expect(text == REPLY, f"streamed {text!r}")


def include_usage() -> str:
    chunks = list(litellm.completion(messages=HI, stream=True, stream_options={"include_usage": True}, **SETTINGS))
    usage = next((getattr(chunk, "usage", None) for chunk in reversed(chunks) if getattr(chunk, "usage", None)), None)
    expect(usage is not None and usage.completion_tokens > 0, f"usage {usage}")
    return f"completion_tokens={usage.completion_tokens}"


def _round_trip(tool: dict) -> str:
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    first = litellm.completion(messages=messages, tools=[tool], **SETTINGS)
    call = first.choices[0].message.tool_calls[0]
    expect(call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}, f"tool call {call}")
    messages += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT}]
    second = litellm.completion(messages=messages, tools=[tool], **SETTINGS)
    expect(second.choices[0].message.content == TOOL_ANSWER, f"final {second.choices[0].message.content!r}")
    return "2 calls"


def stream_tools() -> str:
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    chunks = list(litellm.completion(messages=messages, tools=[WEATHER_TOOL], stream=True, **SETTINGS))
    first = litellm.stream_chunk_builder(chunks, messages=messages)
    call = first.choices[0].message.tool_calls[0]
    expect(call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}, f"tool call {call}")
    messages += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT}]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in litellm.completion(messages=messages, tools=[WEATHER_TOOL], stream=True, **SETTINGS) if chunk.choices)
    expect(text == TOOL_ANSWER, f"final {text!r}")
    return f"{len(chunks)} chunks"


def structured() -> str:
    answer = litellm.completion(messages=[{"role": "user", "content": "Where is the Eiffel tower?"}], response_format=City, **SETTINGS)
    city = City.model_validate_json(answer.choices[0].message.content)
    expect(city.city == "Paris", f"parsed {city!r}")
    return repr(city)


def image() -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": IMAGE_URL}}]
    answer = litellm.completion(messages=[{"role": "user", "content": content}], **SETTINGS)
    expect(answer.choices[0].message.content == REPLY, "answer to an image")


def history() -> None:
    messages: list = [{"role": "user", "content": "hi"}]
    first = litellm.completion(messages=messages, **SETTINGS)
    messages += [first.choices[0].message.model_dump(), {"role": "user", "content": "again"}]
    second = litellm.completion(messages=messages, **SETTINGS)
    expect(second.choices[0].message.content == REPLY, "second answer")


def async_stream() -> None:
    async def go() -> str:
        stream_ = await litellm.acompletion(messages=HI, stream=True, **SETTINGS)
        return "".join([chunk.choices[0].delta.content or "" async for chunk in stream_ if chunk.choices])

    text = asyncio.run(go())
    expect(text == REPLY, f"async streamed {text!r}")


RESPONSES = {key: value for key, value in SETTINGS.items() if key != "max_retries"}


def responses_text() -> None:
    answer = litellm.responses(input="Say hello", **RESPONSES)
    text = "".join(part.text for item in answer.output if item.type == "message" for part in item.content)
    expect(text == REPLY, f"output {answer.output}")


def responses_stream() -> None:
    text = "".join(event.delta for event in litellm.responses(input="Say hello", stream=True, **RESPONSES) if event.type == "response.output_text.delta")
    expect(text == REPLY, f"streamed {text!r}")


def responses_tools() -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL["function"]["parameters"], "strict": False}
    first = litellm.responses(input="Weather in Paris?", tools=[tool], **RESPONSES)
    calls = [item for item in first.output if item.type == "function_call"]
    expect(len(calls) == 1 and json.loads(calls[0].arguments) == {"city": "Paris"}, f"output {first.output}")
    items = [{"role": "user", "content": "Weather in Paris?"}, {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather", "arguments": calls[0].arguments},
             {"type": "function_call_output", "call_id": calls[0].call_id, "output": TOOL_RESULT}]
    second = litellm.responses(input=items, tools=[tool], **RESPONSES)
    text = "".join(part.text for item in second.output if item.type == "message" for part in item.content)
    expect(text == TOOL_ANSWER, f"final {text!r}")


def embeddings() -> str:
    answer = litellm.embedding(input=["one", "two"], **{**SETTINGS, "model": f"openai/{EMBED_MODEL}"})
    expect(len(answer.data) == 2 and len(answer.data[0]["embedding"]) > 0, "two vectors")
    return f"dims={len(answer.data[0]['embedding'])}"


run("litellm", {
    "plain": plain, "stream": stream, "include_usage": include_usage,
    "tools": lambda: _round_trip(WEATHER_TOOL),
    "tools_strict": lambda: _round_trip({**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True}}),
    "stream_tools": stream_tools, "structured": structured, "image": image, "history": history, "async": async_stream,
    "responses_text": responses_text, "responses_stream": responses_stream, "responses_tools": responses_tools, "embeddings": embeddings,
    "bad_token": lambda: expect_status(lambda: litellm.completion(messages=HI, **{**SETTINGS, "api_key": "not-a-token"}), 401),
    "rate_limit": lambda: expect_status(lambda: litellm.completion(messages=HI, **{**SETTINGS, "model": f"openai/{LIMITED_MODEL}"}), 429),
})
