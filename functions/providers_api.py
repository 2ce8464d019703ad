"""``providers``: provider administration (admin only).

Routes: ``GET /``, ``GET /{id}``, ``POST /``, ``PUT /{id}``, ``PATCH /{id}``,
``DELETE /{id}[?cascade=true]``, ``POST /{id}/test``, ``GET /{id}/models``
(discovery, ``?refresh=true`` to skip the cache) and ``POST /{id}/models/import``
(``{"models": [{"name", "id"?, "type"?, "enabled"?, ...}]}``).
"""

from __future__ import annotations

from typing import Any

from firebase_functions import https_fn
from pydantic import BaseModel, ConfigDict, Field

from gateway import deploy, http, provider_admin
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.schemas import ProviderWrite


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[dict[str, Any]] = Field(min_length=1, max_length=provider_admin.MAX_IMPORT)


def _actor(ctx: http.Context) -> str:
    assert ctx.caller is not None
    return ctx.caller.uid


def _no_route(ctx: http.Context) -> GatewayError:
    return GatewayError(ErrorCode.NOT_FOUND, f"No route {ctx.request.method} {ctx.request.path}")


def _body_for(ctx: http.Context, provider_id: str) -> dict[str, Any]:
    body = ctx.json()
    if body.get("id", provider_id) != provider_id:
        raise invalid("id", f"must match the id in the path ('{provider_id}')")
    return {**body, "id": provider_id}


def _get(ctx: http.Context) -> dict[str, Any]:
    match ctx.path:
        case []:
            return {"providers": [p.public() for p in provider_admin.all_providers()]}
        case [provider_id]:
            return provider_admin.get(provider_id).public()
        case [provider_id, "models"]:
            refresh = ctx.request.args.get("refresh") == "true"
            return {"provider": provider_id, "models": provider_admin.discover(provider_id, refresh=refresh)}
    raise _no_route(ctx)


def _post(ctx: http.Context) -> tuple[dict[str, Any], int] | dict[str, Any]:
    match ctx.path:
        case []:
            body = ctx.parse(ProviderWrite)
            return provider_admin.save(body, _actor(ctx), create=True).public(), 201
        case [provider_id, "test"]:
            return provider_admin.test(provider_id)
        case [provider_id, "models", "import"]:
            request = ctx.parse(ImportRequest)
            return provider_admin.import_models(provider_id, request.models, _actor(ctx))
    raise _no_route(ctx)


def _put(ctx: http.Context) -> dict[str, Any]:
    if len(ctx.path) != 1:
        raise _no_route(ctx)
    body = ctx.parse(ProviderWrite, _body_for(ctx, ctx.path[0]))
    return provider_admin.save(body, _actor(ctx), create=False).public()


def _patch(ctx: http.Context) -> dict[str, Any]:
    if len(ctx.path) != 1:
        raise _no_route(ctx)
    provider_id = ctx.path[0]
    patch = _body_for(ctx, provider_id)
    api_key = patch.pop("apiKey", None)
    body = http.validate(ProviderWrite, {**provider_admin.merged(provider_id, patch), **({"apiKey": api_key} if api_key is not None else {})})
    return provider_admin.save(body, _actor(ctx), create=False).public()


def _delete(ctx: http.Context) -> dict[str, Any]:
    if len(ctx.path) != 1:
        raise _no_route(ctx)
    disabled = provider_admin.delete(ctx.path[0], _actor(ctx), cascade=ctx.request.args.get("cascade") == "true")
    return {"deleted": ctx.path[0], "disabledModels": disabled}


ROUTES = {
    method: http.Handler(handler, roles=http.ADMIN)
    for method, handler in (("GET", _get), ("POST", _post), ("PUT", _put), ("PATCH", _patch), ("DELETE", _delete))
}


@https_fn.on_request(timeout_sec=deploy.PROVIDERS_TIMEOUT_SECONDS, service_account=deploy.PROVIDERS_SERVICE_ACCOUNT)
def providers(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "providers", ROUTES)
