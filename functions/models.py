"""``models``: list and read models (any role); create, replace, patch, delete (admins; org managers on their organisation's).

With no organisation, the project-wide catalogue (project admins write it).
In organisation X (``X-Org-Id`` or the caller's default), the models X may
see: its own and the project-wide ones it is shared (``Registry.visible``);
writes act on X's own catalogue, by project admins and X's owners and admins.
Whoever manages a model sees it whole; anyone else its public view
(:meth:`gateway.schemas.Model.public`): no system prompt, endpoint or admins' uids.

Routes: ``GET /``, ``GET /{id}``, ``POST /``, ``PUT /{id}``, ``PATCH /{id}``, ``DELETE /{id}``,
``POST /batch`` (many operations, all or nothing: ``gateway.model_batch``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from firebase_functions import https_fn
from pydantic import BaseModel, ConfigDict, Field

from gateway import http, model_batch, openapi, orgs, providers_store
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.registry import Query, registry
from gateway.schemas import SLUG, Model, ModelSpec, ModelType


class ListParams(BaseModel):
    """Query string of ``GET /models``."""

    model_config = ConfigDict(extra="forbid")

    type: ModelType | None = None
    provider: str | None = Field(None, max_length=64)
    enabled: bool | None = None
    capability: str | None = Field(None, max_length=64)
    sort: Literal["name", "-name", "createdAt", "-createdAt"] = "name"
    limit: int = Field(50, ge=1, le=100)
    pageToken: str | None = Field(None, max_length=512)


def _model_id(ctx: http.Context, required: bool) -> str | None:
    if len(ctx.path) > 1:
        raise GatewayError(ErrorCode.NOT_FOUND, f"No route {ctx.request.path}")
    if not ctx.path:
        if required:
            raise GatewayError(
                ErrorCode.METHOD_NOT_ALLOWED,
                f"{ctx.request.method} needs a model id: /models/{{id}}",
                headers={"Allow": "GET, POST, OPTIONS"},
            )
        return None
    if not re.fullmatch(SLUG, ctx.path[0]):  # it names a Firestore document: "__x__" or ".." would be refused there
        raise invalid("id", f"not a model id ({SLUG})")
    return ctx.path[0]


def _manages(ctx: http.Context, model: Model) -> bool:
    """Whether the caller manages ``model``: a project admin, or a manager of the organisation owning it (and the request's)."""
    caller = ctx.caller
    if caller is None:
        return False
    return caller.role == "admin" or (model.org is not None and model.org == caller.org and caller.org_role in orgs.MANAGERS)


def _start_config() -> None:
    """Start the listeners a listing reads: models and (for what each model offers) providers."""
    registry().start()
    providers_store.start()


def _get(ctx: http.Context) -> dict[str, Any]:
    assert ctx.caller is not None
    model_id = _model_id(ctx, required=False)
    if model_id is not None:
        model = registry().find(ctx.caller.org, model_id)
        if model is None or not (_manages(ctx, model) or providers_store.offered(model)):
            raise GatewayError(ErrorCode.NOT_FOUND, f"Model '{model_id}' not found", {"id": model_id})
        return model.public(admin=_manages(ctx, model))
    params = http.validate(ListParams, http.query(ctx.request))
    query = Query(
        type=params.type,
        provider=params.provider,
        enabled=params.enabled,
        capability=params.capability,
        sort=params.sort,
        limit=params.limit,
        page_token=params.pageToken,
    )
    page, token = registry().list(
        query, include_disabled=True, keep=lambda m: _manages(ctx, m) or providers_store.offered(m),
        models=registry().visible(ctx.caller.org).values(),
    )
    return {"models": [m.public(admin=_manages(ctx, m)) for m in page], "nextPageToken": token}



def _org(ctx: http.Context) -> str | None:
    """The catalogue a write acts on: the request's organisation's, else the project-wide one."""
    assert ctx.caller is not None
    return ctx.caller.org


def _body_for(ctx: http.Context, model_id: str) -> dict[str, Any]:
    body = ctx.json()
    if body.get("id", model_id) != model_id:
        raise invalid("id", f"must match the id in the path ('{model_id}')")
    return {**body, "id": model_id}


def _create(ctx: http.Context) -> tuple[dict[str, Any], int] | dict[str, Any]:
    if ctx.path == ["batch"]:
        request = ctx.parse(model_batch.BatchRequest)
        return model_batch.run(request.operations, http.actor(ctx), _org(ctx))
    if ctx.path:
        raise GatewayError(
            ErrorCode.METHOD_NOT_ALLOWED, "POST creates at /models; use PUT or PATCH /models/{id}",
            headers={"Allow": "GET, PUT, PATCH, DELETE, OPTIONS"},
        )
    spec = ctx.parse(ModelSpec)
    return registry().create(spec, http.actor(ctx), _org(ctx)).public(admin=True), 201


def _replace(ctx: http.Context) -> dict[str, Any]:
    model_id = _model_id(ctx, required=True)
    assert model_id is not None
    spec = ctx.parse(ModelSpec, _body_for(ctx, model_id))
    return registry().replace(spec, http.actor(ctx), _org(ctx)).public(admin=True)


def _patch(ctx: http.Context) -> dict[str, Any]:
    model_id = _model_id(ctx, required=True)
    assert model_id is not None
    body = _body_for(ctx, model_id)
    body.pop("id")
    return registry().patch(model_id, body, http.actor(ctx), _org(ctx)).public(admin=True)


def _delete(ctx: http.Context) -> https_fn.Response:
    model_id = _model_id(ctx, required=True)
    assert model_id is not None
    registry().delete(model_id, http.actor(ctx), _org(ctx))
    return https_fn.Response(status=204)


ROUTES = {
    "GET": http.Handler(_get, roles=http.ALL_ROLES, reads=(_start_config,)),
    "POST": http.Handler(_create, roles=http.ADMIN, org_roles=http.ORG_MANAGERS),
    "PUT": http.Handler(_replace, roles=http.ADMIN, org_roles=http.ORG_MANAGERS),
    "PATCH": http.Handler(_patch, roles=http.ADMIN, org_roles=http.ORG_MANAGERS),
    "DELETE": http.Handler(_delete, roles=http.ADMIN, org_roles=http.ORG_MANAGERS),
}

ID = {"id": {"type": "string", "pattern": SLUG, "description": "A model id."}}
EXAMPLE = {
    "name": "gpt-4o-mini", "displayName": "GPT-4o mini", "provider": "openai", "type": "text",
    "config": {"temperature": 0.7, "maxTokens": 1024, "maxTokensLimit": 16384}, "pricing": {"inputPer1M": 0.15, "outputPer1M": 0.6},
    "capabilities": ["chat", "streaming"],
}
API = (
    openapi.Op("GET", "/models", "List models", {200: "ModelList"}, query=ListParams,
               description="Users and viewers see only enabled models of enabled providers, each without endpointURL, config.systemPrompt, "
                           "createdBy and updatedBy; admins see all of every model. In an organisation (X-Org-Id): its own models and "
                           "the project-wide ones it is shared (org null); its owners and admins see its own whole."),
    openapi.Op("POST", "/models", "Create a model", {201: "Model"}, body=ModelSpec, errors=(409,), examples=({"id": "openai-gpt-4o-mini", **EXAMPLE},),
               description="provider must name an existing provider, fallbacks other existing models (of the same catalogue: in an "
                           "organisation, its own), and name/displayName may not be blank (400 naming the field otherwise); "
                           "409 ALREADY_EXISTS for a taken id."),
    openapi.Op("POST", "/models/batch", "Create, update, enable, disable and delete many models at once", {200: "ModelBatchResult"},
               body=model_batch.BatchRequest, errors=(404, 409),
               examples=({"operations": [{"op": "create", "model": {"id": "openai-gpt-4o-mini", **EXAMPLE}}, {"op": "disable", "id": "old-model"},
                                         {"op": "update", "id": "other", "patch": {"pricing": {"inputPer1M": 1, "outputPer1M": 2}}}]},),
               description=f"All or nothing: one Firestore transaction with one audit record per operation; each operation is checked "
                           f"against the state the ones before it left, and the first failure (400, 404 or 409 naming operations.<i>.<field>) "
                           f"writes nothing. At most {model_batch.MAX_OPERATIONS} operations. In an organisation: its own models."),
    openapi.Op("GET", "/models/{id}", "Read a model", {200: "Model"}, params=ID,
               description="Users and viewers: an offered model without endpointURL, config.systemPrompt, createdBy and updatedBy; admins: all of any model."),
    openapi.Op("PUT", "/models/{id}", "Replace a model", {200: "Model"}, params=ID, body=openapi.Body(ModelSpec, "replace"), examples=(EXAMPLE,)),
    openapi.Op("PATCH", "/models/{id}", "Change some fields of a model", {200: "Model"}, params=ID, body=openapi.Body(ModelSpec, "merge-patch"),
               examples=({"enabled": False}, {"displayName": None, "config": {"temperature": 0.2}})),
    openapi.Op("DELETE", "/models/{id}", "Delete a model", {204: None}, params=ID, errors=(409,),
               description="Also drops it from the fallbacks of the other models of its catalogue (each change audited, one transaction); "
                           "409 CONFLICT (details.sharedWith) while organisations are shared it."),
)


@https_fn.on_request()
def models(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "models", ROUTES)
