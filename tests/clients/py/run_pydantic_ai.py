"""pydantic-ai's OpenAI models (chat and Responses) and embedder, as its docs show them, against the gateway."""

from __future__ import annotations

import asyncio

from common import BASE_URL, EMBED_MODEL, IMAGE_BYTES, LIMITED_MODEL, MODEL, REPLY, TOKEN, TOOL_ANSWER, TOOL_RESULT, expect, expect_status, run
from openai import AsyncOpenAI
from pydantic import BaseModel
from pydantic_ai import Agent, BinaryContent
from pydantic_ai.embeddings import Embedder
from pydantic_ai.embeddings.openai import OpenAIEmbeddingModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider


def provider(token: str = TOKEN) -> OpenAIProvider:
    return OpenAIProvider(openai_client=AsyncOpenAI(base_url=BASE_URL, api_key=token, max_retries=0, timeout=60))




def chat() -> OpenAIChatModel:
    """A new model (and client) per feature: an async client is bound to the event loop of its first call."""
    return OpenAIChatModel(MODEL, provider=provider())


def responses() -> OpenAIResponsesModel:
    return OpenAIResponsesModel(MODEL, provider=provider())


class City(BaseModel):
    city: str
    country: str


def text(model: object) -> None:
    output = Agent(model).run_sync("Say hello").output
    expect(output == REPLY, f"output {output!r}")


def stream(model: object) -> str:
    async def go() -> tuple[str, int]:
        async with Agent(model).run_stream("Say hello") as result:
            pieces = [piece async for piece in result.stream_text(delta=True)]
            return "".join(pieces), result.usage().output_tokens

    streamed, output_tokens = asyncio.run(go())
    expect(streamed == REPLY, f"streamed {streamed!r}")
    return f"output_tokens={output_tokens}"


def include_usage() -> str:
    detail = stream(chat())
    expect(detail != "output_tokens=0", "no usage at the end of the stream")
    return detail


def round_trip(model: object, strict: bool) -> str:
    agent = Agent(model)

    @agent.tool_plain(strict=strict)
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return TOOL_RESULT

    result = agent.run_sync("Weather in Paris?")
    expect(result.output == TOOL_ANSWER, f"output {result.output!r}")
    return f"{len(result.all_messages())} messages"


def stream_tools() -> str:
    agent = Agent(chat())

    @agent.tool_plain(strict=False)
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return TOOL_RESULT

    async def go() -> str:
        async with agent.run_stream("Weather in Paris?") as result:
            return "".join([piece async for piece in result.stream_text(delta=True)])

    text = asyncio.run(go())
    expect(text == TOOL_ANSWER, f"streamed {text!r}")
    return "streamed"


def structured() -> str:
    city = Agent(chat(), output_type=City).run_sync("Where is the Eiffel tower?").output
    expect(city.city == "Paris", f"output {city!r}")
    return repr(city)


def image() -> None:
    output = Agent(chat()).run_sync(["What is this?", BinaryContent(data=IMAGE_BYTES, media_type="image/png")]).output
    expect(output == REPLY, f"output {output!r}")


def history() -> None:
    agent = Agent(chat())
    first = agent.run_sync("hi")
    second = agent.run_sync("again", message_history=first.all_messages())
    expect(second.output == REPLY, f"output {second.output!r}")


def async_run() -> None:
    output = asyncio.run(Agent(chat()).run("Say hello")).output
    expect(output == REPLY, f"output {output!r}")


def embeddings() -> str:
    embedder = Embedder(OpenAIEmbeddingModel(EMBED_MODEL, provider=provider()))
    result = asyncio.run(embedder.embed_documents(["one", "two"]))
    expect(len(result.embeddings) == 2 and len(result.embeddings[0]) > 0, "two vectors")
    return f"dims={len(result.embeddings[0])}"


run("pydantic-ai", {
    "plain": lambda: text(chat()), "stream": lambda: stream(chat()), "include_usage": include_usage,
    "tools": lambda: round_trip(chat(), False), "tools_strict": lambda: round_trip(chat(), True),
    "stream_tools": stream_tools,
    "structured": structured, "image": image, "history": history, "async": async_run,
    "responses_text": lambda: text(responses()), "responses_stream": lambda: stream(responses()), "responses_tools": lambda: round_trip(responses(), False),
    "embeddings": embeddings,
    "bad_token": lambda: expect_status(lambda: Agent(OpenAIChatModel(MODEL, provider=provider("not-a-token"))).run_sync("hi"), 401),
    "rate_limit": lambda: expect_status(lambda: Agent(OpenAIChatModel(LIMITED_MODEL, provider=provider())).run_sync("hi"), 429),
})
