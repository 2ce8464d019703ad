"""Budgets: a request's worst case is reserved before its provider is called, then settled to what it used.

Three daily budgets (UTC days): a user's ``dailyTokens`` and ``dailyCostUsd``
(``users/{uid}.quota``, else ``config/limits.quotas[role]``, else
:data:`gateway.limits.DEFAULT_QUOTAS`), and the project's cost cap
(``config/limits.projectDailyCostUsd``, else the ``PROJECT_DAILY_COST_USD``
param), a hard stop for every caller once reached.

Reserving is one Firestore commit, before the provider is called, that also
counts the request's rate limit:

- ``usage/{uid}/records/{id}`` is created with ``status: "reserved"`` and the
  worst case (``reservedTokens``, ``reservedCost``): from this moment the
  request has a durable record, booked in full until it is settled;
- the user's day document ``usage/{uid}/days/{day}`` gets
  ``reservedTokens``/``reservedCost`` increments, and the commit answers
  with its totals after them (``transform_results``): every reservation is
  ordered there, so the check is exact under any concurrency, with no
  transaction. Settles book on the day's shards (:mod:`gateway.userdays`),
  which are read right after the commit when a user budget applies;
- the project cap is spread over ``PROJECT_CAP_SHARDS`` documents
  ``budgets/{day}-{shard}``, each allowed an equal share (no document every
  request touches); a reservation bigger than half a share is split over
  several.

A reservation that finds a budget over is undone and answered 429
``QUOTA_EXCEEDED``. Every admitted request saw totals that included every
earlier admitted reservation and stayed within the budget, so what is
admitted plus what is booked never exceeds it, whatever the concurrency.
Settling (``gateway.usage``) replaces the reservation with what was used in
one commit; a reservation never settled (a killed instance) stays booked in
full until :func:`sweep` books it as ``unsettled``.

The worst case of a text request: prompt tokens at most the prompt's UTF-8
bytes (byte-level tokenizers make at most one token per byte) plus
:data:`MESSAGE_TOKENS` a message and :data:`IMAGE_TOKENS` an image;
completion tokens at most the ``max_tokens`` sent to the provider, which is
always set; cost at the prices of the dearest model that may answer.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from gateway import firebase, limits, logs, orgbudgets, settings, userdays
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.schemas import Model, Pricing

if TYPE_CHECKING:
    from gateway.auth import Caller

COLLECTION = "budgets"
IMAGE_TOKENS = 1600
"""Tokens an input image is reserved (and estimated) at: the most the common providers charge for one."""
MESSAGE_TOKENS = 8
"""A message's framing tokens (role, separators) on top of its text."""
COMMIT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Caps:
    """The budgets that apply to one request; None: no such budget."""

    daily_tokens: float | None = None
    daily_cost: float | None = None
    project_cost: float | None = None
    org: orgbudgets.OrgCaps | None = None
    """The organisation's budgets and the member's quota in it (``gateway.orgbudgets``); None: a request in no organisation."""

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.daily_tokens, self.daily_cost, self.project_cost)) or self.org is not None

    @property
    def costed(self) -> bool:
        """A cost budget applies: every model that may answer needs prices."""
        return self.daily_cost is not None or self.project_cost is not None or (self.org is not None and self.org.costed)

    @property
    def user_day(self) -> bool:
        """A budget is judged on the user's day (theirs, or their quota in the organisation): its shards are read."""
        return self.daily_tokens is not None or self.daily_cost is not None or (self.org is not None and self.org.member)


def project_cap() -> float | None:
    """The project's daily cap in USD: ``config/limits.projectDailyCostUsd`` when set there (null: none), else the param."""
    config = limits.config()
    if "projectDailyCostUsd" in config.model_fields_set:
        return config.projectDailyCostUsd
    raw = settings.PROJECT_DAILY_COST_USD.value.strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        logs.error("PROJECT_DAILY_COST_USD is not a number; generation is stopped", value=raw[:40])
        return 0.0


def caps_for(profile: dict[str, Any], role: str, caller: Caller | None = None) -> Caps:
    """The request's budgets; with ``caller`` in an organisation, that organisation's too (read only then)."""
    from gateway import usage

    quota = usage.quota_for(profile, role)
    org = orgbudgets.caps_for(caller) if caller is not None else None
    return Caps(quota.get("dailyTokens"), quota.get("dailyCostUsd"), project_cap(), org)


_default_pricing: tuple[str, Pricing | None] | None = None


def default_pricing() -> Pricing | None:
    """The ``DEFAULT_PRICING`` param, parsed once per value; None when empty or unreadable."""
    global _default_pricing
    raw = settings.DEFAULT_PRICING.value.strip()
    if _default_pricing is None or _default_pricing[0] != raw:
        parsed = None
        if raw:
            try:
                parsed = Pricing.model_validate(json.loads(raw))
            except ValueError:
                logs.error("DEFAULT_PRICING is not a pricing object; unpriced models stay unpriced")
        _default_pricing = (raw, parsed)
    return _default_pricing[1]


OUTPUTLESS_TYPES = ("embedding",)
"""Model types that generate no tokens: their input price alone prices them (an output price is not needed)."""


class TextPrices(NamedTuple):
    """USD per 1M tokens. A reservation prices every prompt token at ``input`` (cache hits never cost more: schemas)."""

    input: float
    output: float
    cached_input: float
    """Prompt tokens read from the provider's cache: ``cachedInputPer1M``, else ``input``."""

    def cost(self, prompt: int, completion: int, cached: int = 0) -> float:
        """What booked counts cost, ``cached`` of the ``prompt`` tokens at the cached price."""
        cached = min(cached, prompt)
        return round(((prompt - cached) * self.input + cached * self.cached_input + completion * self.output) / 1e6, 10)


def text_prices(model: Model) -> TextPrices | None:
    """USD per 1M input and output tokens: the model's, else ``DEFAULT_PRICING``; None when unknown."""
    for pricing in (model.pricing, default_pricing()):
        if pricing is None or pricing.inputPer1M is None:
            continue
        cached = pricing.cachedInputPer1M if pricing.cachedInputPer1M is not None else pricing.inputPer1M
        if pricing.outputPer1M is not None:
            return TextPrices(pricing.inputPer1M, pricing.outputPer1M, cached)
        if model.type in OUTPUTLESS_TYPES:
            return TextPrices(pricing.inputPer1M, 0.0, cached)
    return None


def image_price(model: Model) -> float | None:
    for pricing in (model.pricing, default_pricing()):
        if pricing is not None and pricing.perImage is not None:
            return pricing.perImage
    return None


def unpriced(model: Model, field_name: str, what: str) -> GatewayError:
    return invalid(
        field_name,
        f"model '{model.id}' has no pricing ({what}) and a cost budget applies, so it cannot be booked; "
        "an admin sets the model's pricing (or the DEFAULT_PRICING param)",
    )


@dataclass(frozen=True)
class Ask:
    """What a request may cost at worst, and what its prompt likely is (booked when the provider does not say)."""

    tokens: int
    cost: float
    prompt_estimate: int = 0
    completion_limit: int | None = None
    images: int = 0


def tokens_for(chars: int) -> int:
    """Tokens in ``chars`` characters as booked when a provider does not say: over 4, rounded up (OpenAI's rule of thumb)."""
    return math.ceil(chars / 4)


def estimate(text: str) -> int:
    return tokens_for(len(text))


def _prompt_parts(texts: Iterable[str], messages: int, images: int) -> tuple[int, int]:
    """(worst case, estimate) of a prompt."""
    worst = typical = 0
    for text in texts:
        worst += len(text.encode("utf-8"))
        typical += estimate(text)
    framing = MESSAGE_TOKENS * (messages + 1) + IMAGE_TOKENS * images
    return worst + framing, typical + framing


def prompt_texts(params: Any, model: Model) -> list[str]:
    """Every piece of text a chat request sends: messages, tool calls, the system prompt, tool and output schemas."""
    texts: list[str] = [params.system_prompt or model.config.systemPrompt or ""]
    for message in params.messages:
        texts.append(message.content)
        texts.extend(call.name + call.arguments for call in message.tool_calls)
    texts.extend(json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters}) for t in params.tools)
    if params.response_format is not None and params.response_format.schema is not None:
        texts.append(json.dumps(params.response_format.schema))
    return texts


def text_ask(params: Any, models: Sequence[Model], images: int, completion: int) -> Ask:
    """The worst case of a chat request that may be answered by any of ``models`` (the first and its fallbacks)."""
    worst_prompt, typical = _prompt_parts(prompt_texts(params, models[0]), len(params.messages), images)
    cost = 0.0
    for model in models:
        prices = text_prices(model)
        if prices is not None:
            cost = max(cost, (worst_prompt * prices[0] + completion * prices[1]) / 1e6)
    return Ask(worst_prompt + completion, round(cost, 10), typical, completion, images)


def history_ask(messages: Sequence[Any], models: Sequence[Model]) -> Ask:
    """What stored history adds to a request's worst case (reserved once it has been read)."""
    worst, typical = _prompt_parts((m.content for m in messages), len(messages) - 1, 0)
    cost = max((worst * p[0] / 1e6 for p in (text_prices(m) for m in models) if p is not None), default=0.0)
    return Ask(worst, round(cost, 10), typical)


def image_ask(model: Model, count: int) -> Ask:
    return Ask(0, round((image_price(model) or 0.0) * count, 10), images=count)


def _day(now: datetime) -> str:
    return now.strftime("%Y-%m-%d")


def reset_at(now: datetime) -> datetime:
    """When daily budgets start again: the next UTC midnight."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Reservation:
    """A request's reserved worst case, durable in Firestore until :mod:`gateway.usage` settles it."""

    uid: str
    day: str
    record_id: str
    tokens: int
    cost: float
    shards: list[tuple[str, float]] = field(default_factory=list)
    """Project-cap shard documents and the part of ``cost`` each holds."""
    updated: Any = None
    """The record's last write time: the settle writes only over exactly that version (never twice)."""
    tight: bool = True
    """Another request like this one would not fit a budget now: its settle must land before the answer (see ``usage.Tracker``)."""
    org: str | None = None
    """The organisation the request is for: its quota's share of the user's day is booked under ``orgs.<org>``."""
    org_days: list[tuple[str, float]] = field(default_factory=list)
    """The organisation's daily-cap shards (``orgs/{org}/usageDays``) and the part each holds."""
    org_months: list[tuple[str, float]] = field(default_factory=list)
    """The organisation's monthly-cap shards (``orgs/{org}/usageMonths``) and the part each holds."""


def _numbers(fields: dict[str, Any], result: Any, floor: bool = True) -> dict[str, float]:
    """A merged write's transform results by field (the client sends transforms sorted by field path).

    Amounts never count below zero (a document deleted by hand under reservations would otherwise make room);
    ``floor=False`` for one shard of a user's day, which may be (its day's sum is floored, :func:`_day_totals`).
    """
    paths = sorted(_transform_paths(fields))  # as the client orders them: by field path segments
    out: dict[str, float] = {}
    for path, value in zip(paths, result.transform_results, strict=True):
        kind = value._pb.WhichOneof("value_type")
        number = float(value.integer_value if kind == "integer_value" else value.double_value)
        out[".".join(path)] = max(0.0, number) if floor else number
    return out


def _transform_paths(fields: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The field paths of the transforms in ``fields``, nested maps included (``orgs.<org>.*``)."""
    found: list[tuple[str, ...]] = []
    for name, value in fields.items():
        if isinstance(value, dict):
            found.extend(_transform_paths(value, (*prefix, name)))
        elif _is_transform(value):
            found.append((*prefix, name))
    return found


def _day_totals(uid: str, day: str, shard: int, fields: dict[str, Any], result: Any, caps: Caps) -> dict[str, float]:
    """The user's day after this commit: its own shard's values, plus the other shards read now when a user budget applies.

    The read comes after the commit, so of any two reservations the later one counts the earlier (``gateway.userdays``).
    """
    own = _numbers(fields, result, floor=False)
    if not caps.user_day:
        return {key: max(0.0, value) for key, value in own.items()}  # no user budget: the day's sum decides nothing
    org = caps.org.org if caps.org is not None else None
    try:
        with limits.unavailable_as_503():
            rest = userdays.others(uid, day, shard, COMMIT_TIMEOUT_SECONDS, org)
    except limits.LedgerDown:
        if not limits.fail_open():
            raise
        rest = {}  # judged on this shard alone (LEDGER_DOWN_POLICY=open)
    summed = userdays.total([own, rest])
    return {key: float(summed[key]) if key in summed else max(0.0, own[key] + float(rest.get(key) or 0)) for key in own}


def _is_transform(value: Any) -> bool:
    from google.cloud.firestore_v1.transforms import Increment

    return isinstance(value, Increment)


def _shard_parts(day: str, cost: float, cap: float) -> list[tuple[str, float]]:
    shards = max(1, settings.PROJECT_CAP_SHARDS.value)
    share = cap / shards
    count = 1 if share <= 0 else min(shards, max(1, math.ceil(cost / (share / 2))))
    start = random.randrange(shards)
    return [(f"{day}-{(start + i) % shards}", round(cost / count, 12)) for i in range(count)]


def record_ref(uid: str, record_id: str) -> Any:
    return firebase.db().collection("usage").document(uid).collection("records").document(record_id)


def _increments(tokens: float, cost: float) -> dict[str, Any]:
    from google.cloud import firestore

    return {
        "reservedTokens": firestore.Increment(int(tokens)),
        "reservedCost": firestore.Increment(float(cost)),
        "totalTokens": firestore.Increment(0),
        "cost": firestore.Increment(0.0),
    }


def _shard_write(day: str, shard_id: str, part: float) -> tuple[Any, dict[str, Any]]:
    from google.cloud import firestore

    ref = firebase.db().collection(COLLECTION).document(shard_id)
    return ref, {"reservedCost": firestore.Increment(part), "cost": firestore.Increment(0.0), "date": day, "shard": int(shard_id.rsplit("-", 1)[1])}


def _refusal(name: str, limit: float, used: float, reserved: float, ask: float, now: datetime) -> GatewayError:
    reset = reset_at(now)
    retry = {"Retry-After": str(int((reset - now).total_seconds()) + 1)}
    details = {"quota": name, "limit": limit, "used": round(used, 10), "reserved": round(reserved, 10), "request": round(ask, 10), "resetAt": reset.isoformat()}
    if name == "projectDailyCostUsd" and used >= limit - 1e-12:
        message = (
            f"The project's daily spending cap (${limit:g}) is reached: generation is stopped for everyone until "
            f"{reset.isoformat()}; an admin can raise config/limits.projectDailyCostUsd"
        )
    elif name == "projectDailyCostUsd":
        message = (
            f"What is left of the project's daily spending cap (${limit:g}) cannot take this request (up to ${ask:g}); "
            f"it resets at {reset.isoformat()}, and an admin can raise config/limits.projectDailyCostUsd"
        )
    elif used >= limit:
        message = f"Daily quota reached ({name} {limit:g}); it resets at {reset.isoformat()}"
    else:
        message = (
            f"Daily quota {name} {limit:g} has {max(0.0, limit - used - reserved):g} left, and this request may need up to {ask:g} "
            f"(ask for fewer tokens with maxTokens/max_tokens); it resets at {reset.isoformat()}"
        )
    return GatewayError(ErrorCode.QUOTA_EXCEEDED, message, details, headers=retry)


def _tight(caps: Caps, day_values: dict[str, float], shard_values: list[dict[str, float]], ask: Ask, shares: int) -> bool:
    """Whether a second request like ``ask`` would break a budget after this one (near the limit: settle promptly)."""
    held_tokens = day_values["totalTokens"] + day_values["reservedTokens"]
    if caps.daily_tokens is not None and held_tokens + ask.tokens > caps.daily_tokens:
        return True
    if caps.daily_cost is not None and day_values["cost"] + day_values["reservedCost"] + ask.cost > caps.daily_cost:
        return True
    if caps.project_cost is not None:
        share = caps.project_cost / shares
        part = ask.cost / max(1, len(shard_values))
        return any(v["cost"] + v["reservedCost"] + part > share for v in shard_values)
    return False


def _checks(caps: Caps, day_values: dict[str, float], shard_values: list[dict[str, float]], ask: Ask, shares: int, now: datetime) -> GatewayError | None:
    """The first budget the totals after this reservation break, as its refusal."""
    used_tokens, reserved_tokens = day_values["totalTokens"], day_values["reservedTokens"]
    if caps.daily_tokens is not None and used_tokens + reserved_tokens > caps.daily_tokens:
        return _refusal("dailyTokens", caps.daily_tokens, used_tokens, reserved_tokens - ask.tokens, ask.tokens, now)
    used_cost, reserved_cost = day_values["cost"], day_values["reservedCost"]
    if caps.daily_cost is not None and used_cost + reserved_cost > caps.daily_cost + 1e-12:
        return _refusal("dailyCostUsd", caps.daily_cost, used_cost, reserved_cost - ask.cost, ask.cost, now)
    if caps.project_cost is not None:
        share = caps.project_cost / shares
        for values in shard_values:
            if values["cost"] + values["reservedCost"] > share + 1e-12:
                return _refusal("projectDailyCostUsd", caps.project_cost, values["cost"] * shares, 0.0, ask.cost, now)
    return None


def _shard_list(shards: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """The shards as the record keeps them (for :func:`gateway.usage.sweep`)."""
    return [{"id": shard_id, "part": part} for shard_id, part in shards]


def shards_of(row: dict[str, Any]) -> list[tuple[str, float]]:
    return [(str(s["id"]), float(s["part"])) for s in row.get("shards") or [] if isinstance(s, dict) and "id" in s and "part" in s]


@dataclass
class Lease:
    """Budget this instance reserved ahead for one user's next requests (durable in Firestore: counted as reserved)."""

    day: str
    caps: Caps
    tokens: int
    cost: float
    shards: dict[str, float]
    used: float = field(default_factory=time.monotonic)


_lock = threading.Lock()
_leases: dict[str, Lease] = {}
"""By uid: what this instance may still admit for that user today without asking Firestore."""
_near: dict[str, str] = {}
"""uid -> the day this instance last found one of the user's budgets past :data:`LEASE_FAR`: no leases for them that day."""
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="budgets")
MAX_LEASES = 10_000
LEASE_FAR = 0.5
"""A lease is kept only while every budget it touches stays at most this full with it (leases shrink to none near a limit)."""
LEASE_IDLE_SECONDS = 30.0
"""A lease unused this long is given back."""


def leased(uid: str) -> tuple[int, float]:
    """Tokens and USD this instance holds in its lease for ``uid`` (reserved in Firestore, not yet used by a request)."""
    with _lock:
        lease = _leases.get(uid)
        return (lease.tokens, lease.cost) if lease is not None else (0, 0.0)


def forget() -> None:
    """Drop this instance's leases without giving them back (tests clear Firestore under them)."""
    with _lock:
        _leases.clear()
        _near.clear()


def _draw(uid: str, day: str, ask: Ask, caps: Caps) -> list[tuple[str, float]] | None:
    """Take ``ask`` from the user's lease: the project-cap shard parts it takes, or None when the lease cannot cover it."""
    with _lock:
        lease = _leases.get(uid)
        if lease is None or lease.day != day or lease.caps != caps or ask.tokens > lease.tokens or ask.cost > lease.cost + 1e-15:
            return None
        share = ask.cost / lease.cost if lease.cost > 0 else 0.0
        parts = [(shard_id, round(held * share, 12)) for shard_id, held in lease.shards.items()]
        for shard_id, part in parts:
            lease.shards[shard_id] = max(0.0, lease.shards[shard_id] - part)
        lease.tokens -= ask.tokens
        lease.cost = max(0.0, lease.cost - ask.cost)
        lease.used = time.monotonic()
        return parts


def _keep(uid: str, lease: Lease) -> None:
    with _lock:
        held = _leases.get(uid)
        if held is not None and held.day == lease.day and held.caps == lease.caps:
            held.tokens += lease.tokens
            held.cost += lease.cost
            for shard_id, part in lease.shards.items():
                held.shards[shard_id] = held.shards.get(shard_id, 0.0) + part
            held.used = time.monotonic()
            return
        if held is not None:
            _pool.submit(_give_back, uid, held)
        if len(_leases) >= MAX_LEASES:
            oldest = min(_leases, key=lambda k: _leases[k].used)
            _pool.submit(_give_back, oldest, _leases.pop(oldest))
        _leases[uid] = lease


_expired_at = 0.0


def _expire(today: str) -> None:
    """Give back leases unused for :data:`LEASE_IDLE_SECONDS` (or of another day), in the background; looked at once a second."""
    global _expired_at
    now = time.monotonic()
    with _lock:
        if now - _expired_at < 1.0:
            return
        _expired_at = now
        stale = [uid for uid, lease in _leases.items() if lease.day != today or now - lease.used > LEASE_IDLE_SECONDS]
        expired = [(uid, _leases.pop(uid)) for uid in stale]
    for uid, lease in expired:
        _pool.submit(_give_back, uid, lease)


def unreserve(
    batch: Any, uid: str, day: str, tokens: int, cost: float, shards: Iterable[tuple[str, float]], reservation: Reservation | None = None
) -> None:
    """Add to ``batch`` the writes that take ``tokens``/``cost`` (and the shards' parts) back out of what is reserved
    (and, for ``reservation`` in an organisation, what it holds there)."""
    from google.cloud import firestore

    fields = {"reservedTokens": firestore.Increment(-tokens), "reservedCost": firestore.Increment(-cost), "uid": uid, "date": day}
    if reservation is not None and reservation.org is not None:
        fields |= orgbudgets.member_day(reservation.org, -reservation.tokens, -reservation.cost)
        orgbudgets.unreserve_writes(batch, reservation.org, reservation.org_days, reservation.org_months)
    batch.set(userdays.ref(uid, day, userdays.PRIMARY), fields, merge=True)  # where it was reserved: see gateway.userdays
    for shard_id, part in shards:
        batch.set(firebase.db().collection(COLLECTION).document(shard_id), {"reservedCost": firestore.Increment(-round(part, 12))}, merge=True)


def book_cost(batch: Any, day: str, cost: float) -> None:
    """Add to ``batch`` a request's cost booked on one project-cap shard (a request that reserved none: served uncounted)."""
    from google.cloud import firestore

    if cost:
        shard = random.randrange(max(1, settings.PROJECT_CAP_SHARDS.value))
        ref, data = _shard_write(day, f"{day}-{shard}", 0.0)
        batch.set(ref, {**data, "cost": firestore.Increment(round(cost, 12))}, merge=True)


def _give_back(uid: str, lease: Lease) -> None:
    """Release a lease's remainder in Firestore (lost with the instance: then it stays reserved until its day ends)."""
    if lease.tokens <= 0 and lease.cost <= 0:
        return
    batch = firebase.db().batch()
    unreserve(batch, uid, lease.day, lease.tokens, lease.cost, lease.shards.items())
    try:
        batch.commit(retry=None, timeout=COMMIT_TIMEOUT_SECONDS)
    except Exception as exc:
        logs.warn("a budget lease could not be given back; it stays reserved until its day ends", uid=uid, exception=type(exc).__name__)


class Pending:
    """A lease-admitted request's record, being written beside the provider call; :meth:`confirm` waits for it."""

    def __init__(self, future: Future[None]) -> None:
        self._future: Future[None] | None = future

    def confirm(self) -> None:
        future, self._future = self._future, None
        if future is not None:
            future.result()


def _record_fields(
    uid: str, route: str, model: Model, ask: Ask, shards: list[tuple[str, float]], now: datetime, lease: bool, reservation: Reservation | None = None
) -> dict[str, Any]:
    org = {} if reservation is None else {"org": reservation.org, **_org_shards(reservation)}
    return {
        "uid": uid, "modelId": model.id, "provider": model.provider, "route": route, "status": "reserved",
        "reservedTokens": ask.tokens, "reservedCost": ask.cost, "images": ask.images, "at": now,
        "shards": _shard_list(shards), "lease": lease, **org,
    }


def _org_shards(reservation: Reservation) -> dict[str, Any]:
    """The organisation shards a record keeps (for :func:`gateway.usage.sweep`); nothing outside an organisation."""
    if reservation.org is None:
        return {}
    return {"orgShards": {"days": _shard_list(reservation.org_days), "months": _shard_list(reservation.org_months)}}


def _from_lease(
    uid: str, route: str, role: str, model: Model, ask: Ask, caps: Caps, parts: list[tuple[str, float]], headers: dict[str, str],
    count_rate: bool, overlap: bool,
) -> tuple[Reservation, Any]:
    """Admitted from the lease: only the record (and the rate-limit count) is written, beside the provider call when it may be."""
    now = datetime.now(timezone.utc)
    reservation = Reservation(uid, _day(now), uuid.uuid4().hex, ask.tokens, ask.cost, parts, tight=False)
    ref = record_ref(uid, reservation.record_id)
    fields = _record_fields(uid, route, model, ask, parts, now, lease=True)

    def also(batch: Any) -> Callable[[list[Any]], None]:
        batch.create(ref, fields)

        def done(results: list[Any]) -> None:
            reservation.updated = results[0].update_time

        return done

    if count_rate:
        try:
            return reservation, limits.admit(uid, route, role, model.id, headers, overlap, also)
        except GatewayError:  # counted first and over the limit: no call was made, so the lease gets it back
            if reservation.updated is not None:
                try:
                    ref.delete(retry=None, timeout=COMMIT_TIMEOUT_SECONDS)
                except Exception as exc:  # stays reserved, then booked in full by the sweep: never an undercount
                    logs.warn("a refused request's record could not be removed", uid=uid, exception=type(exc).__name__)
            _keep(uid, Lease(reservation.day, caps, ask.tokens, ask.cost, dict(parts)))
            raise

    def write() -> None:
        try:
            with limits.unavailable_as_503():
                reservation.updated = ref.create(fields, retry=None, timeout=COMMIT_TIMEOUT_SECONDS).update_time
        except limits.LedgerDown:
            if not limits.fail_open():
                raise  # served uncounted otherwise: its settle creates the record (``usage``)

    if overlap:
        return reservation, Pending(_pool.submit(write))
    write()
    return reservation, None


def _could_be_far(caps: Caps, tokens: int, cost: float) -> bool:
    """Whether a reservation this big could leave every budget within :data:`LEASE_FAR` at all."""
    if caps.daily_tokens is not None and tokens > LEASE_FAR * caps.daily_tokens:
        return False
    if caps.daily_cost is not None and cost > LEASE_FAR * caps.daily_cost:
        return False
    return caps.project_cost is None or cost <= LEASE_FAR * caps.project_cost


def _far(caps: Caps, day_values: dict[str, float], shard_values: list[dict[str, float]], shares: int) -> bool:
    """Every budget at most :data:`LEASE_FAR` full, counting what is reserved (the lease too)."""
    held_tokens = day_values["totalTokens"] + day_values["reservedTokens"]
    if caps.daily_tokens is not None and held_tokens > LEASE_FAR * caps.daily_tokens:
        return False
    if caps.daily_cost is not None and day_values["cost"] + day_values["reservedCost"] > LEASE_FAR * caps.daily_cost:
        return False
    if caps.project_cost is not None:
        share = caps.project_cost / shares
        return all(v["cost"] + v["reservedCost"] <= LEASE_FAR * share for v in shard_values)
    return True


def _reserve_writes(
    batch: Any, uid: str, day: str, tokens: int, cost: float, parts: list[tuple[str, float]], now: Any, org: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Add a reservation's increments of the user's day (its primary document; in an organisation, its ``orgs.<org>``
    share too) and of the project cap's shards to ``batch``."""
    day_fields = {**_increments(tokens, cost), **orgbudgets.member_day(org, tokens, cost), "uid": uid, "date": day, "updatedAt": now}
    batch.set(userdays.ref(uid, day, userdays.PRIMARY), day_fields, merge=True)
    shard_fields = []
    for shard_id, part in parts:
        ref, data = _shard_write(day, shard_id, part)
        batch.set(ref, data, merge=True)
        shard_fields.append(data)
    return day_fields, shard_fields


def _commit(batch: Any) -> list[Any] | None:
    """A reservation's commit within its timeout; None when Firestore failed and ``LEDGER_DOWN_POLICY`` serves it open (else a 503)."""
    try:
        with limits.unavailable_as_503():
            return list(batch.commit(retry=None, timeout=COMMIT_TIMEOUT_SECONDS))
    except limits.LedgerDown:
        if limits.fail_open():
            return None
        raise

def reserve(
    uid: str, route: str, role: str, model: Model, ask: Ask, caps: Caps, headers: dict[str, str], count_rate: bool, overlap: bool = True
) -> tuple[Reservation, Any]:
    """Reserve ``ask`` against ``caps`` and count the rate limit; 429 or 503 here, before any provider call.

    From this instance's lease when it covers ``ask`` (no Firestore round trip
    before the call: the record and the count are written beside it, and the
    returned admission's ``confirm`` waits for them before the first byte);
    otherwise in one commit, which also takes a lease of ``BUDGET_LEASE_FACTOR``
    more requests like this one while every budget stays far from its limit.
    Returns the reservation and the admission to confirm (None: decided).
    """
    now = datetime.now(timezone.utc)
    day = _day(now)
    _expire(day)
    with _lock:
        stale = _leases.pop(uid) if uid in _leases and (_leases[uid].caps != caps or _leases[uid].day != day) else None
    if stale is not None:  # the user's budgets changed: the old lease goes back before this request is judged
        _give_back(uid, stale)
    parts = _draw(uid, day, ask, caps) if caps.org is None else None
    if parts is not None:
        return _from_lease(uid, route, role, model, ask, caps, parts, headers, count_rate, overlap)
    # No lease in an organisation: every request reserves on the org's shards (a lease would hold its budget idle).
    factor = max(0, settings.BUDGET_LEASE_FACTOR.value) if caps.org is None else 0
    with _lock:
        far_known = _near.get(uid) != day
    lease = Ask(ask.tokens * factor, round(ask.cost * factor, 10)) if factor and far_known else Ask(0, 0.0)
    if not _could_be_far(caps, ask.tokens + lease.tokens, ask.cost + lease.cost):
        lease = Ask(0, 0.0)  # it would be given back at once
    total_cost = round(ask.cost + lease.cost, 10)
    db = firebase.db()
    reservation = Reservation(uid, day, uuid.uuid4().hex, ask.tokens, ask.cost)
    batch = db.batch()
    rate: tuple[int, int] | None = None
    if count_rate:
        limits.refuse_if_known(uid, route, role, model.id, headers)  # past its limit this window: no reservation, no write
        ref, data, limit, reset = limits.counter(uid, route, role, model.id)
        batch.set(ref, data, merge=True)
        rate = (limit, reset)
    held: list[tuple[str, float]] = []
    if caps.project_cost is not None:
        held = _shard_parts(day, total_cost, caps.project_cost)
        own = ask.cost / total_cost if total_cost else 1.0
        reservation.shards = [(shard_id, round(part * own, 12)) for shard_id, part in held]
    org_fields: list[dict[str, Any]] = []
    if caps.org is not None:
        reservation.org = caps.org.org
        reservation.org_days, reservation.org_months, org_fields = orgbudgets.reserve_writes(batch, caps.org, day, ask.cost)
    batch.create(record_ref(uid, reservation.record_id), _record_fields(uid, route, model, ask, reservation.shards, now, False, reservation))
    day_shard = userdays.PRIMARY
    day_fields, shard_fields = _reserve_writes(batch, uid, day, ask.tokens + lease.tokens, total_cost, held, now, reservation.org)
    results = _commit(batch)
    if results is None:  # served uncounted, nothing reserved: its settle creates the record (``usage``), if Firestore is back by then
        return Reservation(uid, day, reservation.record_id, 0, 0.0, tight=False), None
    offset = (1 if rate else 0) + len(org_fields)  # the org shards first (the record's index is where the lease path has it)
    org_values = [_numbers(data, result) for data, result in zip(org_fields, results[offset - len(org_fields) : offset], strict=True)]
    reservation.updated = results[offset].update_time
    refusal: GatewayError | None = None
    if rate is not None:
        decision = limits.decision(rate[0], rate[1], int(results[0].transform_results[0].integer_value))
        limits.note(uid, route, role, model.id, decision)
        try:
            limits.raise_if_refused(decision, headers)
        except GatewayError as err:
            refusal = err
    leased = Lease(day, caps, lease.tokens, lease.cost, {shard_id: round(part - own_part, 12) for (shard_id, part), (_, own_part) in zip(held, reservation.shards, strict=True)})
    if refusal is None:
        shares = max(1, settings.PROJECT_CAP_SHARDS.value)
        try:
            with_lease = _day_totals(uid, day, day_shard, day_fields, results[offset + 1], caps)
        except GatewayError:
            release(reservation, leased)
            raise
        shards_with = [_numbers(data, result) for data, result in zip(shard_fields, results[offset + 2 :], strict=True)]
        org_days = len(reservation.org_days)
        # Judged without the lease: the lease is a bonus, never a reason to refuse.
        day_values = {**with_lease, "reservedTokens": with_lease["reservedTokens"] - lease.tokens, "reservedCost": with_lease["reservedCost"] - lease.cost}
        shard_values = [{**v, "reservedCost": v["reservedCost"] - leased.shards[shard_id]} for v, (shard_id, _) in zip(shards_with, held, strict=True)]
        refusal = _checks(caps, day_values, shard_values, ask, shares, now)
        if refusal is None and caps.org is not None:
            refusal = orgbudgets.checks(caps.org, day_values, org_values, org_days, ask.tokens, ask.cost, now)
        if refusal is None and (lease.tokens or lease.cost):
            if _far(caps, with_lease, shards_with, shares):
                _keep(uid, leased)
            else:  # given back before the answer, so the caller's next request is judged without it
                with _lock:
                    if len(_near) >= MAX_LEASES:
                        _near.clear()
                    _near[uid] = day
                _give_back(uid, leased)
        reservation.tight = _tight(caps, with_lease, shards_with, ask, shares) or (
            caps.org is not None and orgbudgets.tight(caps.org, with_lease, org_values, org_days, ask.tokens, ask.cost)
        )
    if refusal is not None:
        release(reservation, leased)
        raise refusal
    return reservation, None


def extend(reservation: Reservation, ask: Ask, caps: Caps) -> None:
    """Add ``ask`` (history read after the first reservation) to ``reservation``; 429 when a budget cannot take it."""
    from google.cloud import firestore

    if ask.tokens == 0 and ask.cost == 0:
        return
    db = firebase.db()
    now = datetime.now(timezone.utc)
    batch = db.batch()
    record = record_ref(reservation.uid, reservation.record_id)
    parts = [(shard_id, round(ask.cost / len(reservation.shards), 12)) for shard_id, _ in reservation.shards]
    grown = [(sid, round(old + new, 12)) for (sid, old), (_, new) in zip(reservation.shards, parts, strict=True)]
    org_days, org_months = _grow(reservation.org_days, ask.cost), _grow(reservation.org_months, ask.cost)
    grown_org = dataclasses.replace(reservation, org_days=_sum(reservation.org_days, org_days), org_months=_sum(reservation.org_months, org_months))
    org_fields = []
    if reservation.org is not None:  # first in the batch, as when reserving
        org_fields = orgbudgets.extend_writes(batch, reservation.org, reservation.day, org_days, org_months)
    batch.update(
        record,
        {"reservedTokens": firestore.Increment(ask.tokens), "reservedCost": firestore.Increment(ask.cost), "shards": _shard_list(grown),
         **_org_shards(grown_org)},
    )
    day_shard = userdays.PRIMARY
    day_fields, shard_fields = _reserve_writes(batch, reservation.uid, reservation.day, ask.tokens, ask.cost, parts, now, reservation.org)
    results = _commit(batch)
    if results is None:
        return  # the history's share is booked when the request settles, not reserved
    org_values = [_numbers(data, result) for data, result in zip(org_fields, results[: len(org_fields)], strict=True)]
    results = results[len(org_fields) :]
    reservation.tokens += ask.tokens
    reservation.cost = round(reservation.cost + ask.cost, 10)
    reservation.shards = grown
    reservation.org_days, reservation.org_months = grown_org.org_days, grown_org.org_months
    reservation.updated = results[0].update_time
    day_values = _day_totals(reservation.uid, reservation.day, day_shard, day_fields, results[1], caps)
    shard_values = [_numbers(data, result) for data, result in zip(shard_fields, results[2:], strict=True)]
    refusal = _checks(caps, day_values, shard_values, ask, max(1, settings.PROJECT_CAP_SHARDS.value), now)
    if refusal is None and caps.org is not None:
        refusal = orgbudgets.checks(caps.org, day_values, org_values, len(org_days), ask.tokens, ask.cost, now)
    if refusal is not None:
        raise refusal  # the request fails: its settle releases the whole reservation
    reservation.tight = reservation.tight or _tight(caps, day_values, shard_values, ask, max(1, settings.PROJECT_CAP_SHARDS.value)) or (
        caps.org is not None and orgbudgets.tight(caps.org, day_values, org_values, len(org_days), ask.tokens, ask.cost)
    )


def _grow(held: list[tuple[str, float]], cost: float) -> list[tuple[str, float]]:
    """``cost`` more, spread equally over the shards already held."""
    return [(shard_id, round(cost / len(held), 12)) for shard_id, _ in held]


def _sum(held: list[tuple[str, float]], more: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(shard_id, round(a + b, 12)) for (shard_id, a), (_, b) in zip(held, more, strict=True)]


def release(reservation: Reservation, lease: Lease | None = None) -> None:
    """Undo a reservation whose request was refused (and the lease taken with it): no record, nothing reserved."""
    batch = firebase.db().batch()
    batch.delete(record_ref(reservation.uid, reservation.record_id))
    extra = lease if lease is not None else Lease(reservation.day, Caps(), 0, 0.0, {})
    shards = [(shard_id, part + extra.shards.get(shard_id, 0.0)) for shard_id, part in reservation.shards]
    unreserve(batch, reservation.uid, reservation.day, reservation.tokens + extra.tokens, reservation.cost + extra.cost, shards, reservation)
    try:
        batch.commit(retry=None, timeout=COMMIT_TIMEOUT_SECONDS)
    except Exception as exc:  # stays reserved: counted against the budgets until swept (never an overspend)
        logs.error("a refused request's reservation could not be released", uid=reservation.uid, record=reservation.record_id, exception=type(exc).__name__)


def settle_writes(
    batch: Any, reservation: Reservation, record: dict[str, Any], totals: dict[str, Any], cost: float, day_extra: dict[str, Any] | None = None
) -> None:
    """Add the settle of ``reservation`` to ``batch``: the record as booked, the day and the project cap moved from reserved to used.

    ``day_extra``: more fields of the day's write (its per-model increments).
    """
    from google.cloud import firestore

    db = firebase.db()
    batch.update(
        record_ref(reservation.uid, reservation.record_id), record, option=db.write_option(last_update_time=reservation.updated)
    )
    extra = dict(day_extra or {})
    if reservation.org is not None:  # the request's share of the member's day in the organisation, from reserved to used
        extra |= orgbudgets.member_day(reservation.org, reservation.tokens, reservation.cost, totals)
        orgbudgets.settle_writes(
            batch, reservation.org, reservation.day, reservation.uid, record.get("modelId"), totals, cost, reservation.org_days, reservation.org_months
        )
    batch.set(
        userdays.ref(reservation.uid, reservation.day, userdays.pick()),
        {
            **{key: firestore.Increment(value) for key, value in totals.items()},
            "reservedTokens": firestore.Increment(-reservation.tokens),
            "reservedCost": firestore.Increment(-reservation.cost),
            **extra,
            "uid": reservation.uid,
            "date": reservation.day,
        },
        merge=True,
    )
    for shard_id, part in reservation.shards:
        used = cost * part / reservation.cost if reservation.cost else cost / len(reservation.shards)
        batch.set(
            db.collection(COLLECTION).document(shard_id),
            {"reservedCost": firestore.Increment(-part), "cost": firestore.Increment(round(used, 12))},
            merge=True,
        )


def spent_today() -> dict[str, float]:
    """The project's cost today, booked and reserved, summed over its shards (the admin's view of the cap)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    day = _day(datetime.now(timezone.utc))
    rows = [s.to_dict() or {} for s in firebase.db().collection(COLLECTION).where(filter=FieldFilter("date", "==", day)).stream()]
    return {"cost": round(sum(r.get("cost", 0.0) for r in rows), 10), "reservedCost": round(sum(r.get("reservedCost", 0.0) for r in rows), 10)}
