"""``POST /v1/chat/completions``: OpenAI's chat completions over :mod:`gateway.generation`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from firebase_functions import https_fn
from pydantic import Discriminator, Field, StrictBool, Tag, model_validator

from gateway import deploy, generation, http, openapi, sse, vision
from gateway.errors import GatewayError, invalid
from gateway.openai.errors import ERROR_MODEL, openai_error
from gateway.openai.fields import Strict, at_default, top_level
from gateway.providers.base import Delta, Final, Message, ResponseFormat, Tool, ToolCall, ToolCallDelta, ToolChoice
from gateway.schemas import Model

IGNORED_FIELDS = frozenset(
    {"user", "store", "metadata", "service_tier", "seed", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options"}
)
"""OpenAI request fields accepted and ignored (docs/openai.md): they change nothing an answer says.
Every other field the gateway does not implement is refused with a 400 naming it (OpenAI's ``param``)."""

AT_DEFAULT: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (None, 0),
    "presence_penalty": (None, 0),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "logit_bias": (None, {}),
    "modalities": (None, ["text"]),
    "prediction": (None,),
    "audio": (None,),
    "reasoning_effort": (None, "medium"),
    "verbosity": (None, "medium"),
    "web_search_options": (None,),
    "functions": (None,),
    "function_call": (None,),
    "moderation": (None,),
}
"""Documented fields the gateway does not implement, accepted at the values that change nothing (real clients send
them: ``logprobs: false``, ``frequency_penalty: 0``); any other value is a 400 naming the field."""


MESSAGE_AT_DEFAULT: dict[str, tuple[Any, ...]] = {"audio": (None,), "function_call": (None,)}


class FunctionSpec(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = Field(None, max_length=4096)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: StrictBool | None = Field(None, description="true: every call of this tool matches parameters, or the answer is a 502 (the gateway checks).")


class ToolSpec(Strict):
    type: Literal["function"]
    function: FunctionSpec


class CustomToolSpec(Strict):
    """OpenAI's free-form (text or grammar) tools: refused with a 400 naming the tool."""

    type: Literal["custom"]
    custom: dict[str, Any]


class FunctionName(Strict):
    name: str = Field(min_length=1, max_length=64)


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: FunctionName


class AllowedTools(Strict):
    mode: Literal["auto", "required"]
    tools: list[NamedToolChoice] = Field(min_length=1, max_length=128)


class AllowedToolsChoice(Strict):
    """Only these tools this time: emulated by sending only them (OpenAI keeps the whole list for its prompt cache)."""

    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


class CustomToolChoice(Strict):
    type: Literal["custom"]
    custom: dict[str, Any]


def _choice_kind(value: Any) -> str | None:
    return "mode" if isinstance(value, str) else value.get("type") if isinstance(value, dict) else None


ToolChoiceSpec = Annotated[
    Annotated[Literal["auto", "none", "required"], Tag("mode")]
    | Annotated[NamedToolChoice, Tag("function")]
    | Annotated[AllowedToolsChoice, Tag("allowed_tools")]
    | Annotated[CustomToolChoice, Tag("custom")],
    Discriminator(
        _choice_kind,
        custom_error_type="invalid_tool_choice",
        custom_error_message="must be 'auto', 'none', 'required' or an object of type function, allowed_tools or custom",
    ),
]
"""Only the member the value says it is reports errors (its ``type``), so they name the real field."""


class FunctionCall(Strict):
    name: str = Field(min_length=1, max_length=64)
    arguments: str = Field(max_length=100_000)
    parsed_arguments: Any = Field(None, description="The SDKs' parse of arguments (their stream helpers' answers carry it): accepted, not passed on.")


class ToolCallSpec(Strict):
    id: str = Field(min_length=1, max_length=128)
    index: int | None = Field(None, description="A streamed call's position, as the SDKs' stream helpers keep it in their final answer: accepted, not passed on.")
    type: Literal["function"]
    function: FunctionCall


class TextFormat(Strict):
    type: Literal["text"]


class JsonObjectFormat(Strict):
    type: Literal["json_object"]


class JsonSchemaSpec(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    json_schema: dict[str, Any] = Field(alias="schema")
    description: str | None = Field(None, max_length=4096)
    strict: StrictBool | None = None


class JsonSchemaFormat(Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


class ChatMessage(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    refusal: str | None = Field(None, max_length=100_000, description="An assistant turn's refusal, as an answer carries it: its text is the turn's content.")
    annotations: list[dict[str, Any]] | None = Field(None, max_length=1000, description="An answer's citations sent back: accepted, not passed on.")
    parsed: Any = Field(None, description="The SDKs' parse of content (ParsedChatCompletionMessage): accepted, not passed on; content is the turn.")
    name: str | None = Field(None, max_length=64, description="Accepted; providers without participant names ignore it.")
    tool_calls: list[ToolCallSpec] | None = Field(None, max_length=128, description="Assistant turns: the calls it made.")
    tool_call_id: str | None = Field(None, min_length=1, max_length=128, description="Tool turns: the call this answers.")


class StreamOptions(Strict):
    include_usage: StrictBool = False
    include_obfuscation: StrictBool | None = Field(None, description="Accepted and ignored: the gateway's chunks carry no obfuscation padding.")


class ChatCompletionRequest(Strict):
    """OpenAI's request: the fields below are honoured, :data:`IGNORED_FIELDS` accepted and ignored, any other refused."""

    model: str = Field(min_length=1, max_length=64)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, ge=0, le=1, description="0: only the likeliest token (sent as a tiny positive value to servers that refuse 0).")
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1, le=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    tools: list[Annotated[ToolSpec | CustomToolSpec, Field(discriminator="type")]] | None = Field(None, min_length=1, max_length=128)
    tool_choice: ToolChoiceSpec | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")] | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        kept = top_level(data, IGNORED_FIELDS, AT_DEFAULT)
        if isinstance(kept, dict) and isinstance(kept.get("messages"), list):  # an answer dumped back into the history (``model_dump()``) carries these
            kept["messages"] = [at_default(m, MESSAGE_AT_DEFAULT, f"messages.{i}.") for i, m in enumerate(kept["messages"])]
        return kept


def _content(message: ChatMessage, index: int, images: list[vision.Pending]) -> str:
    """A message's text; its images (``image_url`` parts, user messages only) are named in ``images``, read after admission."""
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts: list[str] = []
    for number, part in enumerate(message.content):
        field = f"messages.{index}.content.{number}"
        kind = part.get("type")
        _cache_breakpoint(part, field)
        if kind == "text":
            if not isinstance(part.get("text"), str) or set(part) - {"type", "text", "prompt_cache_breakpoint"}:
                raise invalid(field, "a text part is {\"type\": \"text\", \"text\": \"...\"}")
            texts.append(part["text"])
        elif kind == "refusal":  # an assistant turn's refusal, as its content parts carry it: its text is the turn's
            if message.role != "assistant" or not isinstance(part.get("refusal"), str) or set(part) - {"type", "refusal"}:
                raise invalid(field, "a refusal part is {\"type\": \"refusal\", \"refusal\": \"...\"}, in an assistant message")
            texts.append(part["refusal"])
        elif kind == "image_url":
            image = part.get("image_url")
            if message.role != "user" or not isinstance(image, dict) or not isinstance(image.get("url"), str) or set(image) - {"url", "detail"}:
                raise invalid(field, "an image part is {\"type\": \"image_url\", \"image_url\": {\"url\": ...}}, in a user message")
            if set(part) - {"type", "image_url", "prompt_cache_breakpoint"}:
                raise invalid(field, "an image part is {\"type\": \"image_url\", \"image_url\": {\"url\": ...}}")
            vision.name(image["url"], index, field, images)
        else:
            raise invalid(field, f"content part type '{kind}' is not supported; send text or image_url")
    return "".join(texts)


def _cache_breakpoint(part: dict[str, Any], field: str) -> None:
    """``prompt_cache_breakpoint`` (``{"mode": "explicit"}``, OpenAI's prompt cache) is accepted and ignored: it changes no answer."""
    mark = part.get("prompt_cache_breakpoint")
    if mark is not None and (not isinstance(mark, dict) or set(mark) - {"mode"} or mark.get("mode", "explicit") != "explicit"):
        raise invalid(f"{field}.prompt_cache_breakpoint", 'must be {"mode": "explicit"} or null')


def _message(message: ChatMessage, index: int, images: list[vision.Pending]) -> Message:
    field = f"messages.{index}"
    if message.tool_calls is not None and message.role != "assistant":
        raise invalid(f"{field}.tool_calls", "only assistant messages carry tool_calls")
    if (message.role == "tool") != (message.tool_call_id is not None):
        raise invalid(f"{field}.tool_call_id", "a tool message needs tool_call_id, and only a tool message has one")
    calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or [])
    role = "system" if message.role == "developer" else message.role
    if message.refusal is not None and message.role != "assistant":
        raise invalid(f"{field}.refusal", "only assistant messages carry a refusal")
    text = _content(message, index, images) or (message.refusal or "")
    return Message(role, text, tool_calls=calls, tool_call_id=message.tool_call_id)


def _tools(body: ChatCompletionRequest) -> tuple[tuple[Tool, ...], ToolChoice | None]:
    """The tools and the choice; ``allowed_tools`` is emulated by offering only those tools, with its mode."""
    tools: list[Tool] = []
    for number, spec in enumerate(body.tools or []):
        if isinstance(spec, CustomToolSpec):
            raise invalid(f"tools.{number}", "custom (free-form) tools are not supported; send function tools")
        generation.check_schema(spec.function.parameters, f"tools.{number}.function.parameters")
        tools.append(Tool(spec.function.name, spec.function.description, spec.function.parameters, spec.function.strict))
    choice = body.tool_choice
    if isinstance(choice, CustomToolChoice):
        raise invalid("tool_choice", "custom tools are not supported; choose a function tool")
    if isinstance(choice, AllowedToolsChoice):
        names = {t.name for t in tools}
        for number, ref in enumerate(choice.allowed_tools.tools):
            if ref.function.name not in names:
                raise invalid(f"tool_choice.allowed_tools.tools.{number}.function.name", f"names '{ref.function.name}', which is not one of the tools")
        allowed = {ref.function.name for ref in choice.allowed_tools.tools}
        kept = tuple(t for t in tools if t.name in allowed)
        return kept, generation.tool_choice(kept, choice.allowed_tools.mode, None, "tool_choice")
    named = choice.function.name if isinstance(choice, NamedToolChoice) else None
    return tuple(tools), generation.tool_choice(tuple(tools), choice if isinstance(choice, str) else None, named, "tool_choice")


def _response_format(body: ChatCompletionRequest) -> ResponseFormat | None:
    fmt = body.response_format
    if fmt is None or isinstance(fmt, TextFormat):
        return None
    if isinstance(fmt, JsonObjectFormat):
        return generation.json_format(None, "response_format")
    spec = fmt.json_schema
    return generation.json_format(spec.json_schema, "response_format.json_schema.schema", spec.name, spec.strict, spec.description)


def params_from(body: ChatCompletionRequest) -> tuple[generation.TextParams, list[vision.Pending]]:
    """The provider-neutral request, and its images, named but not read yet (:func:`gateway.vision.attach`)."""
    images: list[vision.Pending] = []
    messages = [_message(m, i, images) for i, m in enumerate(body.messages)]
    tools, tool_choice = _tools(body)
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    if stop is not None and (len(stop) > 4 or any(not s for s in stop)):
        raise invalid("stop", "up to 4 non-empty sequences")
    params = generation.TextParams(
        messages=messages,
        temperature=body.temperature,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        top_p=body.top_p,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_response_format(body),
    )
    return params, images


def _usage(usage: Any) -> dict[str, Any] | None:
    """OpenAI's usage object; its details only where the provider reported them (absent, not a made-up 0)."""
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    out: dict[str, Any] = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens}
    prompt_details = {k: v for k, v in (("cached_tokens", usage.cached_tokens), ("cache_write_tokens", usage.cache_write_tokens)) if v is not None}
    if prompt_details:
        out["prompt_tokens_details"] = prompt_details
    if usage.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out


def admit(
    ctx: http.Context, model_id: str, params: generation.TextParams, images: list[vision.Pending], limit_field: str
) -> tuple[Model, generation.TextParams, list[Model]]:
    """The model checked for the request (vision, ``limit_field``, tools), then counted and reserved: what every
    text family of this API (chat completions, responses) does before anything stored is read or any provider called.
    Returns the model, the pinned params and the models that may answer (it, then its fallbacks)."""
    assert ctx.caller is not None
    model = generation.text_model(model_id, field_name="model", org=ctx.caller.org)
    if images:
        generation.check_vision(model, images[0].field)
    generation.check_limits(model, params, field_name=limit_field)
    generation.check_tools(model, params)
    params, models = generation.admission(ctx, model, params, len(images), "model")  # before any image is read
    return model, params, models


def create(ctx: http.Context, body: ChatCompletionRequest) -> https_fn.Response | dict[str, Any]:
    assert ctx.caller is not None
    params, images = params_from(body)
    field = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
    model, params, _ = admit(ctx, body.model, params, images, field)
    params = vision.attach(params, images, ctx.caller.uid, ctx.closers.append, ctx.caller.org)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    tracker = ctx.tracker()
    if body.stream:
        stream = generation.open_stream(model, params, early=True)  # the role chunk leaves when the provider answers
        ctx.confirm(on_refusal=stream.adapter.cancel)  # over the limit: the provider's stream is closed, nothing was sent
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        response = https_fn.Response(
            _chunks(stream, completion_id, created, body.model, include_usage, tracker, ctx.request_id, ctx.started, http.client_gone(ctx.request)),
            mimetype="text/event-stream",
            headers=sse.HEADERS,
        )
        response.call_on_close(tracker.cut_off)  # a client gone before the first byte never starts the stream: still booked
        return response
    result = generation.complete(model, params)
    tracker.sent(result.text + "".join(c.name + c.arguments for c in result.tool_calls))
    tracker.ok(result.model, result.usage, result.cost, later=True)
    answer: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body.model,
        "choices": [
            {"index": 0, "message": _answer_message(result), "finish_reason": result.finish_reason or "stop", "logprobs": None}
        ],
    }
    if (usage := _usage(result.usage)) is not None:
        answer["usage"] = usage
    return answer


def _answer_message(result: generation.Result) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.text, "refusal": None}
    if result.tool_calls:
        message["content"] = result.text or None
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in result.tool_calls
        ]
    return message


def _tool_delta(item: ToolCallDelta) -> dict[str, Any]:
    """OpenAI's streamed tool call piece: id, type and name on a call's first piece, then argument fragments."""
    piece: dict[str, Any] = {"index": item.index}
    if item.id is not None:
        piece["id"] = item.id
        piece["type"] = "function"
    function: dict[str, Any] = {"arguments": item.arguments}
    if item.name is not None:
        function = {"name": item.name, **function}
    piece["function"] = function
    return {"tool_calls": [piece]}


def _chunks(
    stream: generation.Stream,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
    tracker: Any,
    request_id: str,
    started: float,
    gone: Callable[[], bool] | None = None,
) -> Iterator[str]:
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return sse.data({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})

    yield chunk({"role": "assistant", "content": ""})
    deadline = generation.stream_deadline(started, deploy.STREAM_TIMEOUT_SECONDS)
    for item in generation.relay(stream, tracker, request_id, deadline, gone):
        if item is generation.HEARTBEAT:
            yield sse.KEEP_ALIVE
        elif isinstance(item, Delta):
            yield chunk({"content": item.text})
        elif isinstance(item, ToolCallDelta):
            yield chunk(_tool_delta(item))
        elif isinstance(item, Final):
            yield chunk({}, generation.normalize_finish(item.finish_reason) or "stop")
            if include_usage:
                yield sse.data({**base, "choices": [], "usage": _usage(item.usage)})
        elif isinstance(item, GatewayError):
            yield sse.data(openai_error(item))
    try:
        yield sse.DONE
    finally:
        tracker.flush()  # a settle left for after [DONE], still before the response ends



API = (
    openapi.Op(
        "POST", "/openai/v1/chat/completions", "Create a chat completion (OpenAI's API)",
        {200: ("ChatCompletion", openapi.Stream(("ChatCompletionChunk",), error=ERROR_MODEL, error_event=False))},
        body=ChatCompletionRequest, errors=(403, 404, 429, 502, 503, 504),
        examples=(
            {"model": "openai-gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
            {"model": "openai-gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": True, "stream_options": {"include_usage": True}},
        ),
        description="model is a gateway model id. Also served without /v1. A failure after a stream started is a data: event "
        "with OpenAI's error body, then [DONE].",
    ),
)
