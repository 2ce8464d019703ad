"""``generate_text``: a signed-in user asks a configured model for text (JSON or SSE stream).

``POST`` runs a generation (roles ``user`` and ``admin``); ``GET`` describes
the request schema.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from firebase_functions import https_fn
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from gateway import budgets, conversations, deploy, generation, http, openapi, sse, vision
from gateway.errors import GatewayError, invalid
from gateway.providers.base import Delta, Final, Message, ResponseFormat, Tool, ToolCall, ToolCallDelta, ToolChoice
from gateway.schemas import SLUG

MAX_TEXT = 200_000
FIELDS = {"tool_choice": "toolChoice", "parallel_tool_calls": "parallelToolCalls", "response_format": "responseFormat"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCallIn(_Strict):
    id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    arguments: str = Field(max_length=100_000, description="JSON text, as the model gave it.")


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = Field("", max_length=MAX_TEXT)
    images: list[str] | None = Field(None, min_length=1, max_length=vision.MAX_IMAGES, description="User turns: data: URLs or gs:// paths of your own images.")
    toolCalls: list[ToolCallIn] | None = Field(None, min_length=1, max_length=128, description="Assistant turns: the calls it made.")
    toolCallId: str | None = Field(None, min_length=1, max_length=128, description="Tool turns: the call this result answers.")


class ToolIn(_Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = Field(None, max_length=4096)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}}, description="A JSON Schema.")
    strict: StrictBool | None = Field(None, description="true: every call of this tool matches parameters, or the answer is a 502 (the gateway checks).")


class NamedTool(_Strict):
    name: str = Field(min_length=1, max_length=64)


class JsonFormat(_Strict):
    type: Literal["json"]


class JsonSchemaFormat(_Strict):
    type: Literal["jsonSchema"]
    json_schema: dict[str, Any] = Field(alias="schema")
    name: str = Field("response", pattern=r"^[a-zA-Z0-9_-]{1,64}$")


class GenerateTextRequest(BaseModel):
    """Body of ``POST generate_text``: give ``prompt`` or ``messages``."""

    model_config = ConfigDict(extra="forbid")

    modelId: str = Field(pattern=SLUG, description="A text or multimodal model id from the models function.")
    prompt: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    messages: list[ChatMessage] | None = Field(None, min_length=1, max_length=500)
    systemPrompt: str | None = Field(None, max_length=20_000)
    temperature: float | None = Field(None, ge=0, le=2)
    maxTokens: int | None = Field(None, ge=1, description="At most the model's config.maxTokensLimit.")
    topP: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = Field(None, description="Up to 4 stop sequences.")
    stream: StrictBool = False
    images: list[str] | None = Field(None, min_length=1, max_length=vision.MAX_IMAGES, description="Images with the prompt (needs a vision model).")
    tools: list[ToolIn] | None = Field(None, min_length=1, max_length=128, description="Functions the model may call (needs a tools model).")
    toolChoice: Literal["auto", "none", "required"] | NamedTool | None = None
    parallelToolCalls: StrictBool | None = None
    responseFormat: Annotated[JsonFormat | JsonSchemaFormat, Field(discriminator="type")] | None = None
    conversationId: str | None = Field(
        None, pattern=conversations.ID, description="Continue this conversation of the caller's: its stored history is sent first."
    )
    saveHistory: StrictBool | None = Field(
        None,
        description="Store this exchange: true starts a conversation when there is no conversationId; "
        "false never stores; absent, stored when continuing a conversation.",
    )


def _images(urls: list[str] | None, message: int, field: str, seen: list[vision.Pending]) -> None:
    for number, url in enumerate(urls or []):
        vision.name(url, message, f"{field}.{number}", seen)


def _message(m: ChatMessage, index: int, seen: list[vision.Pending]) -> Message:
    field = f"messages.{index}"
    if m.images and m.role != "user":
        raise invalid(f"{field}.images", "only user messages carry images")
    if m.toolCalls and m.role != "assistant":
        raise invalid(f"{field}.toolCalls", "only assistant messages carry toolCalls")
    if (m.role == "tool") != (m.toolCallId is not None):
        raise invalid(f"{field}.toolCallId", "a tool message needs toolCallId, and only a tool message has one")
    calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in m.toolCalls or [])
    _images(m.images, index, f"{field}.images", seen)
    return Message(m.role, m.content, tool_calls=calls, tool_call_id=m.toolCallId)


def _tools(body: GenerateTextRequest) -> tuple[tuple[Tool, ...], ToolChoice | None]:
    for number, tool in enumerate(body.tools or []):
        generation.check_schema(tool.parameters, f"tools.{number}.parameters")
    tools = tuple(Tool(t.name, t.description, t.parameters, t.strict) for t in body.tools or [])
    choice = body.toolChoice
    named = choice.name if isinstance(choice, NamedTool) else None
    return tools, generation.tool_choice(tools, choice if isinstance(choice, str) else None, named, "toolChoice")


def _response_format(body: GenerateTextRequest) -> ResponseFormat | None:
    fmt = body.responseFormat
    if fmt is None:
        return None
    if isinstance(fmt, JsonFormat):
        return generation.json_format(None, "responseFormat")
    return generation.json_format(fmt.json_schema, "responseFormat.schema", fmt.name)


def params_from(body: GenerateTextRequest) -> tuple[generation.TextParams, list[vision.Pending]]:
    """The provider-neutral request, and its images, named but not read yet (:func:`gateway.vision.attach`)."""
    if (body.prompt is None) == (body.messages is None):
        raise invalid("prompt", "give exactly one of prompt or messages")
    if body.images and body.prompt is None:
        raise invalid("images", "goes with prompt; with messages, put images on a user message")
    seen: list[vision.Pending] = []
    if body.prompt is not None:
        _images(body.images, 0, "images", seen)
        messages = [Message("user", body.prompt)]
    else:
        messages = [_message(m, i, seen) for i, m in enumerate(body.messages or [])]
    tools, tool_choice = _tools(body)
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    if stop is not None and (len(stop) > 4 or any(not s or len(s) > 200 for s in stop)):
        raise invalid("stop", "up to 4 sequences of 1-200 characters")
    params = generation.TextParams(
        messages=messages,
        system_prompt=body.systemPrompt,
        temperature=body.temperature,
        max_tokens=body.maxTokens,
        top_p=body.topP,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=body.parallelToolCalls,
        response_format=_response_format(body),
    )
    return params, seen


def _result(result: generation.Result, turn: conversations.Turn) -> dict[str, Any]:
    return {
        "text": result.text,
        "modelId": result.model.id,
        "provider": result.model.provider,
        "finishReason": result.finish_reason,
        "usage": result.usage.to_dict(),
        "cost": result.cost,
        "latencyMs": result.latency_ms,
        **({"toolCalls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls]} if result.tool_calls else {}),
        **turn.answer,
    }


def _events(ctx: http.Context, stream: generation.Stream, tracker: Any, turn: conversations.Turn) -> Iterator[str]:
    deadline = generation.stream_deadline(ctx.started, deploy.STREAM_TIMEOUT_SECONDS)
    for item in generation.relay(stream, tracker, ctx.request_id, deadline, http.client_gone(ctx.request)):
        if item is generation.HEARTBEAT:
            yield sse.KEEP_ALIVE
        elif isinstance(item, Delta):
            turn.add(item.text)
            yield sse.data({"content": item.text})
        elif isinstance(item, ToolCallDelta):
            piece = {"index": item.index, "arguments": item.arguments}
            yield sse.data({"toolCall": {**({"id": item.id, "name": item.name} if item.id is not None else {}), **piece}})
        elif isinstance(item, Final):
            yield sse.data(
                {
                    "done": True,
                    "modelId": stream.model.id,
                    "provider": stream.model.provider,
                    "finishReason": generation.normalize_finish(item.finish_reason),
                    "usage": item.usage.to_dict(),
                    "cost": generation.cost(stream.model.pricing, item.usage, item.cost),
                    "latencyMs": round((time.perf_counter() - stream.started) * 1000, 1),
                    **turn.answer,
                }
            )
        elif isinstance(item, GatewayError):
            yield sse.event("error", item.to_dict())
    try:
        yield sse.DONE
    finally:
        tracker.flush()  # a settle left for after [DONE], still before the response ends


def _generate(ctx: http.Context) -> https_fn.Response | dict[str, Any]:
    body = ctx.parse(GenerateTextRequest)
    assert ctx.caller is not None
    params, images = params_from(body)
    model = generation.text_model(body.modelId, org=ctx.caller.org)
    generation.check_limits(model, params)
    generation.check_tools(model, params)
    if images:
        generation.check_vision(model, images[0].field)
    # Counted and reserved before anything stored (history, images) is read.
    params, models = generation.admission(ctx, model, params, len(images), "modelId")
    turn = conversations.begin(ctx, model.id, body.conversationId, body.saveHistory, params)
    if turn.history:
        ctx.extend(budgets.history_ask(turn.history, models))
    params = turn.with_history(vision.attach(params, images, ctx.caller.uid, ctx.closers.append, ctx.caller.org))
    tracker = turn.track(ctx.tracker())  # the exchange is stored when the ledger is committed
    if not body.stream:
        result = generation.complete(model, params, FIELDS)
        turn.add(result.text)
        tracker.sent(result.text + "".join(c.name + c.arguments for c in result.tool_calls))
        tracker.ok(result.model, result.usage, result.cost, later=True)
        return _result(result, turn)
    stream = generation.open_stream(model, params, FIELDS)
    ctx.confirm(on_refusal=stream.adapter.cancel)  # over the limit: the provider's stream is closed, nothing was sent
    response = https_fn.Response(_events(ctx, stream, tracker, turn), mimetype="text/event-stream", headers={**sse.HEADERS, **turn.headers})
    response.call_on_close(tracker.cut_off)  # a client gone before the first byte never starts the stream: still booked
    return response


def _describe(ctx: http.Context) -> dict[str, Any]:
    return {
        "method": "POST",
        "contentType": "application/json",
        "roles": ["user", "admin"],
        "request": GenerateTextRequest.model_json_schema(),
        "response": {
            "json": ["text", "modelId", "provider", "finishReason", "usage", "cost", "latencyMs", "conversationId"],
            "stream": 'text/event-stream: data: {"content"} ..., data: {"done": true, ...}, data: [DONE]; event: error on failure',
        },
    }


ROUTES = {
    "POST": http.Handler(_generate, roles={"user", "admin"}, reads=(generation.start_config,)),
    "GET": http.Handler(_describe, roles=http.ALL_ROLES),
}
API = (
    openapi.Op(
        "POST", "/generate_text", "Generate text",
        {200: ("TextAnswer", openapi.Stream(("StreamDelta", "StreamToolCall", "StreamDone")))},
        body=GenerateTextRequest, errors=(403, 404, 429, 502, 503, 504),
        examples=(
            {"modelId": "openai-gpt-4o-mini", "prompt": "Hello", "systemPrompt": "Be brief", "maxTokens": 256},
            {"modelId": "openai-gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}], "stream": True},
            {"modelId": "openai-gpt-4o-mini", "prompt": "Plan a trip to Lisbon", "saveHistory": True},
        ),
        description="Give prompt or messages. With stream: true the answer is text/event-stream; "
        "a failure after it started is an event: error with the error body, then [DONE].",
    ),
    openapi.Op("GET", "/generate_text", "Describe the request", {200: "RequestDescription"}),
)


@https_fn.on_request(timeout_sec=deploy.STREAM_TIMEOUT_SECONDS, min_instances=deploy.MIN_INSTANCES)
def generate_text(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "generate_text", ROUTES)
