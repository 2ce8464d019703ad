"""``openai``: OpenAI's API over the same registry, auth, limits and ledger as the native functions.

Routes (with or without the ``/v1`` prefix): :data:`PATHS`; each family lives in its own
module of :mod:`gateway.openai`. The official ``openai`` SDKs work unchanged
with ``base_url=<function URL>/v1`` and the Firebase ID token as ``api_key``.
Errors take OpenAI's ``{"error": {"message", "type", "code", "param"}}`` shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firebase_functions import https_fn

from gateway import deploy, generation, http
from gateway.openai import chat, embeddings, images, models, responses
from gateway.openai.errors import ERROR_MODEL, openai_error

Route = Callable[..., Any]
PATHS: dict[str, dict[tuple[str, ...], Route]] = {
    "POST": {
        ("chat", "completions"): lambda ctx: chat.create(ctx, ctx.parse(chat.ChatCompletionRequest)),
        ("embeddings",): lambda ctx: embeddings.create(ctx, ctx.parse(embeddings.EmbeddingRequest)),
        ("images", "generations"): lambda ctx: images.create(ctx, ctx.parse(images.ImageGenerationRequest)),
        ("responses",): lambda ctx: responses.create(ctx, ctx.parse(responses.CreateResponse)),
    },
    "GET": {
        ("models",): models.listed,
        ("models", "*"): models.one,
        ("responses", "*"): responses.retrieve,
    },
    "DELETE": {
        ("responses", "*"): responses.delete,
    },
}
"""Each method's paths (after ``/v1``); ``*`` is one path segment, passed to the route."""


def _dispatch(ctx: http.Context) -> Any:
    path = ctx.path[1:] if ctx.path[:1] == ["v1"] else ctx.path
    for pattern, route in PATHS[ctx.request.method].items():
        if len(pattern) == len(path) and all(p in ("*", s) for p, s in zip(pattern, path, strict=True)):
            return route(ctx, *(s for p, s in zip(pattern, path, strict=True) if p == "*"))
    raise http.no_route(ctx)


ROUTES = {
    "POST": http.Handler(_dispatch, roles={"user", "admin"}, reads=(generation.start_config,)),
    "GET": http.Handler(_dispatch, roles=http.ALL_ROLES, reads=(models.start,)),
    "DELETE": http.Handler(_dispatch, roles=http.ALL_ROLES),
}
API = chat.API + responses.API + embeddings.API + images.API + models.API
ERROR_MODEL = ERROR_MODEL  # the error shape of every operation in API (gateway/openapi.py)


@https_fn.on_request(timeout_sec=deploy.STREAM_TIMEOUT_SECONDS, min_instances=deploy.MIN_INSTANCES)
def openai(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "openai", ROUTES, error_body=openai_error)
