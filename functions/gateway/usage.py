"""The usage and cost ledger, daily aggregates, and daily quotas.

Every generation (text, image, OpenAI-compatible; streamed or not; failed or
not) is committed before its request ends: a JSON answer after the ledger
write, a stream's ``done`` event and ``[DONE]`` after it. Cloud Run throttles
CPU once a response is complete, and a killed instance loses its memory, so
nothing here is left for later. One commit per request, three documents
(four under a budget, whose project-cap shards it settles too):

- ``usage/{uid}/records/{id}`` (``uid, modelId, provider, route,
  promptTokens, completionTokens, cachedTokens, reasoningTokens, images, cost, latencyMs, status, errorCode,
  estimated, at``);
- ``usage/{uid}/days/{yyyy-mm-dd}-{shard}``: atomic increments of the same totals,
  on one of ``USAGE_DAY_SHARDS`` documents at random (:mod:`gateway.userdays`;
  readers sum the day's documents), and of the model's
  ``models.<modelId>.{requests,totalTokens,cost}``;
- ``usageModels/{modelId}/modelDays/{yyyy-mm-dd}-{shard}``: the per-model
  totals, spread over ``USAGE_MODEL_SHARDS`` documents so no document takes
  more than about one write per second per 100 requests/s; readers sum them.
  Beside them a latency histogram (``latency.<bucket>``, :mod:`gateway.metrics`),
  the provider, and per-route totals and histograms (``routes.<route>.*``).

The breakdowns are more fields of the same three writes, never more writes.

The record's id is made once per request, and the commit *creates* it: a
retried commit whose first attempt landed fails as a whole, so increments are
never counted twice. A commit that fails twice is logged with the whole entry
(recoverable from the logs), and the answer is still sent.

When a budget applies (``gateway.budgets``), the record was created when the
request was admitted, holding its reserved worst case; the commit here
*updates* it (only over the version the reservation wrote, so never twice)
and moves the day's and the project cap's amounts from reserved to used.

Every token a provider generated is booked. Counts are what the provider
reported, checked: non-negative integers, the completion within the
``max_tokens`` asked. Where the provider said nothing (no usage, a stream the
client cut off, a stream that failed after text was sent) or said something
impossible, the missing counts are estimated (:func:`gateway.budgets.tokens_for`:
characters over 4 of the prompt and of the text sent) and the record is
marked ``estimated: true``; the day counts ``estimatedTokens``.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from gateway import budgets, firebase, limits, logs, metrics, orgbudgets, settings, userdays
from gateway.errors import GatewayError

COLLECTION = "usage"
MODELS_COLLECTION = "usageModels"
MODEL_DAYS = "modelDays"


@dataclass
class Entry:
    """One generation as the ledger records it."""

    uid: str
    route: str
    model_id: str | None
    provider: str | None
    status: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    """Of the prompt tokens, those the provider served from its cache (when it said)."""
    reasoning_tokens: int | None = None
    """Of the completion tokens, those spent reasoning (when the provider said)."""
    images: int = 0
    cost: float | None = None
    error_code: str | None = None
    estimated: bool = False
    """Some counts are the gateway's estimate: the provider did not say, or said something impossible."""
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """The record's document id: the same on every attempt to commit it."""
    reservation: budgets.Reservation | None = None
    org: str | None = None
    """The organisation the request was for (None: none)."""


def day_of(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def _totals(entry: Entry) -> dict[str, int | float]:
    prompt, completion = entry.prompt_tokens or 0, entry.completion_tokens or 0
    return {
        "requests": 1,
        "errors": 0 if entry.status == "ok" else 1,
        "promptTokens": prompt,
        "completionTokens": completion,
        "totalTokens": prompt + completion,
        "cachedTokens": entry.cached_tokens or 0,
        "reasoningTokens": entry.reasoning_tokens or 0,
        "estimatedTokens": prompt + completion if entry.estimated else 0,
        "images": entry.images,
        "cost": entry.cost or 0.0,
    }


ROUTE_TOTALS = ("requests", "errors", "promptTokens", "completionTokens", "totalTokens", "cost")
"""What a model's day counts per route (beside the route's latency histogram)."""
USER_MODEL_TOTALS = ("requests", "totalTokens", "cost")
"""What a user's day counts per model."""


def _user_extra(entry: Entry, totals: dict[str, int | float]) -> dict[str, Any]:
    """The user's day's per-model increments (``models.<modelId>.*``): more fields of the write it already takes."""
    from google.cloud import firestore

    org = orgbudgets.member_day(entry.org, totals=totals) if entry.org and (entry.reservation is None or entry.reservation.org is None) else {}
    if not entry.model_id:
        return org
    return {"models": {entry.model_id: {key: firestore.Increment(totals[key]) for key in USER_MODEL_TOTALS}}, **org}


def _model_extra(entry: Entry, totals: dict[str, int | float]) -> dict[str, Any]:
    """The model's day's histogram and per-route increments (``latency.<bucket>``, ``routes.<route>.*``).

    Nested maps (not dotted strings): the client quotes each key as one field-path
    segment, so model ids and bucket names with dots or dashes stay one field.
    A booking with no measured latency (one the sweep books) counts no latency.
    """
    from google.cloud import firestore

    route: dict[str, Any] = {key: firestore.Increment(totals[key]) for key in ROUTE_TOTALS}
    extra: dict[str, Any] = {"routes": {entry.route or "unknown": route}}
    if entry.provider:
        extra["provider"] = entry.provider
    if entry.status != "unsettled":
        one = {metrics.bucket(entry.latency_ms): firestore.Increment(1)}
        extra["latency"] = one
        route["latency"] = dict(one)
    return extra


def _fields(entry: Entry) -> dict[str, Any]:
    return {
        "uid": entry.uid,
        "modelId": entry.model_id,
        "provider": entry.provider,
        "route": entry.route,
        "promptTokens": entry.prompt_tokens,
        "completionTokens": entry.completion_tokens,
        "cachedTokens": entry.cached_tokens,
        "reasoningTokens": entry.reasoning_tokens,
        "images": entry.images,
        "cost": entry.cost,
        "latencyMs": entry.latency_ms,
        "status": entry.status,
        "errorCode": entry.error_code,
        "estimated": entry.estimated,
        "org": entry.org,
    }


COMMIT_TIMEOUT_SECONDS = 5.0
"""Longest a ledger commit may hold an answer (twice, with record()'s second attempt)."""


def _commit(entry: Entry) -> None:
    """The record, the user's day and one shard of the model's day (and the project cap's shards): one atomic commit."""
    from google.cloud import firestore

    db = firebase.db()
    totals = _totals(entry)
    increments = {key: firestore.Increment(value) for key, value in totals.items()}
    batch = db.batch()
    reservation = entry.reservation
    if reservation is not None and reservation.updated is None:
        # Served uncounted (LEDGER_DOWN_POLICY=open): the record was never written. It is created now, and what a
        # lease had reserved for the request moves to used, as a settle would.
        day = reservation.day
        user = db.collection(COLLECTION).document(entry.uid)
        batch.create(user.collection("records").document(entry.id), {**_fields(entry), "at": entry.at, "unbooked": True})
        batch.set(
            userdays.ref(entry.uid, day, userdays.pick()),
            {**increments, **_user_extra(entry, totals), "uid": entry.uid, "date": day, "updatedAt": entry.at},
            merge=True,
        )
        if reservation.tokens or reservation.cost:
            budgets.unreserve(batch, reservation.uid, day, reservation.tokens, reservation.cost, reservation.shards)
        budgets.book_cost(batch, day, entry.cost or 0.0)
        _book_org(batch, entry, day, totals)
    elif reservation is not None:
        day = reservation.day
        budgets.settle_writes(
            batch, reservation, {**_fields(entry), "settledAt": firestore.SERVER_TIMESTAMP}, totals, entry.cost or 0.0, _user_extra(entry, totals)
        )
    else:
        day = day_of(entry.at)
        user = db.collection(COLLECTION).document(entry.uid)
        batch.create(user.collection("records").document(entry.id), {**_fields(entry), "at": entry.at})
        day_ref = userdays.ref(entry.uid, day, userdays.pick())
        batch.set(day_ref, {**increments, **_user_extra(entry, totals), "uid": entry.uid, "date": day, "updatedAt": entry.at}, merge=True)
        _book_org(batch, entry, day, totals)
    if entry.model_id:
        shard = random.randrange(max(1, settings.USAGE_MODEL_SHARDS.value))
        ref = db.collection(MODELS_COLLECTION).document(entry.model_id).collection(MODEL_DAYS).document(f"{day}-{shard}")
        batch.set(
            ref,
            {**increments, **_model_extra(entry, totals), "modelId": entry.model_id, "date": day, "shard": shard, "updatedAt": entry.at},
            merge=True,
        )
    # Bounded: the client library would otherwise retry for a minute, holding the answer (and a stream
    # past its deadline) while Firestore struggles; record() tries once more, then logs the entry.
    batch.commit(retry=None, timeout=COMMIT_TIMEOUT_SECONDS)


def _book_org(batch: Any, entry: Entry, day: str, totals: dict[str, Any]) -> None:
    """An organisation's totals for a request that reserved nothing there (no budget at all, or served uncounted)."""
    if entry.org is not None:
        orgbudgets.settle_writes(batch, entry.org, day, entry.uid, entry.model_id, totals, entry.cost or 0.0, [], [])


def record(entry: Entry) -> None:
    """Commit ``entry`` now; a second attempt that finds the first landed (record there, or no longer reserved) stops.

    A settle that never lands leaves its reservation booked in full (:func:`sweep` marks it).
    """
    from google.api_core import exceptions

    for attempt in (1, 2):
        try:
            _commit(entry)
            return
        except (exceptions.AlreadyExists, exceptions.FailedPrecondition):
            return
        except Exception as exc:
            if attempt == 2:
                entry_log = {k: v for k, v in asdict(entry).items() if k != "reservation"}
                logs.error("usage entry not written", exception=type(exc).__name__, entry={**entry_log, "at": entry.at.isoformat()})


def quota_for(profile: dict[str, Any], role: str) -> dict[str, float]:
    """The caller's daily budgets: the user's own, else the role's; empty when unlimited."""
    from gateway import limits

    own = profile.get("quota")
    if isinstance(own, dict) and own:
        return {k: float(v) for k, v in own.items() if k in ("dailyTokens", "dailyCostUsd") and isinstance(v, int | float)}
    return dict(limits.config().quotas.get(role, {}))


def _count(value: Any) -> int | None:
    """A token count as a provider may give it: a non-negative integer, else None (not a count)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def details(usage: Any, prompt: int, completion: int, estimated: bool) -> tuple[int | None, int | None]:
    """(cached, reasoning): the provider's parts of the prompt and completion counts, when it gave them and they fit
    in the checked counts; None beside an estimate (a part of a guess is no count)."""
    if estimated:
        return None, None
    cached, reasoning = _count(getattr(usage, "cached_tokens", None)), _count(getattr(usage, "reasoning_tokens", None))
    return (cached if cached is not None and cached <= prompt else None), (reasoning if reasoning is not None and reasoning <= completion else None)


def checked(usage: Any, ask: budgets.Ask | None, sent: int) -> tuple[int, int, bool]:
    """(prompt, completion, estimated): the provider's counts where they are possible, estimates elsewhere.

    ``sent``: characters of text (and tool-call arguments) the stream or answer carried.
    """
    prompt = _count(getattr(usage, "prompt_tokens", None))
    completion = _count(getattr(usage, "completion_tokens", None))
    limit = ask.completion_limit if ask is not None else None
    if completion is not None and limit is not None and completion > limit:
        completion = None
    if usage is not None and (prompt is None or completion is None):
        given = (getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))
        if given != (None, None):
            logs.warn("provider usage is not a possible count; estimated instead", promptTokens=str(given[0])[:40], completionTokens=str(given[1])[:40])
    estimated = prompt is None or completion is None
    if prompt is None:
        prompt = ask.prompt_estimate if ask is not None else 0
    if completion is None:
        completion = budgets.tokens_for(sent)
    return prompt, completion, estimated


class Tracker:
    """One request's ledger entry: the first outcome (answered, failed, cut off) wins and is committed at once."""

    def __init__(
        self,
        uid: str,
        route: str,
        model_id: str | None,
        provider: str | None,
        before_ok: Callable[[], None] | None = None,
        ask: budgets.Ask | None = None,
        reservation: budgets.Reservation | None = None,
        org: str | None = None,
    ) -> None:
        self.uid, self.route, self.model_id, self.provider = uid, route, model_id, provider
        self.org = org
        self.started = time.perf_counter()
        self.entry: Entry | None = None
        self.commit_ms: float | None = None
        """How long the entry's commit held the answer (logged with the request as ``ledgerMs``)."""
        self.before_ok = before_ok
        """Runs before an answer is recorded (the rate-limit verdict: a refusal raises, and what was generated is booked as refused)."""
        self.ask, self.reservation = ask, reservation
        self.model: Any = None
        """The model that answered (a fallback may have), for prices of estimated counts."""
        self.sent_chars = 0
        self.later = False
        """Settle after the answer is sent (:meth:`flush`, run by the edge): the reservation already books the worst case."""
        self.pending: Entry | None = None

    def sent(self, text: str) -> None:
        """Text (or tool-call arguments) on its way to the client: what an estimate counts when the provider does not."""
        self.sent_chars += len(text)

    def _settle(self, status: str, **fields: Any) -> None:
        if self.entry is not None:
            return
        self.entry = Entry(
            uid=self.uid,
            route=self.route,
            model_id=fields.pop("model_id", self.model_id),
            provider=fields.pop("provider", self.provider),
            status=status,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 1),
            reservation=self.reservation,
            org=self.org,
            **fields,
            **({"id": self.reservation.record_id} if self.reservation is not None else {}),
        )
        if self.reservation is not None and self.reservation.updated is None and not limits.fail_open():
            # Its record was never written (Firestore failed beside the call): the lease still holds its worst case.
            logs.error("usage entry not written: its reservation's record is missing", uid=self.uid, status=status)
            return
        if self.later and self.reservation is not None and not self.reservation.tight:
            self.pending = self.entry  # the reservation holds the worst case durably: the answer need not wait
            return
        committing = time.perf_counter()
        record(self.entry)
        self.commit_ms = round((time.perf_counter() - committing) * 1000, 2)

    def flush(self) -> None:
        """Commit a settle left for after the answer (run once the response is sent; lost only with the instance, when
        the reservation stays booked in full and :func:`sweep` marks it)."""
        entry, self.pending = self.pending, None
        if entry is not None:
            record(entry)

    def _book(self, status: str, model: Any, usage: Any, cost: dict[str, Any] | None, **fields: Any) -> None:
        """Book tokens: the provider's checked counts, or estimates (priced at the model's prices)."""
        prompt, completion, estimated = checked(usage, self.ask, self.sent_chars)
        cached, reasoning = details(usage, prompt, completion, estimated)
        total = None if cost is None else cost.get("total")
        if estimated or total is None:
            prices = budgets.text_prices(model) if model is not None else None
            if prices is not None:
                total = prices.cost(prompt, completion, cached or 0)
            elif estimated:
                total = None
        self._settle(
            status,
            model_id=getattr(model, "id", self.model_id),
            provider=getattr(model, "provider", self.provider),
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            reasoning_tokens=reasoning,
            cost=total,
            estimated=estimated,
            **fields,
        )

    def ok(self, model: Any, usage: Any, cost: dict[str, Any] | None, images: int = 0, later: bool = False) -> None:
        """Answered by ``model`` (a fallback may have answered), with the provider's ``usage`` (None for images).

        ``later``: a JSON answer, whose edge runs :meth:`flush` after sending it; far from every limit
        the settle waits until then, so the answer waits on no Firestore round trip.
        """
        self.later = later
        if self.before_ok is not None:
            try:
                self.before_ok()
            except GatewayError as err:  # refused after the provider answered: what it generated is booked
                self._book("refused", model, usage, cost, error_code=err.code.value)
                raise
        self.model = model
        if images:
            price = budgets.image_price(model)
            total = cost.get("total") if cost is not None else None if price is None else round(price * images, 10)
            self._settle("ok", model_id=model.id, provider=model.provider, images=images, cost=total)
            return
        self._book("ok", model, usage, cost)

    def refused(self, err: GatewayError) -> None:
        """Refused (rate limit) after the provider call started: its prompt, and any text, are booked as estimated."""
        self._book("refused", self.model, None, None, error_code=err.code.value)

    def failed(self, err: GatewayError) -> None:
        """Failed: nothing generated is booked as 0, text already sent to the client as estimated tokens."""
        if self.sent_chars:
            self._book("error", self.model, None, None, error_code=err.code.value)
        else:
            self._settle("error", error_code=err.code.value)

    def cut_off(self) -> None:
        """The client went away mid-stream: the prompt and the text sent so far are booked, estimated."""
        self._book("cancelled", self.model, None, None)

    def use(self, model: Any) -> None:
        """The model whose stream is being relayed (its prices price the estimates)."""
        self.model = model


def sweep(older_than: timedelta, limit: int = 500) -> int:
    """Book reservations never settled (a killed instance) in full, as ``unsettled`` and estimated; how many.

    Run by the ``settle_leftovers`` scheduled function. Each is written only over
    the version the reservation left, so a late settle and the sweep never both book.
    """
    from google.api_core import exceptions
    from google.cloud.firestore_v1.base_query import FieldFilter

    cutoff = datetime.now(timezone.utc) - older_than
    query = (
        firebase.db().collection_group("records")
        .where(filter=FieldFilter("status", "==", "reserved"))
        .where(filter=FieldFilter("at", "<", cutoff))
        .limit(limit)
    )
    booked = 0
    for snap in query.stream():
        row = snap.to_dict() or {}
        uid = row.get("uid") or snap.reference.parent.parent.id
        reserved_tokens, reserved_cost = int(row.get("reservedTokens") or 0), float(row.get("reservedCost") or 0.0)
        at = row.get("at") or cutoff
        shards = budgets.shards_of(row)
        reservation = budgets.Reservation(uid, day_of(at), snap.id, reserved_tokens, reserved_cost, shards, snap.update_time)
        org = row.get("org") if isinstance(row.get("org"), str) else None
        if org is not None:
            held = row.get("orgShards") or {}
            reservation.org = org
            reservation.org_days, reservation.org_months = budgets.shards_of({"shards": held.get("days")}), budgets.shards_of({"shards": held.get("months")})
        entry = Entry(
            uid=uid, route=row.get("route") or "", model_id=row.get("modelId"), provider=row.get("provider"), status="unsettled",
            latency_ms=0.0, prompt_tokens=reserved_tokens, completion_tokens=0, images=int(row.get("images") or 0),
            cost=reserved_cost, estimated=True, at=at, id=snap.id, reservation=reservation, org=org,
        )
        try:
            _commit(entry)
            booked += 1
        except (exceptions.FailedPrecondition, exceptions.NotFound):
            continue  # settled meanwhile
    return booked
