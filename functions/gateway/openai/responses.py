"""``POST /v1/responses``: OpenAI's Responses API over the same core as chat completions.

A request becomes :class:`gateway.generation.TextParams` (``input`` items ->
messages, ``instructions`` -> a leading system message, flat function tools,
``text.format`` -> structured output) and goes through the chat family's
checks and admission (:func:`gateway.openai.chat.admit`), then
:func:`gateway.generation.complete` or ``open_stream``/``relay``: every
provider, its limits, budgets, ledger and fallbacks, as for chat completions.

The answer is a ``response`` object; with ``stream`` the typed events OpenAI
sends (``event: response.output_text.delta`` ...), each with its
``sequence_number``. Stored responses (``store``, default true) live in
:mod:`gateway.openai.stored`, one Firestore write each, written before the
answer (or the stream's last event) leaves.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

from firebase_functions import https_fn
from pydantic import Field, StrictBool, model_validator

from gateway import budgets, deploy, generation, http, openapi, sse, vision
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.openai import chat, stored
from gateway.openai.errors import ERROR_MODEL, openai_error
from gateway.openai.fields import Strict, at_default, top_level
from gateway.providers.base import Delta, Final, Message, ResponseFormat, Tool, ToolCall, ToolCallDelta, Usage

IGNORED_FIELDS = frozenset({"user", "service_tier", "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options"})
"""Accepted and ignored: they change nothing an answer says (as on chat completions)."""

AT_DEFAULT: dict[str, tuple[Any, ...]] = {
    "truncation": (None, "disabled"),
    "include": (None, []),
    "reasoning": (None, {}),
    "background": (None, False),
    "max_tool_calls": (None,),
    "top_logprobs": (None, 0),
    "prompt": (None,),
    "conversation": (None,),
    "context_management": (None,),
    "moderation": (None,),
}
"""Documented fields the gateway does not implement, accepted at the values that change nothing; others are a 400 naming them."""

TOOL_AT_DEFAULT: dict[str, tuple[Any, ...]] = {"output_schema": (None,), "defer_loading": (None, False), "allowed_callers": (None,)}
ITEM_AT_DEFAULT: dict[str, tuple[Any, ...]] = {"phase": (None,), "namespace": (None,), "caller": (None,), "async": (None, False), "async_": (None, False)}
"""Item fields at their defaults; ``async_`` is how the Python SDK's ``model_dump()`` names ``async``."""
PART_AT_DEFAULT: dict[str, tuple[Any, ...]] = {"prompt_cache_breakpoint": (None,)}

NAME = r"^[a-zA-Z0-9_-]{1,64}$"


class FunctionTool(Strict):
    """A function tool, flat as the Responses API has it (chat completions nest it under ``function``)."""

    type: Literal["function"]
    name: str = Field(pattern=NAME)
    description: str | None = Field(None, max_length=4096)
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = Field(None, description="true: every call's arguments are checked against parameters (a 502 otherwise).")


class NamedFunction(Strict):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64)


class TextFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(None, pattern=NAME)
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    description: str | None = Field(None, max_length=4096)
    strict: StrictBool | None = None


class TextParam(Strict):
    format: TextFormat | None = None
    verbosity: Literal["medium"] | None = Field(None, description="medium or null: the default; low and high are refused.")


class StreamOptions(Strict):
    include_obfuscation: StrictBool | None = Field(None, description="Accepted and ignored: no obfuscation padding is sent.")


class MessageItem(Strict):
    type: Literal["message"] | None = None
    id: str | None = Field(None, max_length=128)
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[dict[str, Any]]
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallItem(Strict):
    type: Literal["function_call"]
    id: str | None = Field(None, max_length=128)
    call_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    arguments: str = Field(max_length=100_000)
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class ItemReference(Strict):
    """An earlier output item of the caller's stored responses, by id (``@ai-sdk/openai`` sends them when ``store`` is on)."""

    type: Literal["item_reference"]
    id: str = Field(min_length=1, max_length=128)


class FunctionCallOutputItem(Strict):
    type: Literal["function_call_output"]
    id: str | None = Field(None, max_length=128)
    call_id: str = Field(min_length=1, max_length=128)
    output: str | list[dict[str, Any]]
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class CreateResponse(Strict):
    """OpenAI's ``CreateResponse``: the fields below are honoured, :data:`IGNORED_FIELDS` ignored, :data:`AT_DEFAULT` at their defaults."""

    model: str = Field(min_length=1, max_length=64)
    input: str | list[dict[str, Any]] = Field(max_length=500)
    instructions: str | None = Field(None, max_length=100_000)
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    text: TextParam | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    store: StrictBool | None = None
    previous_response_id: str | None = Field(None, min_length=1, max_length=128)
    metadata: dict[str, str] | None = Field(None, max_length=16, description="Kept with the response and echoed back.")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return top_level(data, IGNORED_FIELDS, AT_DEFAULT)


def _parse(model: type[http.M], data: Any, prefix: str) -> http.M:
    """``data`` validated by ``model``, its errors naming the field from the request's root (``input.2.call_id``)."""
    try:
        return http.validate(model, data if isinstance(data, dict) else {"": data})
    except GatewayError as err:
        fields = [{**f, "field": f"{prefix}.{f['field']}" if f["field"] not in ("body", "") else prefix} for f in err.details["fields"]]
        raise GatewayError(err.code, f"{fields[0]['field']}: {fields[0]['message']}", {"fields": fields}) from None


def _parts_text(parts: list[dict[str, Any]], field: str, role: str, message: int, images: list[vision.Pending]) -> str:
    """The text of a content list; images (user messages only) are named in ``images`` to be read after admission."""
    texts: list[str] = []
    for number, raw in enumerate(parts):
        where = f"{field}.{number}"
        part = at_default(raw, PART_AT_DEFAULT, f"{where}.") if isinstance(raw, dict) else raw
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
            if set(part) - {"type", "text", "annotations", "logprobs"}:
                raise invalid(where, f"a {kind} part is {{\"type\": \"{kind}\", \"text\": \"...\"}}")
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        elif kind == "input_image":
            if part.get("file_id") is not None:
                raise invalid(f"{where}.file_id", "file ids are not supported; send image_url as a data: URL or a gs:// path")
            url = part.get("image_url")
            if role != "user" or not isinstance(url, str) or set(part) - {"type", "image_url", "file_id", "detail"}:
                raise invalid(where, "an image part is {\"type\": \"input_image\", \"image_url\": \"data:...\"}, in a user message")
            vision.name(url, message, f"{where}.image_url", images)
        else:
            raise invalid(where, f"content part type '{kind}' is not supported; send input_text, input_image or output_text")
    return "".join(texts)


def items_of(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``input`` as a list of items (a string is one user message)."""
    return [{"role": "user", "content": value}] if isinstance(value, str) else value


def references(items: list[dict[str, Any]]) -> list[str]:
    """The ids of ``input``'s ``item_reference`` items, checked (read from the store once the request is admitted)."""
    return [_parse(ItemReference, item, f"input.{i}").id for i, item in enumerate(items) if isinstance(item, dict) and item.get("type") == "item_reference"]


def messages_from(items: list[dict[str, Any]], field: str, images: list[vision.Pending], offset: int = 0) -> list[Message]:
    """Input items as provider-neutral messages: an assistant message and the function calls after it are one turn.

    Images are named with their message's index plus ``offset`` (where these messages will stand in the request).
    ``item_reference`` items are left out: :func:`create` puts the items they name in their place once admitted.
    """
    out: list[Message] = []
    for index, raw in enumerate(items):
        where = f"{field}.{index}"
        item = at_default(raw, ITEM_AT_DEFAULT, f"{where}.") if isinstance(raw, dict) else raw
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            message = _parse(MessageItem, item, where)
            role = "system" if message.role == "developer" else message.role
            content = message.content
            text = content if isinstance(content, str) else _parts_text(content, f"{where}.content", message.role, len(out) + offset, images)
            out.append(Message(role, text))
        elif kind == "function_call":
            call = _parse(FunctionCallItem, item, where)
            made = ToolCall(call.call_id, call.name, call.arguments)
            if out and out[-1].role == "assistant":
                out[-1] = dataclasses.replace(out[-1], tool_calls=(*out[-1].tool_calls, made))
            else:
                out.append(Message("assistant", "", tool_calls=(made,)))
        elif kind == "item_reference":
            continue
        elif kind == "function_call_output":
            result = _parse(FunctionCallOutputItem, item, where)
            output = result.output if isinstance(result.output, str) else _parts_text(result.output, f"{where}.output", "tool", len(out) + offset, images)
            out.append(Message("tool", output, tool_call_id=result.call_id))
        else:
            raise invalid(f"{where}.type", f"item type '{kind}' is not supported; send message, function_call, function_call_output or item_reference items")
    return out


def tools_from(body: CreateResponse) -> list[FunctionTool]:
    specs: list[FunctionTool] = []
    for number, raw in enumerate(body.tools or []):
        where = f"tools.{number}"
        kind = raw.get("type") if isinstance(raw, dict) else None
        if kind != "function":
            raise invalid(f"{where}.type", f"tool type '{kind}' is not supported; only function tools are")
        specs.append(_parse(FunctionTool, at_default(raw, TOOL_AT_DEFAULT, f"{where}."), where))
    return specs


def _tool_choice(body: CreateResponse, tools: tuple[Tool, ...]) -> Any:
    choice = body.tool_choice
    if isinstance(choice, dict):
        if choice.get("type") != "function":
            raise invalid("tool_choice", "a named choice is {\"type\": \"function\", \"name\": ...}; other tool choices are not supported")
        named = _parse(NamedFunction, choice, "tool_choice")
        return generation.tool_choice(tools, None, named.name, "tool_choice")
    return generation.tool_choice(tools, choice, None, "tool_choice")


def _response_format(body: CreateResponse) -> ResponseFormat | None:
    fmt = body.text.format if body.text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return generation.json_format(None, "text.format")
    if fmt.name is None or fmt.json_schema is None:
        raise invalid("text.format", "a json_schema format needs name and schema")
    return generation.json_format(fmt.json_schema, "text.format.schema", fmt.name, fmt.strict, fmt.description)


def params_from(body: CreateResponse) -> tuple[generation.TextParams, list[vision.Pending], list[FunctionTool]]:
    """The provider-neutral request (``instructions`` first), its images named but not read, and its tools as sent."""
    images: list[vision.Pending] = []
    head = [Message("system", body.instructions)] if body.instructions else []
    messages = head + messages_from(items_of(body.input), "input", images, offset=len(head))
    if not any(m.role != "system" for m in messages) and body.previous_response_id is None and not references(items_of(body.input)):
        raise invalid("input", "needs at least one message")
    specs = tools_from(body)
    tools = tuple(Tool(t.name, t.description, t.parameters or {"type": "object", "properties": {}}, t.strict) for t in specs)  # strict: checked by generation
    params = generation.TextParams(
        messages=messages,
        temperature=body.temperature,
        max_tokens=body.max_output_tokens,
        top_p=body.top_p,
        tools=tools,
        tool_choice=_tool_choice(body, tools),
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_response_format(body),
    )
    return params, images, specs


# -- the answer ---------------------------------------------------------------------------------------------------


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status != "in_progress" else []
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name, "arguments": arguments}


def usage_of(usage: Usage | None) -> dict[str, Any] | None:
    """OpenAI's response usage; null when the provider did not say (never a fake count)."""
    if usage is None or usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    cached = getattr(usage, "cached_tokens", None) or 0
    reasoning = getattr(usage, "reasoning_tokens", None) or 0
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": getattr(usage, "cache_write_tokens", None) or 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def _status(finish: str | None) -> tuple[str, dict[str, str] | None]:
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


@dataclasses.dataclass
class Answer:
    """What the ``response`` object echoes of its request, fixed once the request is read."""

    id: str
    created_at: int
    body: CreateResponse
    specs: list[FunctionTool]
    store: bool

    def response(self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None = None,
                 incomplete: dict[str, str] | None = None, error: dict[str, str] | None = None) -> dict[str, Any]:
        body = self.body
        text = body.text.format.model_dump(by_alias=True, exclude_none=True) if body.text is not None and body.text.format else {"type": "text"}
        choice = body.tool_choice if body.tool_choice is not None else "auto"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": incomplete,
            "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens,
            "model": body.model,
            "output": output,
            "parallel_tool_calls": body.parallel_tool_calls if body.parallel_tool_calls is not None else True,
            "previous_response_id": body.previous_response_id,
            "reasoning": None,
            "store": self.store,
            "temperature": body.temperature,
            "text": {"format": text},
            "tool_choice": choice,
            "tools": [{"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters, "strict": t.strict} for t in self.specs],
            "top_p": body.top_p,
            "truncation": "disabled",
            "usage": usage,
            "metadata": body.metadata or {},
        }


def _output(text: str, calls: list[ToolCall], status: str) -> list[dict[str, Any]]:
    items = [message_item(_id("msg"), text, status)] if text or not calls else []
    return items + [call_item(_id("fc"), c.id, c.name, c.arguments, "completed") for c in calls]


def create(ctx: http.Context, body: CreateResponse) -> https_fn.Response | dict[str, Any]:
    assert ctx.caller is not None
    params, images, specs = params_from(body)
    model, params, models = chat.admit(ctx, body.model, params, images, "max_output_tokens")
    items = items_of(body.input)
    if ids := references(items):  # read once admitted, as a stored conversation is; their share reserved on top
        found = stored.items(ctx.caller.uid, ids, ctx.caller.org)
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get("type") == "item_reference" and item["id"] not in found:  # another user's too
                raise GatewayError(ErrorCode.NOT_FOUND, f"Item with id '{item['id']}' not found.", {"field": f"input.{index}.id"})
        named = [found[i] for i in ids]
        items = [found[item["id"]] if isinstance(item, dict) and item.get("type") == "item_reference" else item for item in items]
        head = [Message("system", body.instructions)] if body.instructions else []
        images = []  # the named items are outputs (text and calls): no images, but the others' places may move
        params = dataclasses.replace(params, messages=head + messages_from(items, "input", images, offset=len(head)))
        ctx.extend(budgets.history_ask(messages_from(named, "input", []), models))
    context: list[dict[str, Any]] = []
    if body.previous_response_id is not None:  # read once admitted; its share of the prompt reserved on top
        context = stored.context(ctx.caller.uid, body.previous_response_id, ctx.caller.org)
        head = 1 if body.instructions else 0
        earlier: list[vision.Pending] = []
        history = messages_from(context, "previous_response_id", earlier, offset=head)
        if earlier and "vision" not in model.capabilities:
            generation.check_vision(model, "previous_response_id")
        shift = len(history)
        images = earlier + [dataclasses.replace(p, message=p.message + shift) for p in images]
        params = dataclasses.replace(params, messages=[*params.messages[:head], *history, *params.messages[head:]])
        ctx.extend(budgets.history_ask(history, models))
    params = vision.attach(params, images, ctx.caller.uid, ctx.closers.append, ctx.caller.org)
    answer = Answer(_id("resp"), int(time.time()), body, specs, body.store is not False)
    keep = stored.Keeper(ctx.caller.uid, answer, [*context, *items], ctx.caller.org) if answer.store else None
    tracker = ctx.tracker()
    if body.stream:
        stream = generation.open_stream(model, params, early=True)
        ctx.confirm(on_refusal=stream.adapter.cancel)
        response = https_fn.Response(
            _events(stream, answer, keep, tracker, ctx.request_id, ctx.started, http.client_gone(ctx.request)),
            mimetype="text/event-stream",
            headers=sse.HEADERS,
        )
        response.call_on_close(tracker.cut_off)
        return response
    result = generation.complete(model, params)
    tracker.sent(result.text + "".join(c.name + c.arguments for c in result.tool_calls))
    tracker.ok(result.model, result.usage, result.cost, later=True)
    status, incomplete = _status(result.finish_reason)
    out = answer.response(status, _output(result.text, result.tool_calls, status), usage_of(result.usage), incomplete)
    return keep.save(out) if keep is not None else out


# -- streaming ------------------------------------------------------------------------------------------------------


class _Events:
    """The typed events of one streamed response, numbered in order; the output items as they stand."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.number = 0
        self.output: list[dict[str, Any]] = []
        self.text: list[str] = []
        self.open_message: int | None = None
        self.calls: dict[int, int] = {}
        """A provider's call index -> its output index, while the call is open."""

    def event(self, kind: str, **fields: Any) -> str:
        payload = {"type": kind, "sequence_number": self.number, **fields}
        self.number += 1
        return sse.event(kind, payload)

    def delta(self, text: str) -> Iterator[str]:
        if self.open_message is None:
            yield from self.close_calls()
            self.open_message = len(self.output)
            item = message_item(_id("msg"), "", "in_progress")
            self.output.append(item)
            self.text = []
            yield self.event("response.output_item.added", output_index=self.open_message, item=item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield self.event("response.content_part.added", item_id=item["id"], output_index=self.open_message, content_index=0, part=part)
        self.text.append(text)
        item = self.output[self.open_message]
        yield self.event("response.output_text.delta", item_id=item["id"], output_index=self.open_message, content_index=0, delta=text, logprobs=[])

    def close_message(self, status: str = "completed") -> Iterator[str]:
        if self.open_message is None:
            return
        index, self.open_message = self.open_message, None
        text = "".join(self.text)
        item = self.output[index] = message_item(self.output[index]["id"], text, status)
        yield self.event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0, text=text, logprobs=[])
        yield self.event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=item["content"][0])
        yield self.event("response.output_item.done", output_index=index, item=item)

    def call(self, piece: ToolCallDelta) -> Iterator[str]:
        if piece.index not in self.calls:
            yield from self.close_message()
            self.calls[piece.index] = len(self.output)
            item = call_item(_id("fc"), piece.id or _id("call"), piece.name or "", "", "in_progress")
            self.output.append(item)
            yield self.event("response.output_item.added", output_index=self.calls[piece.index], item=item)
        index = self.calls[piece.index]
        item = self.output[index]
        if piece.arguments:
            item["arguments"] += piece.arguments
            yield self.event("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece.arguments)

    def close_calls(self) -> Iterator[str]:
        for index in sorted(self.calls.values()):
            item = self.output[index] = {**self.output[index], "status": "completed"}
            yield self.event("response.function_call_arguments.done", item_id=item["id"], name=item["name"], output_index=index, arguments=item["arguments"])
            yield self.event("response.output_item.done", output_index=index, item=item)
        self.calls = {}

    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(i["call_id"], i["name"], i["arguments"]) for i in self.output if i["type"] == "function_call"]


def _events(
    stream: generation.Stream,
    answer: Answer,
    keep: stored.Keeper | None,
    tracker: Any,
    request_id: str,
    started: float,
    gone: Callable[[], bool] | None = None,
) -> Iterator[str]:
    events = _Events(answer)
    yield events.event("response.created", response=answer.response("in_progress", []))
    yield events.event("response.in_progress", response=answer.response("in_progress", []))
    deadline = generation.stream_deadline(started, deploy.STREAM_TIMEOUT_SECONDS)
    try:
        for item in generation.relay(stream, tracker, request_id, deadline, gone):
            if item is generation.HEARTBEAT:
                yield sse.KEEP_ALIVE
            elif isinstance(item, Delta):
                if item.text:
                    yield from events.delta(item.text)
            elif isinstance(item, ToolCallDelta):
                yield from events.call(item)
            elif isinstance(item, Final):
                status, incomplete = _status(generation.normalize_finish(item.finish_reason))
                yield from events.close_message("completed" if status == "completed" else "incomplete")
                yield from events.close_calls()
                final = answer.response(status, events.output, usage_of(item.usage), incomplete)
                if keep is not None:
                    final = keep.save(final)  # one write, before the last event: the response ends once it is durable
                yield events.event(f"response.{status}", response=final)
            elif isinstance(item, GatewayError):
                yield from _failed(events, item)
    finally:
        tracker.flush()  # a settle left for after the last event, still before the response ends


def _failed(events: _Events, err: GatewayError) -> Iterator[str]:
    """A failure after the stream began: OpenAI's ``error`` event, then ``response.failed`` (nothing is stored)."""
    body = openai_error(err)["error"]
    yield events.event("error", code=body["code"], message=body["message"], param=body["param"])
    code = "rate_limit_exceeded" if err.status == 429 else "server_error"
    yield events.event("response.failed", response=events.answer.response("failed", events.output, error={"code": code, "message": err.message}))


def retrieve(ctx: http.Context, response_id: str) -> dict[str, Any]:
    assert ctx.caller is not None
    return stored.read(ctx.caller.uid, response_id, ctx.caller.org)


def delete(ctx: http.Context, response_id: str) -> dict[str, Any]:
    assert ctx.caller is not None
    stored.delete(ctx.caller.uid, response_id, ctx.caller.org)
    return {"id": response_id, "object": "response.deleted", "deleted": True}


EVENT_MODELS = (
    "ResponseLifecycleEvent", "ResponseOutputItemEvent", "ResponseContentPartEvent", "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent", "ResponseArgumentsDeltaEvent", "ResponseArgumentsDoneEvent", "ResponseErrorEvent",
)
"""The answer models of a stream's events (``gateway.answers``); each event's name is its ``type``."""

ID_PARAM = {"id": {"type": "string", "minLength": 1, "maxLength": 128, "description": "A response id (resp_...) of the caller's."}}

API = (
    openapi.Op(
        "POST", "/openai/v1/responses", "Create a response (OpenAI's Responses API)",
        {200: ("OpenAIResponse", openapi.Stream(EVENT_MODELS, error=ERROR_MODEL, error_event=False, typed=True))},
        body=CreateResponse, errors=(403, 404, 429, 502, 503, 504),
        examples=(
            {"model": "openai-gpt-4o-mini", "input": "Hi"},
            {"model": "openai-gpt-4o-mini", "input": [{"role": "user", "content": "Hi"}], "instructions": "Be brief", "stream": True},
        ),
        description="model is a gateway model id. Also served without /v1. Stored (store, default true) under the caller; "
        "previous_response_id continues one. A stream is typed events (event: response.output_text.delta ...), each with its "
        "sequence_number; a failure after it started is an error event, then response.failed.",
    ),
    openapi.Op("GET", "/openai/v1/responses/{id}", "Read a stored response of the caller's (OpenAI's Responses API)", {200: "OpenAIResponse"}, params=ID_PARAM),
    openapi.Op("DELETE", "/openai/v1/responses/{id}", "Delete a stored response of the caller's (OpenAI's Responses API)", {200: "OpenAIResponseDeleted"}, params=ID_PARAM),
)
