"""``usage``: a user's own totals and recent records; admins read anyone's and the per-model totals.

Routes: ``GET /usage`` (``uid`` admin only, ``from``/``to`` as YYYY-MM-DD,
``limit`` ≤ 100 and ``pageToken`` for records; ``view=records`` for a page of
records alone), ``GET /usage/models``
(admin; per-model totals over ``from``/``to``) and ``GET /usage/metrics``
(admin; totals, latency percentiles and per-day series by model, provider and
route over ``from``/``to``, read from the model day documents alone) and
``GET /usage/org`` (org managers; ``gateway.orgbudgets.report``).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from firebase_functions import https_fn
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway import firebase, http, logs, metrics, openapi, userdays
from gateway.budgets import reset_at
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.usage import COLLECTION, MODEL_DAYS, MODELS_COLLECTION, quota_for

TOTALS = ("requests", "errors", "promptTokens", "completionTokens", "totalTokens", "cachedTokens", "reasoningTokens", "estimatedTokens", "images", "cost")
MAX_DAYS = 366


class ModelUsageQuery(BaseModel):
    """Query string of ``GET /usage/models``: the days to sum (default: the last 30, at most 366)."""

    model_config = ConfigDict(extra="forbid")

    from_: date | None = Field(None, alias="from", description="YYYY-MM-DD; default: 29 days before to.")
    to: date | None = Field(None, description="YYYY-MM-DD; default: today (UTC).")


class UsageQuery(ModelUsageQuery):
    """Query string of ``GET /usage``."""

    uid: str | None = Field(None, pattern=r"^[^/]{1,128}$", description="Another user's usage (admins only): a Firebase Auth uid.")
    limit: int = Field(20, ge=1, le=100, description="Records per page.")
    pageToken: str | None = Field(None, max_length=512)
    view: Literal["full", "records"] = Field(
        "full",
        description="records: only a page of records and nextPageToken (no totals, days or quota), "
        "for paging the ledger without summing the window's days again.",
    )

    @field_validator("uid")
    @classmethod
    def _document_id(cls, value: str | None) -> str | None:
        """A uid names the ``usage/{uid}`` document: Firestore refuses ``.``, ``..`` and ``__...__`` ids (and ``/``, above)."""
        if value is not None and (value in (".", "..") or (value.startswith("__") and value.endswith("__"))):
            raise ValueError("not a user id")
        return value


def _range(query: ModelUsageQuery) -> tuple[date, date]:
    end = query.to or datetime.now(timezone.utc).date()
    if end == date.max:
        raise invalid("to", "must be before 9999-12-31")  # the range ends the next midnight
    if query.from_ is None and end < date.min + timedelta(days=29):
        raise invalid("to", "too early for the default range of 30 days; give from as well")
    start = query.from_ or end - timedelta(days=29)
    if start > end:
        raise invalid("from", "must not be after to")
    if (end - start).days >= MAX_DAYS:
        raise invalid("from", f"a range may span at most {MAX_DAYS} days")
    return start, end


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {key: sum(row.get(key) or 0 for row in rows) for key in TOTALS}
    totals["cost"] = round(totals["cost"], 10)
    return totals


def _day(row: dict[str, Any]) -> dict[str, Any]:
    return {"date": row.get("date"), **{key: row.get(key, 0) for key in TOTALS}, "models": row.get("models", {})}


def _user_day(day: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A user's day: the sum of its shards, with the per-model totals (``models``) summed too."""
    models = metrics.total(row.get("models") for row in rows)
    for sums in models.values():
        sums["cost"] = round(sums.get("cost", 0.0), 10)
    return {"date": day, **userdays.total(rows), "models": models}


def _cursor(token: str) -> datetime:
    try:
        return datetime.fromisoformat(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["at"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid("pageToken", "not a page token of this listing") from None


def _quota(ctx: http.Context, user: Any, days: list[dict[str, Any]]) -> dict[str, Any]:
    """The caller's daily budgets (null: unlimited) and what today used of them."""
    assert ctx.caller is not None
    budgets = quota_for(ctx.caller.profile, ctx.caller.role)
    now = datetime.now(timezone.utc)
    today = now.date().isoformat()
    row = next((d for d in days if d.get("date") == today), None)
    if row is None:
        row = userdays.total(snap.to_dict() or {} for snap in userdays.rows(ctx.caller.uid, today))
    return {
        "dailyTokens": budgets.get("dailyTokens"),
        "dailyCostUsd": budgets.get("dailyCostUsd"),
        "usedTokens": row.get("totalTokens", 0),
        "usedCostUsd": round(row.get("cost", 0.0), 10),
        "reservedTokens": max(0, int(row.get("reservedTokens", 0))),
        "reservedCostUsd": max(0.0, round(row.get("reservedCost", 0.0), 10)),
        "estimatedTokens": row.get("estimatedTokens", 0),
        "resetAt": reset_at(now).isoformat(),
    }


def _user_usage(ctx: http.Context) -> dict[str, Any]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    assert ctx.caller is not None
    query = http.validate(UsageQuery, http.query(ctx.request))
    uid = query.uid or ctx.caller.uid
    if uid != ctx.caller.uid and ctx.caller.role != "admin":
        raise GatewayError(ErrorCode.PERMISSION_DENIED, "Only admins may read another user's usage", {"field": "uid"})
    start, end = _range(query)
    user = firebase.db().collection(COLLECTION).document(uid)
    if query.view == "records":  # a page turn: the day shards are not read at all
        records, token = _records(user, start, end, query)
        return {"uid": uid, "from": start.isoformat(), "to": end.isoformat(), "records": records, "nextPageToken": token}
    shards: dict[str, list[dict[str, Any]]] = {}
    for snap in (
        user.collection("days")
        .where(filter=FieldFilter("date", ">=", start.isoformat()))
        .where(filter=FieldFilter("date", "<=", end.isoformat()))
        .stream()
    ):
        row = snap.to_dict() or {}
        shards.setdefault(row.get("date", ""), []).append(row)
    days = [_user_day(day, rows) for day, rows in sorted(shards.items())]  # a day is the sum of its shards
    records, token = _records(user, start, end, query)
    return {
        "uid": uid,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "quota": _quota(ctx, user, days) if uid == ctx.caller.uid else None,
        "totals": _totals(days),
        "days": [_day(d) for d in days],
        "records": records,
        "nextPageToken": token,
    }


def _records(user: Any, start: date, end: date, query: UsageQuery) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the user's records over start..end, newest first, and the token of the next page (None: the last)."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), timezone.utc)
    records_query = (
        user.collection("records")
        .where(filter=FieldFilter("at", ">=", datetime.combine(start, datetime.min.time(), timezone.utc)))
        .where(filter=FieldFilter("at", "<", until))
        .order_by("at", direction=firestore.Query.DESCENDING)
    )
    if query.pageToken:
        records_query = records_query.start_after({"at": _cursor(query.pageToken)})
    snaps = list(records_query.limit(query.limit + 1).stream())  # one more, to know whether there is a next page
    records = [{"id": s.id, **(s.to_dict() or {})} for s in snaps[: query.limit]]
    token = None
    if len(snaps) > query.limit:
        token = base64.urlsafe_b64encode(json.dumps({"at": records[-1]["at"].isoformat()}).encode()).decode().rstrip("=")
    return records, token


def _model_days(start: date, end: date) -> tuple[list[tuple[str, str, dict[str, Any]]], int]:
    """(modelId, day, the model's day totals) over start..end, by day, and how many documents that read.

    One query over every model's day documents: a closed day is one compacted
    document per model, an open one its shards (:func:`_day_total`).
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    days: dict[tuple[str, str], list[Any]] = {}
    rows = (
        firebase.db()
        .collection_group(MODEL_DAYS)
        .where(filter=FieldFilter("date", ">=", start.isoformat()))
        .where(filter=FieldFilter("date", "<=", end.isoformat()))
        .stream()
    )
    read = 0
    for snap in rows:
        read += 1
        row = snap.to_dict() or {}
        days.setdefault((row.get("modelId") or snap.reference.parent.parent.id, row.get("date", "")), []).append(snap)
    totals = [(model_id, day, _day_total(model_id, day, snaps)) for (model_id, day), snaps in days.items()]
    return sorted(totals, key=lambda t: (t[1], t[0])), read


def _model_usage(ctx: http.Context) -> dict[str, Any]:
    query = http.validate(ModelUsageQuery, http.query(ctx.request))
    start, end = _range(query)
    by_model: dict[str, list[dict[str, Any]]] = {}
    for model_id, _, total in _model_days(start, end)[0]:
        by_model.setdefault(model_id, []).append(total)
    models = [{"modelId": model_id, **_totals(rows)} for model_id, rows in sorted(by_model.items())]
    return {"from": start.isoformat(), "to": end.isoformat(), "models": models, "totals": _totals(models)}


def _metrics(ctx: http.Context) -> dict[str, Any]:
    """``GET /usage/metrics``: the dashboards' numbers, from the model day documents of the range alone."""
    query = http.validate(ModelUsageQuery, http.query(ctx.request))
    start, end = _range(query)
    rows, read = _model_days(start, end)
    every_day = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    return {"from": start.isoformat(), "to": end.isoformat(), "days": every_day, **metrics.report(rows), "documentsRead": read}


def _day_total(model_id: str, day: str, snaps: list[Any]) -> dict[str, Any]:
    """One model's totals for one day: its compacted document, else the sum of its shards.

    A day no request can still be counted on (two days back) is compacted on
    first read: the sum (histograms and per-route maps summed key by key) is
    written as ``{day}`` and the shards are deleted in one batch, so later
    reports read one document per model and day.
    """
    rows = [snap.to_dict() or {} for snap in snaps]
    compacted = [row for row in rows if row.get("compacted")]
    if compacted:
        return compacted[0]
    total = {**_totals(rows), **metrics.total({"latency": row.get("latency"), "routes": row.get("routes")} for row in rows)}
    provider = next((row["provider"] for row in reversed(rows) if isinstance(row.get("provider"), str)), None)
    if provider is not None:
        total["provider"] = provider
    closed = (datetime.now(timezone.utc).date() - timedelta(days=2)).isoformat()
    if day <= closed and len(snaps) > 1 and len(snaps) < 500:
        db = firebase.db()
        batch = db.batch()
        ref = db.collection(MODELS_COLLECTION).document(model_id).collection(MODEL_DAYS).document(day)
        batch.set(ref, {**total, "modelId": model_id, "date": day, "compacted": True, "shards": len(snaps)})
        for snap in snaps:
            if snap.id != day:
                batch.delete(snap.reference)
        try:
            batch.commit()
        except Exception as exc:  # the shards stay and are summed again next time
            logs.warn("could not compact a model's day of usage", modelId=model_id, date=day, exception=type(exc).__name__)
    return total


def _org_usage(ctx: http.Context) -> dict[str, Any]:
    """The organisation of the request (X-Org-Id, else the caller's default): its managers and project admins only."""
    from gateway import orgbudgets, orgs

    assert ctx.caller is not None
    start, end = _range(http.validate(ModelUsageQuery, http.query(ctx.request)))
    if ctx.caller.org is None:
        raise invalid(orgs.HEADER, "name an organisation (or set a default one with PUT /orgs/default)")
    if ctx.caller.org_role not in orgs.MANAGERS:
        raise GatewayError(
            ErrorCode.PERMISSION_DENIED, f"Org role '{ctx.caller.org_role}' may not read organisation '{ctx.caller.org}''s usage",
            {"orgRole": ctx.caller.org_role, "allowedOrgRoles": sorted(orgs.MANAGERS)},
        )
    today = datetime.now(timezone.utc).date().isoformat()
    return orgbudgets.report(ctx.caller.org, start.isoformat(), end.isoformat(), today)


def _get(ctx: http.Context) -> dict[str, Any]:
    if not ctx.path:
        return _user_usage(ctx)
    if ctx.path == ["models"]:
        assert ctx.caller is not None
        if ctx.caller.role != "admin":
            raise GatewayError(ErrorCode.PERMISSION_DENIED, "Only admins may read per-model usage", {"role": ctx.caller.role})
        return _model_usage(ctx)
    if ctx.path == ["org"]:
        return _org_usage(ctx)
    if ctx.path == ["metrics"]:
        assert ctx.caller is not None
        if ctx.caller.role != "admin":
            raise GatewayError(ErrorCode.PERMISSION_DENIED, "Only admins may read usage metrics", {"role": ctx.caller.role})
        return _metrics(ctx)
    raise GatewayError(ErrorCode.NOT_FOUND, f"No route {ctx.request.path}")


ROUTES = {"GET": http.Handler(_get, roles=http.ALL_ROLES)}
API = (
    openapi.Op("GET", "/usage", "The caller's usage (admins: anyone's)", {200: ("UsageReport", "UsageRecordsPage")}, query=UsageQuery,
               description="Totals, per-day totals and the latest records (paginated) over from..to, and the caller's quota; "
               "with view=records, a page of records alone (UsageRecordsPage), which reads no day documents."),
    openapi.Op("GET", "/usage/models", "Per-model totals", {200: "ModelUsageReport"}, query=ModelUsageQuery, roles=http.ADMIN),
    openapi.Op("GET", "/usage/org", "An organisation's budget and usage", {200: "OrgUsageReport"}, query=ModelUsageQuery,
               description="Org owners and admins (project admins: any organisation) of the organisation named by X-Org-Id "
               "(else the caller's default; none: 400 naming X-Org-Id): its caps with what is spent and reserved today and this "
               "month, and totals per day, model and member over from..to, read from the organisation's day documents only."),
    openapi.Op("GET", "/usage/metrics", "Usage metrics for dashboards", {200: "MetricsReport"}, query=ModelUsageQuery, roles=http.ADMIN,
               description="Totals, latency percentiles (from fixed log-spaced histograms: within 25% of the true value) and per-day "
               "series by model, provider and route over from..to, read from the per-model day documents only."),
)


@https_fn.on_request()
def usage(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "usage", ROUTES)
