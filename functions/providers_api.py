"""``providers``: provider administration (project admins; org owners and admins on their organisation's providers).

With no organisation the project-wide ``providers/{id}``; in organisation X
(``X-Org-Id`` or the caller's default) X's own ``orgs/X/providers/{id}``,
whose keys go to ``AI_GATEWAY_ORG_<X>__<ID>``; nothing here reaches another
organisation's (another's id is a 404, as a missing one).

Routes: ``GET /``, ``GET /{id}``, ``POST /``, ``PUT /{id}``, ``PATCH /{id}``,
``DELETE /{id}[?cascade=true]``, ``POST /{id}/test``, ``GET /{id}/models``
(discovery, ``?refresh=true`` to skip the cache) and ``POST /{id}/models/import``
(``{"models": [{"name", "id"?, "type"?, "enabled"?, ...}]}``).
"""

from __future__ import annotations

import re
from typing import Any

from firebase_functions import https_fn
from pydantic import BaseModel, ConfigDict, Field

from gateway import deploy, http, openapi, provider_admin, secrets
from gateway.errors import invalid
from gateway.schemas import SLUG, ModelType, Pricing, ProviderWrite


class ImportItem(BaseModel):
    """One model to import: a name from the provider's discovery list, and what to set on its registry model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="A name from GET /providers/{id}/models.")
    id: str | None = Field(None, pattern=SLUG, description="The registry id; default: <provider>-<name> as a slug.")
    displayName: str | None = Field(None, max_length=200)
    type: ModelType = "text"
    enabled: bool = Field(False, description="Imported models start disabled unless true.")
    pricing: Pricing | None = Field(None, description="Default: the provider's prices, when its list has them.")
    capabilities: list[str] = Field(default_factory=list, max_length=32)


class ImportRequest(BaseModel):
    """Body of ``POST /providers/{id}/models/import``."""

    model_config = ConfigDict(extra="forbid")

    models: list[ImportItem] = Field(min_length=1, max_length=provider_admin.MAX_IMPORT)


class DiscoverParams(BaseModel):
    """Query string of ``GET /providers/{id}/models``."""

    model_config = ConfigDict(extra="forbid")

    refresh: bool = Field(False, description="Ask the provider again instead of using the 5-minute cache.")


class DeleteParams(BaseModel):
    """Query string of ``DELETE /providers/{id}``."""

    model_config = ConfigDict(extra="forbid")

    cascade: bool = Field(False, description="Disable the enabled models that use the provider first (audited) instead of a 409.")




def _checked(ctx: http.Context) -> list[str]:
    """The sub-path, its provider id checked first: it names a Firestore document ("__x__" or ".." would be refused there)."""
    if ctx.path and not re.fullmatch(SLUG, ctx.path[0]):
        raise invalid("id", f"not a provider id ({SLUG})")
    return ctx.path


def _body(ctx: http.Context) -> dict[str, Any]:
    """The JSON body; a ``secretName`` is refused: the gateway names every provider's secret itself."""
    body = ctx.json()
    if "secretName" in body:
        raise invalid(
            "secretName",
            f"not accepted: the gateway names the key's secret itself ({secrets.PREFIX}<ID>, {secrets.ORG_PREFIX}<ORG>__<ID>); "
            "send the key as apiKey",
        )
    return body


def _body_for(ctx: http.Context, provider_id: str) -> dict[str, Any]:
    body = _body(ctx)
    if body.get("id", provider_id) != provider_id:
        raise invalid("id", f"must match the id in the path ('{provider_id}')")
    return {**body, "id": provider_id}


def _org(ctx: http.Context) -> str | None:
    """The catalogue the request acts on: its organisation's, else the project-wide one."""
    assert ctx.caller is not None
    return ctx.caller.org


def _get(ctx: http.Context) -> dict[str, Any]:
    org = _org(ctx)
    match _checked(ctx):
        case []:
            return {"providers": [p.public() for p in provider_admin.all_providers(org)]}
        case [provider_id]:
            return provider_admin.get(provider_id, org).public()
        case [provider_id, "models"]:
            params = http.validate(DiscoverParams, http.query(ctx.request))
            return {"provider": provider_id, "org": org, "models": provider_admin.discover(provider_id, refresh=params.refresh, org=org)}
    raise http.no_route(ctx)


def _post(ctx: http.Context) -> tuple[dict[str, Any], int] | dict[str, Any]:
    org = _org(ctx)
    match _checked(ctx):
        case []:
            body = http.validate(ProviderWrite, _body(ctx))
            return provider_admin.save(body, http.actor(ctx), create=True, org=org).public(), 201
        case [provider_id, "test"]:
            return {**provider_admin.test(provider_id, org), "org": org}
        case [provider_id, "models", "import"]:
            request = ctx.parse(ImportRequest)
            wanted = [item.model_dump(exclude_unset=True) for item in request.models]
            return {**provider_admin.import_models(provider_id, wanted, http.actor(ctx), org), "org": org}
    raise http.no_route(ctx)


def _put(ctx: http.Context) -> dict[str, Any]:
    if len(_checked(ctx)) != 1:
        raise http.no_route(ctx)
    body = ctx.parse(ProviderWrite, _body_for(ctx, ctx.path[0]))
    return provider_admin.save(body, http.actor(ctx), create=False, org=_org(ctx)).public()


def _patch(ctx: http.Context) -> dict[str, Any]:
    if len(_checked(ctx)) != 1:
        raise http.no_route(ctx)
    provider_id = ctx.path[0]
    patch = _body_for(ctx, provider_id)
    key = {"apiKey": patch.pop("apiKey")} if "apiKey" in patch else {}  # null: drop the stored key
    body = http.validate(ProviderWrite, {**provider_admin.merged(provider_id, patch, _org(ctx)), **key})
    return provider_admin.save(body, http.actor(ctx), create=False, org=_org(ctx)).public()


def _delete(ctx: http.Context) -> dict[str, Any]:
    if len(_checked(ctx)) != 1:
        raise http.no_route(ctx)
    params = http.validate(DeleteParams, http.query(ctx.request))
    disabled = provider_admin.delete(ctx.path[0], http.actor(ctx), cascade=params.cascade, org=_org(ctx))
    return {"deleted": ctx.path[0], "org": _org(ctx), "disabledModels": disabled}


ROUTES = {
    method: http.Handler(handler, roles=http.ADMIN, org_roles=http.ORG_MANAGERS)
    for method, handler in (("GET", _get), ("POST", _post), ("PUT", _put), ("PATCH", _patch), ("DELETE", _delete))
}
ID = {"id": {"type": "string", "pattern": SLUG, "description": "A provider id."}}
UPSTREAM = (429, 502, 503, 504)
"""What a call to the provider may answer (rate limited, provider error or auth, Secret Manager unavailable, timeout)."""
API = (
    openapi.Op("GET", "/providers", "List providers", {200: "ProviderList"}),
    openapi.Op("POST", "/providers", "Create a provider", {201: "Provider"}, body=ProviderWrite, errors=(409, 503),
               examples=({"id": "openai", "type": "openai", "baseUrl": "https://api.openai.com/v1", "apiKey": "sk-your-key"},),
               description="An apiKey is stored in Secret Manager as AI_GATEWAY_PROVIDER_<ID> (503 when it cannot be), never returned; "
               "a secretName is refused (400)."),
    openapi.Op("GET", "/providers/{id}", "Read a provider", {200: "Provider"}, params=ID, errors=(409,),
               description="409 CONFLICT when its document is too broken to read (replace it with PUT)."),
    openapi.Op("PUT", "/providers/{id}", "Replace a provider", {200: "Provider"}, params=ID, body=openapi.Body(ProviderWrite, "replace"), errors=(503,),
               examples=({"type": "ollama", "baseUrl": "http://localhost:11434", "enabled": True},)),
    openapi.Op("PATCH", "/providers/{id}", "Change some fields of a provider", {200: "Provider"}, params=ID,
               body=openapi.Body(ProviderWrite, "merge-patch"), errors=(409, 503), examples=({"enabled": False},),
               description="A change to baseUrl, imageBaseUrl, healthCheckUrl or allowedHosts while a key is stored needs the key "
               "again (apiKey), or apiKey: null to drop it: 400 naming apiKey otherwise."),
    openapi.Op("DELETE", "/providers/{id}", "Delete a provider", {200: "ProviderDeleted"}, params=ID, query=DeleteParams, errors=(409,),
               description="409 CONFLICT while enabled models use it, unless cascade=true."),
    openapi.Op("POST", "/providers/{id}/test", "Test a provider live", {200: "ProviderTest"}, params=ID, errors=(409,),
               description="Reachable, key accepted, latency, models visible; saved as healthStatus/lastHealthCheck."),
    openapi.Op("GET", "/providers/{id}/models", "Discover a provider's models", {200: "Discovery"}, params=ID, query=DiscoverParams,
               errors=(409, *UPSTREAM)),
    openapi.Op("POST", "/providers/{id}/models/import", "Import discovered models into the registry", {200: "ImportResult"}, params=ID,
               body=ImportRequest, errors=(409, *UPSTREAM), examples=({"models": [{"name": "gpt-4o-mini", "enabled": True}]},),
               description="Creates or updates registry models in one audited batch; imported models start disabled unless enabled: true."),
)


@https_fn.on_request(timeout_sec=deploy.PROVIDERS_TIMEOUT_SECONDS, service_account=deploy.PROVIDERS_SERVICE_ACCOUNT)
def providers(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "providers", ROUTES)
