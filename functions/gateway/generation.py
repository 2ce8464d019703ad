"""Text generation: model -> provider -> adapter, with retries, key refresh and fallbacks.

The edge functions (``generate_text``, ``openai``) validate a request into
:class:`TextParams` and call :func:`complete` or :func:`open_stream`. Both
try the model, then each of its ``fallbacks`` in order, moving on only when a
model fails before anything was sent to the client.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway import jsonload, logs, providers_store, retry, secrets, settings
from gateway.errors import ErrorCode, GatewayError, internal, invalid
from gateway.providers.base import (
    Adapter,
    ChatRequest,
    Completion,
    Delta,
    Final,
    Message,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    UpstreamError,
    Usage,
)
from gateway.registry import registry, usable_model
from gateway.schemas import Model, Pricing, Provider

TEXT_TYPES = ("text", "multimodal")
DEFAULT_TIMEOUT_SECONDS = 60.0
FALLBACK_CODES = frozenset(
    {ErrorCode.RATE_LIMITED, ErrorCode.PROVIDER_ERROR, ErrorCode.PROVIDER_AUTH, ErrorCode.PROVIDER_TIMEOUT, ErrorCode.UNAVAILABLE}
)
FINISH_REASONS = {
    "stop": "stop", "end_turn": "stop", "stop_sequence": "stop", "STOP": "stop",
    "length": "length", "max_tokens": "length", "MAX_TOKENS": "length",
    "content_filter": "content_filter", "SAFETY": "content_filter", "RECITATION": "content_filter",
    "tool_calls": "tool_calls", "tool_use": "tool_calls",
}

T = TypeVar("T")


@dataclass
class TextParams:
    """A validated text request, provider-neutral."""

    messages: list[Message]
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    priced_only: bool = False
    """A cost budget applies: fallbacks without prices are never tried (they could not be booked)."""
    org: str | None = None
    """The request's organisation: fallbacks are only the models it may call (``Registry.fallback``)."""


@dataclass
class Result:
    """A finished generation and where it came from."""

    model: Model
    text: str
    finish_reason: str | None
    usage: Usage
    cost: dict[str, Any] | None
    latency_ms: float
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class Stream:
    """An open stream: the provider answered, and (unless opened ``early``) its first event is read, so failures before it could fall back."""

    model: Model
    first: Delta | ToolCallDelta | Final | None
    rest: Iterator[Delta | ToolCallDelta | Final]
    adapter: Adapter
    started: float = field(default_factory=time.perf_counter)
    response_format: ResponseFormat | None = None
    """When set, the streamed text is checked as JSON before the stream may end well."""
    tools: tuple[Tool, ...] = ()
    """The request's tools: calls of a strict one are checked before the stream may end well."""


def start_config() -> None:
    """Start the listeners a generation reads, models, providers and limits (``http.Handler.reads``)."""
    from gateway import limits

    registry().start()
    providers_store.start()
    limits.start()


def text_model(model_id: str, field_name: str = "modelId", org: str | None = None) -> Model:
    """An enabled text or multimodal model a request in ``org`` may call; 404 or 400 (naming the field) otherwise."""
    return usable_model(model_id, TEXT_TYPES, field_name, org)


def completion_limit(model: Model, params: TextParams) -> int:
    """The ``max_tokens`` every provider call of the request is sent (and its budget reserves): never left unset."""
    if params.max_tokens is not None:
        return params.max_tokens
    config = model.config
    limit = config.maxTokens or settings.DEFAULT_MAX_TOKENS.value
    return max(1, min(limit, config.maxTokensLimit or limit))


def admission(ctx: Any, model: Model, params: TextParams, images: int, field_name: str) -> tuple[TextParams, list[Model]]:
    """Count and reserve a chat request before anything stored is read or any provider called (``http.Context.admit``).

    ``max_tokens`` is pinned (:func:`completion_limit`); under a cost budget an
    unpriced model is a 400 naming ``field_name`` and unpriced fallbacks are
    dropped; the worst case is reserved over the models that may answer.
    Returns the pinned params and those models (history's share is reserved by the edge once read).
    """
    from gateway import budgets

    limit = completion_limit(model, params)
    params = dataclasses.replace(params, max_tokens=limit, org=ctx.caller.org)
    caps = budgets.caps_for(ctx.caller.profile, ctx.caller.role, ctx.caller)
    models = list(_candidates(model, params, vision=images > 0))
    if caps.costed:
        if budgets.text_prices(model) is None:
            raise budgets.unpriced(model, field_name, "inputPer1M and outputPer1M")
        models = [m for m in models if budgets.text_prices(m) is not None]
        params = dataclasses.replace(params, priced_only=True)
    ctx.admit(model, budgets.text_ask(params, models, images, limit), caps=caps)
    return params, models


def check_limits(model: Model, params: TextParams, field_name: str = "maxTokens") -> None:
    limit = model.config.maxTokensLimit
    if params.max_tokens is not None and limit is not None and params.max_tokens > limit:
        raise invalid(field_name, f"must be at most {limit} for model '{model.id}'")


def tool_choice(tools: tuple[Tool, ...], mode: str | None, name: str | None, field_name: str) -> ToolChoice | None:
    """A request's tool choice, checked: ``auto``/``none``/``required``, or ``name``, which must be one of ``tools``."""
    if mode is None and name is None:
        return None
    if not tools:
        raise invalid(field_name, "needs tools")
    if name is None:
        return ToolChoice(str(mode))
    if name not in {t.name for t in tools}:
        raise invalid(field_name, f"names '{name}', which is not one of the tools")
    return ToolChoice("function", name)


def json_format(schema: dict[str, Any] | None, field_name: str, name: str = "response", strict: bool | None = None, description: str | None = None) -> ResponseFormat:
    """Structured output: any JSON object (no ``schema``), or one matching ``schema``, which must itself be valid."""
    if schema is None:
        return ResponseFormat("json_object")
    check_schema(schema, field_name)
    return ResponseFormat("json_schema", schema, name, strict, description)


def check_schema(schema: dict[str, Any], field_name: str) -> None:
    """``schema`` must be a valid JSON Schema (its own metaschema's): a 400 naming ``field_name`` otherwise."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    problem = _cached_problem(text) if len(text) <= CACHED_SCHEMA_CHARS else _schema_problem(schema)
    if problem is not None:
        raise invalid(field_name, f"not a valid JSON Schema: {problem}")


CACHED_SCHEMA_CHARS = 16_384
"""Schemas up to this size (canonical JSON) have their verdict cached: clients send the same tools with every
turn, and a check against the metaschema takes about 2 ms per tool. Larger ones are checked each time (memory)."""


@functools.lru_cache(maxsize=512)
def _cached_problem(text: str) -> str | None:
    return _schema_problem(json.loads(text))


def _schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON Schema, or None."""
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as err:
        return str(err.message)
    return None


def check_tools(model: Model, params: TextParams, field_name: str = "tools") -> None:
    """Tools only for models that declare the ``tools`` capability: a 400 naming the field, never a silent drop."""
    if params.tools and "tools" not in model.capabilities:
        raise invalid(field_name, f"model '{model.id}' does not support tools (its capabilities lack 'tools')")


def check_vision(model: Model, field_name: str) -> None:
    """Images only for models that declare ``vision``: a 400 naming the first image."""
    if "vision" not in model.capabilities:
        raise invalid(field_name, f"model '{model.id}' does not take images (its capabilities lack 'vision')")


OPENAI_FIELDS = {"tool_choice": "tool_choice", "parallel_tool_calls": "parallel_tool_calls", "response_format": "response_format"}
"""How each edge names the request fields a provider may be unable to honour (generate_text uses camelCase)."""


def _provider_can(adapter: Adapter, params: TextParams, fields: dict[str, str]) -> None:
    """What the provider's API cannot express is refused (a 400 naming the field), never dropped."""
    choice = params.tool_choice
    if params.tools and choice is not None and choice.mode not in adapter.tool_choices:
        raise invalid(fields["tool_choice"], f"provider type '{adapter.type}' cannot force tool_choice '{choice.mode}'")
    if params.tools and params.parallel_tool_calls is False and not adapter.serial_tool_calls:
        raise invalid(fields["parallel_tool_calls"], f"provider type '{adapter.type}' cannot be asked for one tool call at a time")
    if params.tools and params.response_format is not None and not adapter.json_with_tools:
        raise invalid(fields["response_format"], f"provider type '{adapter.type}' emulates structured output with a tool: not with tools")


def check_json(fmt: ResponseFormat | None, text: str) -> None:
    """The answer must be what ``response_format`` asked for; otherwise a clear 502, never invalid JSON passed on.

    Checked for every provider, also those that promise it: a truncated answer (``length``) breaks any promise.
    """
    if fmt is None:
        return
    try:
        value = jsonload.loads(text)
    except ValueError:  # jsonload.TooDeep included
        raise GatewayError(ErrorCode.PROVIDER_ERROR, "The provider's answer is not valid JSON (response_format)", {"field": "response_format"}) from None
    if fmt.type == "json_object" and not isinstance(value, dict):
        raise GatewayError(ErrorCode.PROVIDER_ERROR, "The provider's answer is JSON but not an object (response_format)", {"field": "response_format"})
    if fmt.schema is not None:
        error = _schema_error(fmt.schema, value, "response_format", "The response_format schema")
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise GatewayError(
                ErrorCode.PROVIDER_ERROR,
                f"The provider's answer does not match the response_format schema at {where}: {error.message}",
                {"field": "response_format", "path": where},
            )


def check_tool_calls(tools: tuple[Tool, ...], calls: list[ToolCall]) -> None:
    """Every call of a ``strict`` tool must match its ``parameters``; otherwise a clear 502 naming the tool and the path.

    Checked for every provider, also those that promise it (OpenAI's ``strict``): a truncated answer breaks any promise.
    With a strict tool offered, a call of a tool that was not offered is refused the same way.
    """
    offered = {t.name: t for t in tools}
    if not any(t.strict for t in tools):
        return
    for call in calls:
        tool = offered.get(call.name)
        if tool is None:
            raise _bad_call(call.name, f"The provider called tool '{call.name}', which was not offered", "(name)")
        if not tool.strict:
            continue
        try:
            value = jsonload.loads(call.arguments)
        except ValueError:  # jsonload.TooDeep included
            raise _bad_call(call.name, f"The provider's call of tool '{call.name}' has arguments that are not valid JSON", "(root)") from None
        error = _schema_error(tool.parameters, value, "tools", f"Tool '{call.name}': its parameters schema")
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise _bad_call(call.name, f"The provider's call of tool '{call.name}' does not match its parameters at {where}: {error.message}", where)


def _schema_error(schema: dict[str, Any], value: Any, field_name: str, what: str) -> Any:
    """How ``value`` best breaks ``schema`` (a ``jsonschema`` error), or None.

    A ``$ref`` that leads nowhere (remote ones are never fetched) is the request's fault: a 400 naming ``field_name``, not a 500.
    """
    import jsonschema
    import referencing.exceptions

    try:
        return jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(value))
    except referencing.exceptions.Unresolvable as err:
        raise invalid(field_name, f"{what} has a $ref that cannot be resolved ({err})") from None


def _bad_call(tool: str, message: str, path: str) -> GatewayError:
    return GatewayError(ErrorCode.PROVIDER_ERROR, message, {"field": "tools", "tool": tool, "path": path})


def normalize_finish(reason: str | None) -> str | None:
    return None if reason is None else FINISH_REASONS.get(reason, reason.lower())


def cost(pricing: Pricing | None, usage: Usage, reported: float | None) -> dict[str, Any] | None:
    """USD cost from the model's pricing, or the provider's own figure; None when unknown."""
    input_cost = output_cost = None
    if pricing is not None:
        if pricing.inputPer1M is not None and usage.prompt_tokens is not None:
            # Cache hits at the cached price (else the input price: never free), the rest at the input price.
            cached = usage.cached_tokens if usage.cached_tokens is not None and usage.cached_tokens <= usage.prompt_tokens else 0
            hit = pricing.cachedInputPer1M if pricing.cachedInputPer1M is not None else pricing.inputPer1M
            input_cost = round(((usage.prompt_tokens - cached) * pricing.inputPer1M + cached * hit) / 1e6, 10)
        if pricing.outputPer1M is not None and usage.completion_tokens is not None:
            output_cost = round(usage.completion_tokens * pricing.outputPer1M / 1e6, 10)
    if reported is not None:
        return {"input": input_cost, "output": output_cost, "total": round(reported, 10), "currency": "USD", "source": "provider"}
    if input_cost is None or output_cost is None:
        return None
    return {"input": input_cost, "output": output_cost, "total": round(input_cost + output_cost, 10), "currency": "USD", "source": "pricing"}


def adapter_for(model: Model) -> Adapter:
    """The model's provider adapter with its current key; 503 or 502 when the provider cannot be used."""
    provider = providers_store.of(model)
    if provider is None:
        raise GatewayError(ErrorCode.UNAVAILABLE, f"Provider '{model.provider}' is not configured", {"provider": model.provider})
    if not provider.enabled:
        raise GatewayError(ErrorCode.UNAVAILABLE, f"Provider '{model.provider}' is disabled", {"provider": model.provider})
    adapter = providers_store.adapter(provider)
    if adapter.needs_key and provider.hasKey and not adapter.key:
        raise key_error(provider, providers_store.key_problem(provider, adapter))
    return adapter


def key_error(provider: Provider, failure: secrets.SecretError | None) -> GatewayError:
    """502 for a provider whose stored key could not be had; the secret, project and remedy for admins and the logs only."""
    if failure is not None:  # Secret Manager failed: not the same as a key never set
        return GatewayError(
            ErrorCode.PROVIDER_AUTH,
            f"Provider '{provider.id}' key could not be read ({failure.summary})",
            {"provider": provider.id, "reason": failure.kind},
            admin_message=f"Provider '{provider.id}' key could not be read: {failure.message}",
            admin_details={"secretName": provider.secretName},
        )
    return GatewayError(
        ErrorCode.PROVIDER_AUTH,
        f"Provider '{provider.id}' has no key",
        {"provider": provider.id},
        admin_message=(
            f"Provider '{provider.id}' has no key in secret {provider.secretName}: store it with PATCH /providers/{provider.id} "
            '{"apiKey": ...} (a secretName on the provider document is no longer read: see seed/migrate_secrets.py)'
        ),
        admin_details={"secretName": provider.secretName},
    )


def chat_request(model: Model, params: TextParams, adapter: Adapter | None = None) -> ChatRequest:
    config = model.config
    top_p = params.top_p if params.top_p is not None else config.topP
    if top_p == 0 and adapter is not None:
        top_p = adapter.zero_top_p  # only the likeliest token, in the words the provider accepts
    system = params.system_prompt or config.systemPrompt
    messages = ([Message("system", system)] if system else []) + params.messages
    return ChatRequest(
        model=model.name,
        messages=messages,
        temperature=params.temperature if params.temperature is not None else config.temperature,
        max_tokens=_max_tokens(params.max_tokens if params.max_tokens is not None else config.maxTokens, config.maxTokensLimit),
        top_p=top_p,
        stop=params.stop,
        timeout=config.timeoutSeconds or DEFAULT_TIMEOUT_SECONDS,
        base_url=str(model.endpointURL) if model.endpointURL else None,
        tools=params.tools,
        tool_choice=params.tool_choice,
        parallel_tool_calls=params.parallel_tool_calls,
        response_format=params.response_format,
    )


def _max_tokens(asked: int | None, limit: int | None) -> int | None:
    """What a candidate is sent: the request's pinned ``max_tokens``, within a fallback's own limit."""
    return asked if asked is None or limit is None else min(asked, limit)


def call_provider(model: Model, adapter: Adapter, fn: Callable[[], T]) -> T:
    """``fn`` with retries; failures as :class:`GatewayError`.

    A 401 is not answered by re-reading the key: the key sent is the version
    stored through the gateway for these addresses (``keyBinding``), and a new
    one reaches every instance with its provider document's ``keyVersion``.
    """
    return call_provider_with(model.provider, fn)


def call_provider_with(provider_id: str, fn: Callable[[], T]) -> T:
    """``fn`` with retries, for calls not tied to a model (discovery)."""
    try:
        return retry.run(fn)
    except UpstreamError as err:
        raise retry.to_gateway_error(err, provider_id) from None


def _candidates(model: Model, params: TextParams, vision: bool | None = None) -> Iterator[Model]:
    """The model, then its usable fallbacks (with the capabilities the request needs: tools, vision; priced when it must be)."""
    from gateway import budgets

    yield model
    if vision is None:
        vision = any(m.images for m in params.messages)
    for fallback_id in model.fallbacks:
        fallback = registry().fallback(model, fallback_id, params.org)
        if fallback is not None and fallback.enabled and fallback.type in TEXT_TYPES and fallback.id != model.id:
            needs = ({"tools"} if params.tools else set()) | ({"vision"} if vision else set())
            if needs <= set(fallback.capabilities) and not (params.priced_only and budgets.text_prices(fallback) is None):
                yield fallback


def _with_fallbacks(model: Model, params: TextParams, run: Callable[[Model], T]) -> T:
    last: GatewayError | None = None
    for candidate in _candidates(model, params):
        try:
            return run(candidate)
        except GatewayError as err:
            if err.code not in FALLBACK_CODES:
                raise
            if model.fallbacks:
                logs.warn("model failed before answering; trying its fallbacks", modelId=candidate.id, code=err.code.value)
            last = err
    assert last is not None
    raise last


def complete(model: Model, params: TextParams, fields: dict[str, str] = OPENAI_FIELDS) -> Result:
    """A whole answer."""
    started = time.perf_counter()

    def run(candidate: Model) -> Result:
        adapter = adapter_for(candidate)
        _provider_can(adapter, params, fields)
        request = chat_request(candidate, params, adapter)
        answer: Completion = call_provider(candidate, adapter, lambda: adapter.generate(request))
        if not answer.tool_calls:
            check_json(params.response_format, answer.text)
        check_tool_calls(params.tools, answer.tool_calls)
        return Result(
            model=candidate,
            text=answer.text,
            finish_reason=normalize_finish(answer.finish_reason),
            usage=answer.usage,
            cost=cost(candidate.pricing, answer.usage, answer.cost),
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            tool_calls=answer.tool_calls,
        )

    return _with_fallbacks(model, params, run)


def open_stream(model: Model, params: TextParams, fields: dict[str, str] = OPENAI_FIELDS, early: bool = False) -> Stream:
    """A stream whose first event has arrived (``early``: whose provider has answered 200); before that, failures retry and fall back.

    ``early`` lets an edge start its answer as soon as the provider does (the
    ``openai`` edge's role chunk) instead of one token later; a failure after
    that point can no longer fall back, and ends the stream with an error event.
    """

    def run(candidate: Model) -> Stream:
        adapter = adapter_for(candidate)
        _provider_can(adapter, params, fields)
        request = chat_request(candidate, params, adapter)

        def first() -> tuple[Delta | ToolCallDelta | Final | None, Iterator[Delta | ToolCallDelta | Final]]:
            events = adapter.stream(request)
            if early:
                return None, _opened(adapter, events)
            try:
                return next(events), events
            except StopIteration:
                raise UpstreamError("provider stream was empty", kind="protocol") from None

        head, rest = call_provider(candidate, adapter, first)
        return Stream(candidate, head, rest, adapter, response_format=params.response_format, tools=params.tools)

    return _with_fallbacks(model, params, run)


HEARTBEAT = object()
_END = object()


def _opened(adapter: Adapter, events: Iterator[Any]) -> Iterator[Any]:
    """``events`` read by a thread from now on; returns once the provider answered 200, or raises what failed before that."""
    items: queue.Queue[Any] = queue.Queue()
    ready = threading.Event()
    adapter.on_open = ready.set

    def read() -> None:
        try:
            for event in events:
                items.put(event)
                ready.set()
            items.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader of the stream
            items.put(exc)
        ready.set()

    threading.Thread(target=contextvars.copy_context().run, args=(read,), name="stream-opener", daemon=True).start()  # logs keep the trace
    ready.wait()
    if not adapter.opened and not items.empty() and isinstance(items.queue[0], BaseException):
        raise items.get()  # failed before the provider answered: retried, or a fallback is tried

    def drain() -> Iterator[Any]:
        while (item := items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    return drain()

STREAM_MARGIN_SECONDS = 15.0
"""How long before its function's timeout a stream is ended with an error event, so the platform never cuts it first."""


def stream_deadline(started: float, timeout_seconds: float) -> float:
    """The ``perf_counter`` at which a stream of a request that began at ``started`` must end (see :func:`relay`)."""
    return started + max(timeout_seconds - STREAM_MARGIN_SECONDS, timeout_seconds / 2)


def relay(stream: Stream, tracker: Any, request_id: str, deadline: float | None = None, gone: Callable[[], bool] | None = None) -> Iterator[Any]:
    """What an SSE edge sends, in order: ``Delta``, ``ToolCallDelta``, ``HEARTBEAT``, then one ``Final`` or one ``GatewayError``.

    The ledger is kept here: the answer, the failure, or (the client went
    away) the cut-off is recorded once, and committed before the edge sends
    its last event, or, for an answer far from every budget, right after the
    edge's ``[DONE]`` (the edge runs ``tracker.flush()``). A stream still running at ``deadline`` (``perf_counter``)
    ends with a ``PROVIDER_TIMEOUT`` error event: the edge sets it a little
    before its function's timeout, so the platform never cuts a stream silently.
    """
    text: list[str] = []
    calls: dict[int, list[str]] = {}  # the tool calls, reassembled when a tool is strict: index -> [name, arguments]
    strict = any(t.strict for t in stream.tools)
    tracker.use(stream.model)
    with contextlib.closing(pump(stream, settings.SSE_HEARTBEAT_SECONDS.value, deadline, gone)) as events:
        try:
            for item in events:
                if isinstance(item, Delta):
                    tracker.sent(item.text)
                    if stream.response_format is not None:
                        text.append(item.text)
                elif isinstance(item, ToolCallDelta):
                    tracker.sent((item.name or "") + item.arguments)
                    call = calls.setdefault(item.index, ["", ""])
                    if strict:
                        call[0] = item.name if item.name is not None else call[0]
                        call[1] += item.arguments
                if isinstance(item, Final):
                    if stream.response_format is not None and not calls:  # as complete(): an answer of tool calls has no text to check
                        check_json(stream.response_format, "".join(text))
                    check_tool_calls(stream.tools, [ToolCall("", name, arguments) for name, arguments in calls.values()])
                    # Far from every budget the settle waits until the edge has sent [DONE] (``tracker.flush``),
                    # still inside the response: durable before the response ends, and not in the client's way.
                    tracker.ok(stream.model, item.usage, cost(stream.model.pricing, item.usage, item.cost), later=True)
                yield item
        except GatewayError as err:
            logs.warn("stream failed", requestId=request_id, code=err.code.value, modelId=stream.model.id)
            tracker.failed(err)
            yield err
        except Exception as exc:
            logs.error("stream crashed", requestId=request_id, exception=type(exc).__name__)
            error = internal(request_id)
            tracker.failed(error)
            yield error
        finally:
            events.close()  # the client went away: stop the provider first, then record the cut-off
            tracker.cut_off()


GONE_CHECK_SECONDS = 0.5
"""How often a stream looks at its client's connection (a client that left is noticed within about this long)."""


def pump(stream: Stream, heartbeat_seconds: float, deadline: float | None = None, gone: Callable[[], bool] | None = None) -> Iterator[Any]:
    """The stream's events as they arrive, ``HEARTBEAT`` after each silent period, until ``deadline`` (perf_counter).

    A thread reads the upstream so silence can be noticed; closing this
    generator (the client went away) closes the upstream connection at once.
    ``gone`` tells whether the client's connection is closed: checked every
    :data:`GONE_CHECK_SECONDS` whether or not anything is being sent, so a
    client that leaves is noticed within a second, not at the next write
    (which may be a heartbeat 15 s away); the stream then ends as a cut-off.
    An upstream failure is raised here as a :class:`GatewayError`.
    """
    events: queue.Queue[Any] = queue.Queue()
    cancelled = threading.Event()

    def read() -> None:
        try:
            for event in stream.rest:
                events.put(event)
                if cancelled.is_set():
                    break
            events.put(_END)
        except UpstreamError as err:
            events.put(err if not cancelled.is_set() else _END)
        except Exception as exc:  # a reader dying must not leave the client hanging
            events.put(exc)
        finally:
            if cancelled.is_set() and hasattr(stream.rest, "close"):
                stream.rest.close()

    if stream.first is not None:
        yield stream.first
    if isinstance(stream.first, Final):
        return
    reader = threading.Thread(target=contextvars.copy_context().run, args=(read,), name="stream-reader", daemon=True)
    reader.start()
    quiet_since = checked = time.perf_counter()
    try:
        while True:
            now = time.perf_counter()
            if gone is not None and now - checked >= GONE_CHECK_SECONDS:
                checked = now
                if gone():
                    return  # the client left: the upstream is closed below, and the relay books the cut-off
            if deadline is not None and now >= deadline:
                raise GatewayError(ErrorCode.PROVIDER_TIMEOUT, "The stream reached this route's time limit before the provider finished")
            wait = quiet_since + heartbeat_seconds - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            if gone is not None:
                wait = min(wait, checked + GONE_CHECK_SECONDS - now)
            try:
                item = events.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if time.perf_counter() - quiet_since >= heartbeat_seconds:
                    quiet_since = time.perf_counter()
                    yield HEARTBEAT
                continue
            quiet_since = time.perf_counter()
            if item is _END:
                return
            if isinstance(item, UpstreamError):
                raise retry.to_gateway_error(item, stream.model.provider)
            if isinstance(item, Exception):
                raise item
            yield item
            if isinstance(item, Final):
                return
    finally:
        if reader.is_alive():
            cancelled.set()
            stream.adapter.cancel()
