"""langchain-openai's ChatOpenAI and OpenAIEmbeddings, as LangChain's docs show them, against the gateway."""

from __future__ import annotations

import asyncio

from common import BASE_URL, EMBED_MODEL, IMAGE_URL, LIMITED_MODEL, MODEL, REPLY, TOKEN, TOOL_ANSWER, TOOL_RESULT, expect, expect_status, run
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

SETTINGS = {"base_url": BASE_URL, "api_key": TOKEN, "max_retries": 0, "timeout": 60}
llm = ChatOpenAI(model=MODEL, **SETTINGS)
responses = ChatOpenAI(model=MODEL, use_responses_api=True, **SETTINGS)


class City(BaseModel):
    city: str
    country: str


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return TOOL_RESULT


def _round_trip(chat: ChatOpenAI, strict: bool | None) -> str:
    bound = chat.bind_tools([get_weather], strict=strict)
    messages: list = [HumanMessage("Weather in Paris?")]
    first = bound.invoke(messages)
    expect(len(first.tool_calls) == 1 and first.tool_calls[0]["args"] == {"city": "Paris"}, f"tool calls {first.tool_calls}")
    messages += [first, ToolMessage(TOOL_RESULT, tool_call_id=first.tool_calls[0]["id"])]
    second = bound.invoke(messages)
    expect(second.text == TOOL_ANSWER, f"final {second.text!r}")
    return "2 calls"


def stream_tools() -> str:
    bound = llm.bind_tools([get_weather])
    messages: list = [HumanMessage("Weather in Paris?")]
    chunks = list(bound.stream(messages))
    first = sum(chunks[1:], chunks[0])
    expect(len(first.tool_calls) == 1 and first.tool_calls[0]["args"] == {"city": "Paris"}, f"tool calls {first.tool_calls}")
    messages += [first, ToolMessage(TOOL_RESULT, tool_call_id=first.tool_calls[0]["id"])]
    text = "".join(chunk.text for chunk in bound.stream(messages))
    expect(text == TOOL_ANSWER, f"final {text!r}")
    return f"{len(chunks)} chunks"


def include_usage() -> str:
    chunks = list(ChatOpenAI(model=MODEL, stream_usage=True, **SETTINGS).stream("Say hello"))
    usage = sum(chunks[1:], chunks[0]).usage_metadata
    expect(usage is not None and usage["output_tokens"] > 0, f"usage {usage}")
    return f"output_tokens={usage['output_tokens']}"


def structured() -> str:
    city = llm.with_structured_output(City).invoke("Where is the Eiffel tower?")
    expect(isinstance(city, City) and city.city == "Paris", f"parsed {city!r}")
    return repr(city)


def image() -> None:
    message = HumanMessage(content=[{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": IMAGE_URL}}])
    expect(llm.invoke([message]).text == REPLY, "answer to an image")


def history() -> None:
    messages: list = [HumanMessage("hi")]
    messages += [llm.invoke(messages), HumanMessage("again")]
    expect(llm.invoke(messages).text == REPLY, "second answer")


def async_stream() -> None:
    async def go() -> str:
        return "".join([chunk.text async for chunk in llm.astream("Say hello")])

    text = asyncio.run(go())
    expect(text == REPLY, f"async streamed {text!r}")


def responses_stream() -> None:
    text = "".join(chunk.text for chunk in responses.stream("Say hello"))
    expect(text == REPLY, f"streamed {text!r}")


def embeddings() -> str:
    vectors = OpenAIEmbeddings(model=EMBED_MODEL, check_embedding_ctx_length=False, **SETTINGS).embed_documents(["one", "two"])
    expect(len(vectors) == 2 and len(vectors[0]) > 0, "two vectors")
    return f"dims={len(vectors[0])}"


def _text(chat: ChatOpenAI) -> None:
    answer = chat.invoke("Say hello")
    expect(answer.text == REPLY, f"text {answer.text!r}")


run("langchain-openai", {
    "plain": lambda: _text(llm),
    "stream": lambda: expect("".join(chunk.text for chunk in llm.stream("Say hello")) == REPLY, "streamed text"),
    "include_usage": include_usage,
    "tools": lambda: _round_trip(llm, None),
    "tools_strict": lambda: _round_trip(llm, True),
    "stream_tools": stream_tools,
    "structured": structured,
    "image": image,
    "history": history,
    "async": async_stream,
    "responses_text": lambda: _text(responses),
    "responses_stream": responses_stream,
    "responses_tools": lambda: _round_trip(responses, None),
    "embeddings": embeddings,
    "bad_token": lambda: expect_status(lambda: ChatOpenAI(model=MODEL, **{**SETTINGS, "api_key": "not-a-token"}).invoke("hi"), 401),
    "rate_limit": lambda: expect_status(lambda: ChatOpenAI(model=LIMITED_MODEL, **SETTINGS).invoke("hi"), 429),
})
