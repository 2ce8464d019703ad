"""``generate_text``: a signed-in user asks a configured model for text (JSON or SSE stream).

``POST`` runs a generation (roles ``user`` and ``admin``); ``GET`` describes
the request schema.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Literal

from firebase_functions import https_fn
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from gateway import conversations, deploy, generation, http, sse
from gateway.errors import GatewayError, invalid
from gateway.providers.base import Delta, Final, Message
from gateway.schemas import SLUG

MAX_TEXT = 200_000


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_TEXT)


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
    conversationId: str | None = Field(
        None, pattern=conversations.ID, description="Continue this conversation of the caller's: its stored history is sent first."
    )
    saveHistory: StrictBool | None = Field(
        None,
        description="Store this exchange: true starts a conversation when there is no conversationId; "
        "false never stores; absent, stored when continuing a conversation.",
    )


def params_from(body: GenerateTextRequest) -> generation.TextParams:
    if (body.prompt is None) == (body.messages is None):
        raise invalid("prompt", "give exactly one of prompt or messages")
    messages = [Message("user", body.prompt)] if body.prompt is not None else [Message(m.role, m.content) for m in body.messages or []]
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    if stop is not None and (len(stop) > 4 or any(not s or len(s) > 200 for s in stop)):
        raise invalid("stop", "up to 4 sequences of 1-200 characters")
    return generation.TextParams(
        messages=messages,
        system_prompt=body.systemPrompt,
        temperature=body.temperature,
        max_tokens=body.maxTokens,
        top_p=body.topP,
        stop=stop,
    )


def _result(result: generation.Result, turn: conversations.Turn) -> dict[str, Any]:
    return {
        "text": result.text,
        "modelId": result.model.id,
        "provider": result.model.provider,
        "finishReason": result.finish_reason,
        "usage": result.usage.to_dict(),
        "cost": result.cost,
        "latencyMs": result.latency_ms,
        **turn.answer,
    }


def _events(ctx: http.Context, stream: generation.Stream, tracker: Any, turn: conversations.Turn) -> Iterator[str]:
    deadline = generation.stream_deadline(ctx.started, deploy.STREAM_TIMEOUT_SECONDS)
    for item in generation.relay(stream, tracker, ctx.request_id, deadline):
        if item is generation.HEARTBEAT:
            yield sse.KEEP_ALIVE
        elif isinstance(item, Delta):
            turn.add(item.text)
            yield sse.data({"content": item.text})
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
    yield sse.DONE


def _generate(ctx: http.Context) -> https_fn.Response | dict[str, Any]:
    body = ctx.parse(GenerateTextRequest)
    params = params_from(body)
    model = generation.text_model(body.modelId)
    generation.check_limits(model, params)
    turn = conversations.begin(ctx, model.id, body.conversationId, body.saveHistory, params)
    params = turn.with_history(params)
    ctx.admit(model.id)
    tracker = turn.track(ctx.tracker(model))  # the exchange is stored when the ledger is committed
    if not body.stream:
        result = generation.complete(model, params)
        turn.add(result.text)
        tracker.ok(result.model, result.usage, result.cost)
        return _result(result, turn)
    stream = generation.open_stream(model, params)
    return https_fn.Response(_events(ctx, stream, tracker, turn), mimetype="text/event-stream", headers={**sse.HEADERS, **turn.headers})


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
    "POST": http.Handler(_generate, roles={"user", "admin"}),
    "GET": http.Handler(_describe, roles=http.ALL_ROLES),
}


@https_fn.on_request(timeout_sec=deploy.STREAM_TIMEOUT_SECONDS)
def generate_text(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "generate_text", ROUTES)
