"""``GET /v1/models`` and ``GET /v1/models/{id}``: what the caller can call, as OpenAI lists models."""

from __future__ import annotations

from typing import Any

from gateway import embedding, generation, http, images, openapi, providers_store
from gateway.errors import ErrorCode, GatewayError
from gateway.registry import registry
from gateway.schemas import Model

TYPES = (*generation.TEXT_TYPES, *embedding.EMBEDDING_TYPES, *images.IMAGE_TYPES)
"""The model types this API serves (chat completions and responses, embeddings, images): OpenAI lists them all."""


def _entry(model: Model) -> dict[str, Any]:
    created = int(model.createdAt.timestamp()) if model.createdAt else 0
    return {"id": model.id, "object": "model", "created": created, "owned_by": model.provider}


def _callable(model: Model) -> bool:
    """An enabled model of a type this API serves, of an enabled provider: calling it is not a 404 or a 503."""
    return model.type in TYPES and providers_store.offered(model)


def listed(ctx: http.Context) -> dict[str, Any]:
    """What the caller can call: in an organisation, its own models and those it is shared (``Registry.visible``)."""
    assert ctx.caller is not None
    models = [m for m in registry().visible(ctx.caller.org).values() if _callable(m)]
    return {"object": "list", "data": [_entry(m) for m in sorted(models, key=lambda m: m.id)]}


def one(ctx: http.Context, model_id: str) -> dict[str, Any]:
    """A model the caller can call; any other is a 404, as the native ``models`` function answers a user."""
    assert ctx.caller is not None
    model = registry().find(ctx.caller.org, model_id)
    if model is None or not _callable(model):
        raise GatewayError(ErrorCode.NOT_FOUND, f"The model '{model_id}' does not exist or you do not have access to it", {"field": "model", "id": model_id})
    return _entry(model)


def start() -> None:
    """The listeners a listing reads: models, and providers (a disabled provider's models are not listed)."""
    registry().start()
    providers_store.start()


API = (
    openapi.Op("GET", "/openai/v1/models", "List the models the caller can call (OpenAI's API)", {200: "OpenAIModelList"}),
    openapi.Op("GET", "/openai/v1/models/{id}", "Read a model the caller can call (OpenAI's API)", {200: "OpenAIModel"},
               params={"id": {"type": "string", "minLength": 1, "maxLength": 64, "description": "A gateway model id."}}),
)
