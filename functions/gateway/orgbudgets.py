"""Organisation budgets: an org's daily and monthly cost caps and its members' daily quotas, on the budgets' reservation.

A request in organisation X (``Caller.org``) is reserved, in the same commit
as the user's own budgets (``gateway.budgets.reserve``), against:

- X's daily and monthly cost caps (``orgs/X.settings.dailyCostUsd``,
  ``monthlyCostUsd``): spread, like the project cap, over
  ``PROJECT_CAP_SHARDS`` documents ``orgs/X/usageDays/{day}-{shard}`` and
  ``orgs/X/usageMonths/{yyyy-mm}-{shard}``, each allowed an equal share, so
  no document takes every request of a busy organisation;
- the member's daily quota in X (``orgs/X/members/{uid}.quota``, else
  ``settings.defaultQuotas[org role]``): nested fields ``orgs.X.*`` of the
  user's own day documents (``gateway.userdays``), whose primary document the
  reservation already writes: no extra write, ordered exactly as the user's.

Settling moves each held part from reserved to used and books the request's
totals per day, model and member on one of X's day shards (and its cost on a
month shard), so ``GET /usage/org`` reads a few documents a day, not the
ledger. Settings come from the registry's listener on ``orgs`` (a change
applies everywhere within tens of milliseconds); members' quotas are read
once per ``REGISTRY_CACHE_SECONDS`` per instance (dropped on this instance's
writes).
Requests in no organisation touch nothing here.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from gateway import orgs, settings
from gateway.errors import ErrorCode, GatewayError

if TYPE_CHECKING:
    from gateway.auth import Caller

DAYS = "usageDays"
MONTHS = "usageMonths"
MEMBER_TOTALS = ("requests", "totalTokens", "cost")
"""What an organisation's day counts per model and per member."""

_lock = threading.Lock()
_quotas: TTLCache[tuple[str, str], dict[str, Any] | None] | None = None


@dataclass(frozen=True)
class OrgCaps:
    """The organisation budgets of one request; None: no such budget."""

    org: str
    daily_cost: float | None = None
    monthly_cost: float | None = None
    member_tokens: float | None = None
    member_cost: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.daily_cost, self.monthly_cost, self.member_tokens, self.member_cost))

    @property
    def costed(self) -> bool:
        return any(v is not None for v in (self.daily_cost, self.monthly_cost, self.member_cost))

    @property
    def member(self) -> bool:
        return self.member_tokens is not None or self.member_cost is not None


def _quota_cache() -> TTLCache[tuple[str, str], dict[str, Any] | None]:
    global _quotas
    if _quotas is None:
        _quotas = TTLCache(maxsize=20_000, ttl=settings.REGISTRY_CACHE_SECONDS.value)
    return _quotas


def forget(org_id: str | None = None, uid: str | None = None) -> None:
    """Drop cached quotas (all, one org's, or one member's) and re-read the organisations' settings (this instance wrote)."""
    from gateway.registry import registry

    by_member = _quota_cache()
    with _lock:
        for key in [k for k in by_member if org_id is None or (k[0] == org_id and (uid is None or k[1] == uid))]:
            by_member.pop(key, None)
    if uid is None:
        registry().invalidate()


def _read(cache: TTLCache[Any, Any], key: Any, read: Any) -> Any:
    with _lock:
        if key in cache:
            return cache[key]
    value = read()
    with _lock:
        cache[key] = value
    return value


def org_settings(org_id: str) -> orgs.OrgSettings:
    """The organisation's settings from the registry's ``orgs`` listener (no read per request, no cache to expire)."""
    from gateway.registry import registry

    stored = registry().org_settings(org_id)
    try:
        return orgs.OrgSettings.model_validate(stored or {})
    except ValueError:
        return orgs.OrgSettings(dailyCostUsd=0.0)  # unreadable settings stop spending rather than lift every cap


def member_quota(org_id: str, uid: str, org_role: str | None, config: orgs.OrgSettings) -> dict[str, float]:
    """The member's own quota in the organisation, else the role's default; empty: none."""
    by_member = _quota_cache()
    own = _read(by_member, (org_id, uid), lambda: (orgs.member_ref(org_id, uid).get().to_dict() or {}).get("quota"))
    if isinstance(own, dict):
        quota = own
    else:
        default = config.defaultQuotas.get(org_role) if org_role else None  # type: ignore[call-overload]
        quota = default.model_dump() if default is not None else {}
    return {k: float(v) for k, v in quota.items() if k in ("dailyTokens", "dailyCostUsd") and isinstance(v, int | float)}


def caps_for(caller: Caller) -> OrgCaps | None:
    """The organisation budgets of a request by ``caller``; None outside an organisation (nothing is read)."""
    if caller.org is None:
        return None
    config = org_settings(caller.org)
    quota = member_quota(caller.org, caller.uid, caller.org_role, config)
    return OrgCaps(caller.org, config.dailyCostUsd, config.monthlyCostUsd, quota.get("dailyTokens"), quota.get("dailyCostUsd"))


def month_of(day: str) -> str:
    return day[:7]


def day_ref(org_id: str, doc_id: str) -> Any:
    return orgs.org_ref(org_id).collection(DAYS).document(doc_id)


def month_ref(org_id: str, doc_id: str) -> Any:
    return orgs.org_ref(org_id).collection(MONTHS).document(doc_id)


def _shards() -> int:
    return max(1, settings.PROJECT_CAP_SHARDS.value)


def parts(period: str, cost: float, cap: float) -> list[tuple[str, float]]:
    """Where a reservation of ``cost`` goes: one shard, or several when it is more than half a share (as the project cap)."""
    shards = _shards()
    share = cap / shards
    count = 1 if share <= 0 else min(shards, max(1, math.ceil(cost / (share / 2))))
    start = random.randrange(shards)
    return [(f"{period}-{(start + i) % shards}", round(cost / count, 12)) for i in range(count)]


def _shard_fields(key: str, period: str, doc_id: str, reserved: float) -> dict[str, Any]:
    from google.cloud import firestore

    return {"reservedCost": firestore.Increment(float(reserved)), "cost": firestore.Increment(0.0), key: period, "shard": int(doc_id.rsplit("-", 1)[1])}


def member_day(org_id: str | None, tokens: int = 0, cost: float = 0.0, totals: dict[str, Any] | None = None) -> dict[str, Any]:
    """The nested ``orgs.<org>.*`` increments of a user's day: what is reserved (``tokens``/``cost``) or booked (``totals``)."""
    from google.cloud import firestore

    if org_id is None:
        return {}
    fields: dict[str, Any] = {}
    if totals is None:
        fields = {"reservedTokens": firestore.Increment(int(tokens)), "reservedCost": firestore.Increment(float(cost)),
                  "totalTokens": firestore.Increment(0), "cost": firestore.Increment(0.0)}
    else:
        fields = {key: firestore.Increment(totals[key]) for key in MEMBER_TOTALS}
        if tokens or cost:
            fields |= {"reservedTokens": firestore.Increment(-int(tokens)), "reservedCost": firestore.Increment(-float(cost))}
    return {"orgs": {org_id: fields}}


def reserve_writes(batch: Any, caps: OrgCaps, day: str, cost: float) -> tuple[list[tuple[str, float]], list[tuple[str, float]], list[dict[str, Any]]]:
    """Add the org caps' reservation of ``cost`` to ``batch``: (day parts, month parts, the fields written, in order)."""
    days = parts(day, cost, caps.daily_cost) if caps.daily_cost is not None else []
    months = parts(month_of(day), cost, caps.monthly_cost) if caps.monthly_cost is not None else []
    written = []
    for doc_id, part in days:
        data = _shard_fields("date", day, doc_id, part)
        batch.set(day_ref(caps.org, doc_id), data, merge=True)
        written.append(data)
    for doc_id, part in months:
        data = _shard_fields("month", month_of(day), doc_id, part)
        batch.set(month_ref(caps.org, doc_id), data, merge=True)
        written.append(data)
    return days, months, written


def extend_writes(batch: Any, org_id: str, day: str, days: list[tuple[str, float]], months: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """Add more reserved on the shards a reservation already holds (its history's share); the fields written, in order."""
    written = []
    for key, period, held, ref in (("date", day, days, day_ref), ("month", month_of(day), months, month_ref)):
        for doc_id, part in held:
            data = _shard_fields(key, period, doc_id, part)
            batch.set(ref(org_id, doc_id), data, merge=True)
            written.append(data)
    return written


def unreserve_writes(batch: Any, org_id: str, days: list[tuple[str, float]], months: list[tuple[str, float]]) -> None:
    from google.cloud import firestore

    for doc_id, part in days:
        batch.set(day_ref(org_id, doc_id), {"reservedCost": firestore.Increment(-round(part, 12))}, merge=True)
    for doc_id, part in months:
        batch.set(month_ref(org_id, doc_id), {"reservedCost": firestore.Increment(-round(part, 12))}, merge=True)


def settle_writes(
    batch: Any, org_id: str, day: str, uid: str, model_id: str | None, totals: dict[str, Any], cost: float,
    days: list[tuple[str, float]], months: list[tuple[str, float]],
) -> None:
    """Add a request's booking to ``batch``: held parts from reserved to used, and its totals per day, model and member.

    The totals go on the first day shard the request held (else one at random), its cost on the month's shards it
    held (else one at random): one write each when nothing is held, none more than the reservation's own when it is.
    """
    from google.cloud import firestore

    counts = {key: firestore.Increment(totals[key]) for key in MEMBER_TOTALS}
    booked = {"requests": counts["requests"], "totalTokens": counts["totalTokens"], "members": {uid: dict(counts)}}
    if model_id:
        booked["models"] = {model_id: dict(counts)}
    for key, period, held, ref in (("date", day, days, day_ref), ("month", month_of(day), months, month_ref)):
        reserved = sum(part for _, part in held)
        for number, (doc_id, part) in enumerate(held or [(f"{period}-{random.randrange(_shards())}", 0.0)]):
            used = cost if not held else (cost * part / reserved if reserved else cost / len(held))
            data: dict[str, Any] = {key: period, "shard": int(doc_id.rsplit("-", 1)[1]), "cost": firestore.Increment(round(used, 12))}
            if part:
                data["reservedCost"] = firestore.Increment(-part)
            if number == 0 and key == "date":
                data |= booked
            batch.set(ref(org_id, doc_id), data, merge=True)


def reset_month(now: datetime) -> datetime:
    """When a monthly cap starts again: the first of the next UTC month."""
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def _refusal(org_id: str, name: str, limit: float, used: float, reserved: float, ask: float, reset: datetime, now: datetime) -> GatewayError:
    retry = {"Retry-After": str(int((reset - now).total_seconds()) + 1)}
    details = {"quota": name, "org": org_id, "limit": limit, "used": round(used, 10), "reserved": round(reserved, 10),
               "request": round(ask, 10), "resetAt": reset.isoformat()}
    what = {
        "orgDailyCostUsd": f"organisation '{org_id}''s daily spending cap (${limit:g})",
        "orgMonthlyCostUsd": f"organisation '{org_id}''s monthly spending cap (${limit:g})",
        "memberDailyTokens": f"your daily token quota in organisation '{org_id}' ({limit:g})",
        "memberDailyCostUsd": f"your daily cost quota in organisation '{org_id}' (${limit:g})",
    }[name]
    if used >= limit - 1e-12:
        message = f"The {what} is reached; it resets at {reset.isoformat()}"
    else:
        message = f"What is left of the {what} cannot take this request (up to {ask:g}); it resets at {reset.isoformat()}"
    return GatewayError(ErrorCode.QUOTA_EXCEEDED, message, details, headers=retry)


def checks(
    caps: OrgCaps, day_values: dict[str, float], held: list[dict[str, float]], days: int, tokens: int, cost: float, now: datetime
) -> GatewayError | None:
    """The first organisation budget the totals after this reservation break, as its refusal.

    ``day_values``: the user's day with its ``orgs.<org>.*`` sums; ``held``: the org shards' values after the commit,
    ``days`` of them day shards, the rest month shards.
    """
    from gateway import budgets

    prefix = f"orgs.{caps.org}."
    used_tokens, reserved_tokens = day_values.get(prefix + "totalTokens", 0.0), day_values.get(prefix + "reservedTokens", 0.0)
    if caps.member_tokens is not None and used_tokens + reserved_tokens > caps.member_tokens:
        return _refusal(caps.org, "memberDailyTokens", caps.member_tokens, used_tokens, reserved_tokens - tokens, tokens, budgets.reset_at(now), now)
    used_cost, reserved_cost = day_values.get(prefix + "cost", 0.0), day_values.get(prefix + "reservedCost", 0.0)
    if caps.member_cost is not None and used_cost + reserved_cost > caps.member_cost + 1e-12:
        return _refusal(caps.org, "memberDailyCostUsd", caps.member_cost, used_cost, reserved_cost - cost, cost, budgets.reset_at(now), now)
    shares = _shards()
    for number, values in enumerate(held):
        daily = number < days
        cap = caps.daily_cost if daily else caps.monthly_cost
        assert cap is not None
        if values["cost"] + values["reservedCost"] > cap / shares + 1e-12:
            name, reset = ("orgDailyCostUsd", budgets.reset_at(now)) if daily else ("orgMonthlyCostUsd", reset_month(now))
            return _refusal(caps.org, name, cap, values["cost"] * shares, 0.0, cost, reset, now)
    return None


def tight(caps: OrgCaps, day_values: dict[str, float], held: list[dict[str, float]], days: int, tokens: int, cost: float) -> bool:
    """Whether another request like this one would break an organisation budget (its settle must land before the answer)."""
    prefix = f"orgs.{caps.org}."
    if caps.member_tokens is not None and day_values.get(prefix + "totalTokens", 0) + day_values.get(prefix + "reservedTokens", 0) + tokens > caps.member_tokens:
        return True
    if caps.member_cost is not None and day_values.get(prefix + "cost", 0) + day_values.get(prefix + "reservedCost", 0) + cost > caps.member_cost:
        return True
    shares = _shards()
    for number, values in enumerate(held):
        cap = caps.daily_cost if number < days else caps.monthly_cost
        if cap is not None and values["cost"] + values["reservedCost"] + cost / max(1, len(held)) > cap / shares:
            return True
    return False


def report(org_id: str, start: str, end: str, today: str) -> dict[str, Any]:
    """``GET /usage/org``: the organisation's budget now and its totals per day, model and member over ``start``..``end``.

    Reads the org's day shards of the range and of today, and this month's shards: at most ``PROJECT_CAP_SHARDS``
    documents a day with traffic, never the ledger.
    """
    from datetime import date

    from google.cloud.firestore_v1.base_query import FieldFilter

    org = orgs.org_ref(org_id)
    low, high = min(start, today), max(end, today)
    day_docs = [s.to_dict() or {} for s in org.collection(DAYS).where(filter=FieldFilter("date", ">=", low))
                .where(filter=FieldFilter("date", "<=", high)).stream()]
    month = month_of(today)
    month_docs = [s.to_dict() or {} for s in org.collection(MONTHS).where(filter=FieldFilter("month", "==", month)).stream()]
    config = org_settings(org_id)

    def row(values: dict[str, Any]) -> dict[str, Any]:
        return {"requests": int(values.get("requests") or 0), "tokens": int(values.get("totalTokens") or 0),
                "costUsd": round(float(values.get("cost") or 0.0), 10)}

    def add(into: dict[str, dict[str, float]], key: str, values: dict[str, Any]) -> None:
        held = into.setdefault(key, {"requests": 0, "totalTokens": 0, "cost": 0.0})
        for name in held:
            held[name] += values.get(name) or 0

    by_day: dict[str, dict[str, float]] = {}
    by_model: dict[str, dict[str, float]] = {}
    by_member: dict[str, dict[str, float]] = {}
    for doc in day_docs:
        when = str(doc.get("date"))
        if start <= when <= end:
            add(by_day, when, doc)
            for model_id, values in (doc.get("models") or {}).items():
                add(by_model, model_id, values)
            for uid, values in (doc.get("members") or {}).items():
                add(by_member, uid, values)
    today_docs = [d for d in day_docs if d.get("date") == today]
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    busiest = sorted(by_model.items(), key=lambda kv: (-kv[1]["requests"], kv[0]))
    members = sorted(by_member.items(), key=lambda kv: (-kv[1]["cost"], -kv[1]["requests"], kv[0]))
    return {
        "org": org_id, "from": start, "to": end,
        "budget": {
            "dailyCostUsd": config.dailyCostUsd,
            "spentTodayUsd": round(max(0.0, sum(d.get("cost") or 0.0 for d in today_docs)), 10),
            "reservedTodayUsd": round(max(0.0, sum(d.get("reservedCost") or 0.0 for d in today_docs)), 10),
            "monthlyCostUsd": config.monthlyCostUsd,
            "spentMonthUsd": round(max(0.0, sum(d.get("cost") or 0.0 for d in month_docs)), 10),
            "reservedMonthUsd": round(max(0.0, sum(d.get("reservedCost") or 0.0 for d in month_docs)), 10),
        },
        "days": [{"date": day, **row(by_day.get(day, {}))} for day in days],
        "byModel": [{"modelId": model_id, **row(values)} for model_id, values in busiest],
        "byMember": [{"uid": uid, **row(values)} for uid, values in members],
        "documentsRead": len(day_docs) + len(month_docs),
    }
