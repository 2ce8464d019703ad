"""llama-index's OpenAILike (llama-index-llms-openai-like), as its docs show it, against the gateway.

It runs in its own venv (tests/clients/.venv-llamaindex): llama-index-llms-openai 0.8 needs openai<3.
"""

from __future__ import annotations

import asyncio

from common import BASE_URL, IMAGE_BYTES, LIMITED_MODEL, MODEL, REPLY, TOKEN, TOOL_ANSWER, TOOL_RESULT, expect, expect_status, run
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike
from pydantic import BaseModel


def llm(model: str = MODEL, token: str = TOKEN, **extra: object) -> OpenAILike:
    return OpenAILike(model=model, api_base=BASE_URL, api_key=token, is_chat_model=True, is_function_calling_model=True,
                      context_window=8192, max_retries=0, timeout=60, **extra)


chat = llm()
HI = [ChatMessage(role="user", content="Say hello")]


class City(BaseModel):
    city: str
    country: str


def get_weather(city: str) -> str:
    """The weather in a city."""
    return TOOL_RESULT


def plain() -> None:
    answer = chat.chat(HI)
    expect(answer.message.content == REPLY, f"content {answer.message.content!r}")


def stream() -> None:
    text = "".join(part.delta or "" for part in chat.stream_chat(HI))
    expect(text == REPLY, f"streamed {text!r}")


def include_usage() -> str:
    parts = list(llm(additional_kwargs={"stream_options": {"include_usage": True}}).stream_chat(HI))
    tokens = max((part.additional_kwargs.get("completion_tokens") or 0 for part in parts), default=0)
    expect(tokens > 0, "no usage in the stream")
    return f"completion_tokens={tokens}"


def round_trip(strict: bool | None) -> str:
    tool = FunctionTool.from_defaults(fn=get_weather)
    first = chat.chat_with_tools([tool], user_msg="Weather in Paris?", strict=strict)
    calls = chat.get_tool_calls_from_response(first, error_on_no_tool_call=True)
    expect(calls[0].tool_name == "get_weather" and calls[0].tool_kwargs == {"city": "Paris"}, f"tool calls {calls}")
    history = [ChatMessage(role="user", content="Weather in Paris?"), first.message,
               ChatMessage(role="tool", content=TOOL_RESULT, additional_kwargs={"tool_call_id": calls[0].tool_id})]
    second = chat.chat_with_tools([tool], chat_history=history, strict=strict)
    expect(second.message.content == TOOL_ANSWER, f"final {second.message.content!r}")
    return "2 calls"


def stream_tools() -> str:
    tool = FunctionTool.from_defaults(fn=get_weather)
    *_, first = chat.stream_chat_with_tools([tool], user_msg="Weather in Paris?")
    calls = chat.get_tool_calls_from_response(first, error_on_no_tool_call=True)
    expect(calls[0].tool_name == "get_weather" and calls[0].tool_kwargs == {"city": "Paris"}, f"tool calls {calls}")
    history = [ChatMessage(role="user", content="Weather in Paris?"), first.message,
               ChatMessage(role="tool", content=TOOL_RESULT, additional_kwargs={"tool_call_id": calls[0].tool_id})]
    text = "".join(part.delta or "" for part in chat.stream_chat_with_tools([tool], chat_history=history))
    expect(text == TOOL_ANSWER, f"final {text!r}")
    return "2 streams"


def structured() -> str:
    city = chat.structured_predict(City, PromptTemplate("Where is {place}?"), place="the Eiffel tower")
    expect(isinstance(city, City) and city.city == "Paris", f"output {city!r}")
    return repr(city)


def image() -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="What is this?"), ImageBlock(image=IMAGE_BYTES, image_mimetype="image/png")])
    expect(chat.chat([message]).message.content == REPLY, "answer to an image")


def history() -> None:
    messages = [ChatMessage(role="user", content="hi")]
    messages += [chat.chat(messages).message, ChatMessage(role="user", content="again")]
    expect(chat.chat(messages).message.content == REPLY, "second answer")


def async_stream() -> None:
    async def go() -> str:
        return "".join([part.delta or "" async for part in await chat.astream_chat(HI)])

    text = asyncio.run(go())
    expect(text == REPLY, f"async streamed {text!r}")


run("llama-index OpenAILike", {
    "plain": plain, "stream": stream, "include_usage": include_usage,
    "tools": lambda: round_trip(None), "tools_strict": lambda: round_trip(True), "stream_tools": stream_tools,
    "structured": structured, "image": image, "history": history, "async": async_stream,
    "bad_token": lambda: expect_status(lambda: llm(token="not-a-token").chat(HI), 401),
    "rate_limit": lambda: expect_status(lambda: llm(model=LIMITED_MODEL).chat(HI), 429),
})
