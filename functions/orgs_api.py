"""``orgs``: organisations and their members (docs/orgs.md).

Routes: ``GET /``, ``POST /`` (project admins), ``PUT /default``,
``GET /{id}``, ``PATCH /{id}``, ``DELETE /{id}`` (project admins),
``GET /{id}/members``, ``GET /{id}/audit``, ``POST /{id}/members``, ``PATCH /{id}/members/{uid}``,
``DELETE /{id}/members/{uid}``. Who may do what is decided in
``gateway.org_admin`` from the caller's org role.
"""

from __future__ import annotations

import re
from typing import Any

from firebase_functions import https_fn

from gateway import http, openapi, org_admin
from gateway import orgs as tenancy
from gateway.errors import ErrorCode, GatewayError, invalid

UID = r"^[A-Za-z0-9_-]{1,128}$"




def _path(ctx: http.Context) -> list[str]:
    """The sub-path, ids checked first: they name Firestore documents."""
    if ctx.path and ctx.path[0] != "default" and not tenancy.valid_id(ctx.path[0]):
        raise invalid("id", f"not an organisation id ({tenancy.ORG_ID})")
    if len(ctx.path) > 2 and not re.fullmatch(UID, ctx.path[2]):
        raise invalid("uid", "not a user id")
    return ctx.path


def _page(ctx: http.Context) -> tenancy.PageParams:
    return http.validate(tenancy.PageParams, http.query(ctx.request))


def _get(ctx: http.Context) -> dict[str, Any]:
    assert ctx.caller is not None
    match _path(ctx):
        case []:
            page = _page(ctx)
            return org_admin.list_orgs(ctx.caller, page.limit, page.pageToken)
        case [org_id] if org_id != "default":
            return org_admin.get_org(org_id, ctx.caller)
        case [org_id, "members"] if org_id != "default":
            page = _page(ctx)
            return org_admin.list_members(org_id, ctx.caller, page.limit, page.pageToken)
        case [org_id, "audit"] if org_id != "default":
            page = _page(ctx)
            return org_admin.read_audit(org_id, ctx.caller, page.limit, page.pageToken)
    raise http.no_route(ctx)


def _post(ctx: http.Context) -> tuple[dict[str, Any], int]:
    assert ctx.caller is not None
    match _path(ctx):
        case []:
            if ctx.caller.role != "admin":
                raise GatewayError(ErrorCode.PERMISSION_DENIED, "Only project admins create organisations", {"role": ctx.caller.role})
            return org_admin.create_org(ctx.parse(tenancy.OrgCreate), http.actor(ctx)), 201
        case [org_id, "members"] if org_id != "default":
            return org_admin.add_member(org_id, ctx.parse(tenancy.MemberAdd), ctx.caller, http.actor(ctx)), 201
    raise http.no_route(ctx)


def _put(ctx: http.Context) -> dict[str, Any]:
    assert ctx.caller is not None
    if _path(ctx) != ["default"]:
        raise http.no_route(ctx)
    return org_admin.set_default(ctx.parse(tenancy.DefaultOrg).orgId, ctx.caller, http.actor(ctx))


def _patch(ctx: http.Context) -> dict[str, Any]:
    assert ctx.caller is not None
    match _path(ctx):
        case [org_id] if org_id != "default":
            return org_admin.update_org(org_id, ctx.parse(tenancy.OrgPatch), ctx.caller, http.actor(ctx))
        case [org_id, "members", uid] if org_id != "default":
            return org_admin.update_member(org_id, uid, ctx.parse(tenancy.MemberPatch), ctx.caller, http.actor(ctx))
    raise http.no_route(ctx)


def _delete(ctx: http.Context) -> https_fn.Response | dict[str, Any]:
    assert ctx.caller is not None
    if len(ctx.path) == 1 and ctx.caller.role != "admin":  # refused whatever the id: it is no business of theirs
        raise GatewayError(ErrorCode.PERMISSION_DENIED, "Only project admins delete organisations", {"role": ctx.caller.role})
    match _path(ctx):
        case [org_id] if org_id != "default":
            return org_admin.delete_org(org_id, http.actor(ctx))
        case [org_id, "members", uid] if org_id != "default":
            org_admin.remove_member(org_id, uid, ctx.caller, http.actor(ctx))
            return https_fn.Response(status=204)
    raise http.no_route(ctx)


ROUTES = {
    method: http.Handler(handler, roles=http.ALL_ROLES)
    for method, handler in (("GET", _get), ("POST", _post), ("PUT", _put), ("PATCH", _patch), ("DELETE", _delete))
}
ID = {"id": {"type": "string", "pattern": tenancy.ORG_ID, "minLength": tenancy.ORG_ID_LENGTH[0], "maxLength": tenancy.ORG_ID_LENGTH[1],
              "description": "An organisation id."}}
MEMBER = {**ID, "uid": {"type": "string", "pattern": UID, "description": "A member's Firebase Auth uid."}}
API = (
    openapi.Op("GET", "/orgs", "List organisations", {200: "OrgList"}, query=tenancy.PageParams,
               description="The caller's organisations with their org role; project admins: every organisation, paged by id."),
    openapi.Op("POST", "/orgs", "Create an organisation", {201: "Org"}, body=tenancy.OrgCreate, errors=(404, 409), roles=("admin",),
               examples=({"id": "acme", "name": "Acme", "ownerEmail": "owner@acme.test"},),
               description="Project admins only; ownerEmail (a Firebase Auth user, 404 naming email when unknown) becomes its first owner."),
    openapi.Op("PUT", "/orgs/default", "Set the caller's default organisation", {200: "DefaultOrgSet"}, body=tenancy.DefaultOrg,
               examples=({"orgId": "acme"},), description="Used when a request sends no X-Org-Id; the caller must be a member (403 naming orgId)."),
    openapi.Op("GET", "/orgs/{id}", "Read an organisation and its members", {200: "OrgDetail"}, params=ID,
               description="Members and project admins; anyone else gets 403 whether or not it exists."),
    openapi.Op("PATCH", "/orgs/{id}", "Change an organisation's name or settings", {200: "Org"}, params=ID, body=tenancy.OrgPatch,
               examples=({"name": "Acme Inc."},),
               description="Org owners and admins change name and settings.defaultQuotas; settings.dailyCostUsd, monthlyCostUsd and "
                           "sharedModels are for project admins (an org manager changing one: 403 naming it; left out: kept)."),
    openapi.Op("DELETE", "/orgs/{id}", "Delete an organisation and what belongs to it", {200: "OrgDeleted"}, params=ID, roles=("admin",),
               description="Project admins; its catalogue (and keys), conversations, images and members are deleted in audited "
                           "batches first, so a retried delete finishes an interrupted one. Ledger and usage records are kept."),
    openapi.Op("GET", "/orgs/{id}/audit", "Read an organisation's audit trail", {200: "AuditPage"}, params=ID, query=tenancy.PageParams,
               description="Org owners and admins, and project admins: the records of writes to the organisation, its members and its "
                           "catalogue, and of its delete's cascade, newest first; members and anyone else 403."),
    openapi.Op("GET", "/orgs/{id}/members", "List members", {200: "MemberList"}, params=ID, query=tenancy.PageParams),
    openapi.Op("POST", "/orgs/{id}/members", "Add a member by email", {201: "Member"}, params=ID, body=tenancy.MemberAdd, errors=(409,),
               examples=({"email": "someone@acme.test", "role": "member"},),
               description="Org owners and admins; only an owner may grant owner; 404 naming email for an unknown user."),
    openapi.Op("PATCH", "/orgs/{id}/members/{uid}", "Change a member's role or quota", {200: "Member"}, params=MEMBER, body=tenancy.MemberPatch,
               errors=(409,), examples=({"role": "admin"}, {"quota": {"dailyTokens": 50000, "dailyCostUsd": 0.5}}),
               description="Org owners and admins; quota overrides the role's default quota (null clears it); "
                           "409 CONFLICT when it would leave the organisation without an owner."),
    openapi.Op("DELETE", "/orgs/{id}/members/{uid}", "Remove a member", {204: None}, params=MEMBER, errors=(409,),
               description="Org owners and admins, or the member themself; the last owner cannot be removed (409)."),
)


@https_fn.on_request()
def orgs(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "orgs", ROUTES)
