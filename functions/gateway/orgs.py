"""Organisations: the data model, and which organisation a request is for.

``orgs/{orgId}`` holds ``{name, createdAt, createdBy, settings}``;
``orgs/{orgId}/members/{uid}`` holds ``{uid, role, email, addedAt, addedBy, quota?}``
with an org role (``owner``, ``admin``, ``member``, ``viewer``). The budgets of
the settings and the members' quotas are enforced by ``gateway.orgbudgets``.

A request names its organisation with ``X-Org-Id`` (on the ``openai`` edge
also ``OpenAI-Organization``, what the official SDKs send for
``organization=`` or ``OPENAI_ORG_ID``: honoured when the caller is a member
of it, ignored otherwise, since it often holds an OpenAI id), else the caller's ``users/{uid}.defaultOrg`` while they
are still a member, else none: a deployment without organisations behaves
exactly as before and reads nothing more. A named organisation is checked on
every request against its member document, cached per instance for
``REGISTRY_CACHE_SECONDS`` (the bound every config read has) and dropped
locally on every write this instance makes. Not a member and no such
organisation get the same 403, so an outsider cannot probe which ids exist.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway import firebase, settings
from gateway.errors import ErrorCode, GatewayError

if TYPE_CHECKING:
    from flask import Request

    from gateway.auth import Caller

ORG_ID = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
"""Lowercase letters and digits, single dashes between them, 3 to 40 long (:data:`ORG_ID_LENGTH`): never a
Firestore-reserved id (``__x__``, ``.``, ``..``), and never ``--``, so an org's key secret name
(``AI_GATEWAY_ORG_<ORG>__<PROVIDER>``, :func:`gateway.secrets.name_for`) says where the org ends."""
ORG_ID_LENGTH = (3, 40)
RESERVED_IDS = frozenset({"default"})
"""Ids that name a route of the ``orgs`` function (``PUT /orgs/default``)."""
OrgRole = Literal["owner", "admin", "member", "viewer"]
ORG_ROLES: tuple[str, ...] = ("owner", "admin", "member", "viewer")
MANAGERS = frozenset({"owner", "admin"})
HEADER = "X-Org-Id"
OPENAI_HEADER = "OpenAI-Organization"
COLLECTION = "orgs"
MEMBERS = "members"


def valid_id(org_id: str) -> bool:
    low, high = ORG_ID_LENGTH
    return low <= len(org_id) <= high and bool(re.fullmatch(ORG_ID, org_id)) and org_id not in RESERVED_IDS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleQuota(_Strict):
    """A default per-day quota for members of one org role."""

    dailyTokens: int | None = Field(None, ge=0, le=2**53)
    dailyCostUsd: float | None = Field(None, ge=0, le=1e9)


class OrgSettings(_Strict):
    """What an organisation may spend and use. The caps and ``sharedModels`` are set by project admins only (docs/orgs.md)."""

    dailyCostUsd: float | None = Field(None, ge=0, le=1e9, description="The organisation's daily cost cap in USD.")
    monthlyCostUsd: float | None = Field(None, ge=0, le=1e9, description="The organisation's monthly cost cap in USD.")
    defaultQuotas: dict[OrgRole, RoleQuota] = Field(default_factory=dict, description="Default quotas per org role.")
    sharedModels: list[str] = Field(
        default_factory=list, max_length=500, description="Project-wide model ids shared with this organisation."
    )


class OrgCreate(_Strict):
    """Body of ``POST /orgs`` (project admins)."""

    id: str = Field(
        pattern=ORG_ID, min_length=ORG_ID_LENGTH[0], max_length=ORG_ID_LENGTH[1],
        description="Lowercase letters and digits, single dashes between them, 3 to 40 long; not 'default'.",
    )
    name: str = Field(min_length=1, max_length=200)
    settings: OrgSettings = Field(default_factory=OrgSettings)
    ownerEmail: str | None = Field(None, min_length=3, max_length=320, description="A Firebase Auth user made the first owner.")


class OrgPatch(_Strict):
    """Body of ``PATCH /orgs/{id}`` (org owners and admins): the fields given replace the stored ones."""

    name: str | None = Field(None, min_length=1, max_length=200)
    settings: OrgSettings | None = None


class MemberAdd(_Strict):
    """Body of ``POST /orgs/{id}/members``: a Firebase Auth user, found by email."""

    email: str = Field(min_length=3, max_length=320)
    role: OrgRole = "member"


class MemberPatch(_Strict):
    """Body of ``PATCH /orgs/{id}/members/{uid}``: a role, a quota override (null clears it), or both."""

    role: OrgRole | None = None
    quota: RoleQuota | None = Field(None, description="This member's daily quota in the organisation, over the role's default; null clears it.")

    @model_validator(mode="after")
    def _something(self) -> MemberPatch:
        if not self.model_fields_set & {"role", "quota"}:
            raise ValueError("give role, quota or both")
        if "role" in self.model_fields_set and self.role is None:
            raise ValueError("role: may not be null")
        return self


class DefaultOrg(_Strict):
    """Body of ``PUT /orgs/default``: the organisation used when a request names none (null: none)."""

    orgId: str | None = Field(pattern=ORG_ID, min_length=ORG_ID_LENGTH[0], max_length=ORG_ID_LENGTH[1])


class PageParams(_Strict):
    """Query string of the lists."""

    limit: int = Field(100, ge=1, le=500)
    pageToken: str | None = Field(None, max_length=512)


class Org(BaseModel):
    """An organisation as the API answers it; ``role`` is the caller's org role (project admins: ``owner``)."""

    id: str
    name: str
    createdAt: datetime | None = None
    createdBy: str | None = None
    settings: OrgSettings
    role: OrgRole | None = None


class Member(BaseModel):
    uid: str
    role: OrgRole
    quota: RoleQuota | None = None
    """The member's own daily quota in the organisation (else ``settings.defaultQuotas[role]``)."""
    email: str | None = None
    addedAt: datetime | None = None
    addedBy: str | None = None


class OrgList(BaseModel):
    orgs: list[Org]
    nextPageToken: str | None = None


class MemberList(BaseModel):
    members: list[Member]
    nextPageToken: str | None = None


class OrgDetail(Org):
    members: list[Member]


class OrgDeleted(BaseModel):
    """What ``DELETE /orgs/{id}`` removed (by this call: a retry counts only what was left). Ledger and usage are kept."""

    deleted: str
    membersDeleted: int
    modelsDeleted: int = 0
    providersDeleted: int = 0
    conversationsDeleted: int = 0
    responsesDeleted: int = 0
    imagesDeleted: int = 0


class AuditRecord(BaseModel):
    """One audit record of an organisation (``audit/{id}``): a write under ``orgs/{id}`` or its delete's cascade."""

    id: str
    actor: str
    actorEmail: str | None = None
    action: str
    collection: str
    docId: str
    org: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    at: datetime | None = None
    via: str | None = None


class AuditPage(BaseModel):
    """``GET /orgs/{id}/audit``: the newest first."""

    records: list[AuditRecord]
    nextPageToken: str | None = None


class DefaultOrgSet(BaseModel):
    defaultOrg: str | None


# --- membership, as every request checks it ---

_lock = threading.Lock()
_cache: TTLCache[tuple[str, str], str | None] | None = None


def _members_cache() -> TTLCache[tuple[str, str], str | None]:
    global _cache
    if _cache is None:
        _cache = TTLCache(maxsize=20_000, ttl=settings.REGISTRY_CACHE_SECONDS.value)
    return _cache


def forget(org_id: str | None = None, uid: str | None = None) -> None:
    """Drop cached memberships (all, one org's, or one member's) after a write, and the budgets read with them."""
    from gateway import orgbudgets

    orgbudgets.forget(org_id, uid)
    cache = _members_cache()
    with _lock:
        if org_id is None:
            cache.clear()
            return
        for key in [k for k in cache if k[0] == org_id and (uid is None or k[1] in (uid, ""))]:
            cache.pop(key, None)


def org_ref(org_id: str) -> Any:
    return firebase.db().collection(COLLECTION).document(org_id)


def member_ref(org_id: str, uid: str) -> Any:
    return org_ref(org_id).collection(MEMBERS).document(uid)


def _cached(key: tuple[str, str], read: Any) -> str | None:
    cache = _members_cache()
    with _lock:
        if key in cache:
            return cache[key]
    value = read()
    with _lock:
        cache[key] = value
    return value


def role_in(org_id: str, caller: Caller) -> str | None:
    """The caller's org role in ``org_id`` (cached), ``owner`` for project admins in an existing org; None otherwise."""
    if not valid_id(org_id):
        return None
    if caller.role == "admin":
        exists = _cached((org_id, ""), lambda: "owner" if org_ref(org_id).get().exists else None)
        return exists
    def read() -> str | None:
        role = (member_ref(org_id, caller.uid).get().to_dict() or {}).get("role")
        return role if role in ORG_ROLES else None
    return _cached((org_id, caller.uid), read)


def role_now(org_id: str, caller: Caller) -> str | None:
    """The caller's org role read now, not from the cache (which it refreshes): what an org manager's write is decided on."""
    forget(org_id, caller.uid)
    return role_in(org_id, caller)


def _denied(field: str) -> GatewayError:
    return GatewayError(
        ErrorCode.PERMISSION_DENIED,
        f"{field}: not an organisation you are a member of",
        {"fields": [{"field": field, "message": "not an organisation you are a member of"}]},
    )


def attach(request: Request, route: str, caller: Caller) -> Caller:
    """``caller`` with the organisation the request is for and their org role; 403 when it names one they are not in."""
    named = request.headers.get(HEADER)
    field = HEADER
    if named is None and route == "openai" and (hint := (request.headers.get(OPENAI_HEADER) or "").strip()):
        # A hint, not a demand: the SDKs send OPENAI_ORG_ID from the environment, an OpenAI id ("org-...") that
        # names nothing here. Honoured when the caller is a member; else ignored, so such clients keep working
        # (in no organisation they are not in: isolation holds either way). X-Org-Id is the strict form.
        role = role_in(hint, caller) if valid_id(hint) else None
        if role is not None:
            return dataclasses.replace(caller, org=hint, org_role=role)
    if named is not None:
        org_id = named.strip()
        if not org_id:  # "X-Org-Id:" with no value: explicitly none, whatever the default (a switcher's "project-wide")
            return caller
        role = role_in(org_id, caller)
        if role is None:
            raise _denied(field)
        return dataclasses.replace(caller, org=org_id, org_role=role)
    default = caller.profile.get("defaultOrg")
    if isinstance(default, str) and default:
        role = role_in(default, caller)
        if role is not None:  # a default left behind (removed from the org, org deleted) is ignored
            return dataclasses.replace(caller, org=default, org_role=role)
    return caller
