"""The official openai Python SDK (sync and async), as its README shows it, against the gateway."""

from __future__ import annotations

import asyncio
import json

import openai
from common import BASE_URL, EMBED_MODEL, IMAGE_URL, LIMITED_MODEL, MODEL, REPLY, TOKEN, TOOL_ANSWER, TOOL_RESULT, WEATHER_TOOL, expect, expect_status, run
from pydantic import BaseModel

client = openai.OpenAI(base_url=BASE_URL, api_key=TOKEN, max_retries=0, timeout=60)
HI = [{"role": "user", "content": "Say hello"}]


class City(BaseModel):
    city: str
    country: str


def plain() -> str:
    answer = client.chat.completions.create(model=MODEL, messages=HI)
    expect(answer.choices[0].message.content == REPLY, f"content {answer.choices[0].message.content!r}")
    return answer.id


def stream() -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=HI, stream=True))
    expect("".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY, "streamed text")


def include_usage() -> str:
    chunks = list(client.chat.completions.create(model=MODEL, messages=HI, stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    expect(usage is not None and usage.completion_tokens > 0, f"last chunk's usage {usage}")
    return f"completion_tokens={usage.completion_tokens}"


def _round_trip(tool: dict) -> str:
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[tool])
    call = first.choices[0].message.tool_calls[0]
    expect(call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}, f"tool call {call}")
    messages += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[tool])
    expect(second.choices[0].message.content == TOOL_ANSWER, f"final {second.choices[0].message.content!r}")
    return "2 calls"


def tools() -> str:
    return _round_trip(WEATHER_TOOL)


def tools_strict() -> str:
    return _round_trip({**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True}})


def stream_tools() -> str:
    """A tool round trip streamed both ways, with the SDK's stream helper assembling the call."""
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER_TOOL]) as events:
        first = events.get_final_completion()
    call = first.choices[0].message.tool_calls[0]
    expect(call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}, f"tool call {call}")
    messages += [first.choices[0].message.model_dump(), {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT}]
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER_TOOL]) as events:
        second = events.get_final_completion()
    expect(second.choices[0].message.content == TOOL_ANSWER, f"final {second.choices[0].message.content!r}")
    return "2 streams"


def structured() -> str:
    answer = client.chat.completions.parse(model=MODEL, messages=[{"role": "user", "content": "Where is the Eiffel tower?"}], response_format=City)
    parsed = answer.choices[0].message.parsed
    expect(isinstance(parsed, City) and parsed.city == "Paris", f"parsed {parsed!r}")
    return repr(parsed)


def image() -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": IMAGE_URL}}]
    answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    expect(answer.choices[0].message.content == REPLY, "answer to an image")


def history() -> None:
    """The most common pattern: the answer's ``model_dump()`` appended to ``messages``."""
    messages: list = [{"role": "user", "content": "hi"}]
    first = client.chat.completions.create(model=MODEL, messages=messages)
    messages += [first.choices[0].message.model_dump(), {"role": "user", "content": "again"}]
    second = client.chat.completions.create(model=MODEL, messages=messages)
    expect(second.choices[0].message.content == REPLY, "second answer")


def async_stream() -> None:
    async def go() -> str:
        async with openai.AsyncOpenAI(base_url=BASE_URL, api_key=TOKEN, max_retries=0, timeout=60) as aclient:
            stream_ = await aclient.chat.completions.create(model=MODEL, messages=HI, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream_ if c.choices])

    expect(asyncio.run(go()) == REPLY, "async streamed text")


def responses_text() -> str:
    answer = client.responses.create(model=MODEL, input="Say hello")
    expect(answer.output_text == REPLY, f"output_text {answer.output_text!r}")
    return answer.id


def responses_stream() -> None:
    text, kinds = "", set()
    with client.responses.stream(model=MODEL, input="Say hello") as events:
        for event in events:
            kinds.add(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
    expect(text == REPLY and "response.completed" in kinds, f"streamed {text!r}, events {sorted(kinds)}")


def responses_tools() -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL["function"]["parameters"], "strict": False}
    first = client.responses.create(model=MODEL, input="Weather in Paris?", tools=[tool])
    calls = [item for item in first.output if item.type == "function_call"]
    expect(len(calls) == 1 and json.loads(calls[0].arguments) == {"city": "Paris"}, f"output {first.output}")
    items: list = [{"role": "user", "content": "Weather in Paris?"}, *[c.model_dump() for c in calls]]
    items.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": TOOL_RESULT})
    second = client.responses.create(model=MODEL, input=items, tools=[tool])
    expect(second.output_text == TOOL_ANSWER, f"final {second.output_text!r}")


def embeddings() -> str:
    answer = client.embeddings.create(model=EMBED_MODEL, input=["one", "two"])
    expect(len(answer.data) == 2 and len(answer.data[0].embedding) > 0, "two vectors")
    return f"dims={len(answer.data[0].embedding)}"


def models() -> str:
    ids = {model.id for model in client.models.list()}
    expect(MODEL in ids and client.models.retrieve(MODEL).id == MODEL, f"listed {sorted(ids)}")
    return f"{len(ids)} models"


def bad_token() -> str:
    with openai.OpenAI(base_url=BASE_URL, api_key="not-a-token", max_retries=0) as bad:
        return expect_status(lambda: bad.chat.completions.create(model=MODEL, messages=HI), 401)


def rate_limit() -> str:
    return expect_status(lambda: client.chat.completions.create(model=LIMITED_MODEL, messages=HI), 429)


run("openai-python", {
    "plain": plain, "stream": stream, "include_usage": include_usage, "tools": tools, "tools_strict": tools_strict, "stream_tools": stream_tools,
    "structured": structured, "image": image, "history": history, "async": async_stream,
    "responses_text": responses_text, "responses_stream": responses_stream, "responses_tools": responses_tools,
    "embeddings": embeddings, "models": models, "bad_token": bad_token, "rate_limit": rate_limit,
})
