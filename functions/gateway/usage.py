"""The usage and cost ledger, daily aggregates, and daily quotas.

Every generation (text, image, OpenAI-compatible; streamed or not; failed or
not) is committed before its request ends: a JSON answer after the ledger
write, a stream's ``done`` event and ``[DONE]`` after it. Cloud Run throttles
CPU once a response is complete, and a killed instance loses its memory, so
nothing here is left for later. One commit per request, three documents:

- ``usage/{uid}/records/{id}`` (created: ``uid, modelId, provider, route,
  promptTokens, completionTokens, images, cost, latencyMs, status, at``);
- ``usage/{uid}/days/{yyyy-mm-dd}``: atomic increments of the same totals;
- ``usageModels/{modelId}/modelDays/{yyyy-mm-dd}-{shard}``: the per-model
  totals, spread over ``USAGE_MODEL_SHARDS`` documents so no document takes
  more than about one write per second per 100 requests/s; readers sum them.

The record's id is made once per request, and the commit *creates* it: a
retried commit whose first attempt landed fails as a whole, so increments are
never counted twice. A commit that fails twice is logged with the whole entry
(recoverable from the logs), and the answer is still sent.

Token counts are what the provider reported; where it reported none (a
stream cut off before its end) they are stored as null, never as 0.

Quotas: ``users/{uid}.quota`` or ``config/limits.quotas[role]`` may set
``dailyTokens`` and ``dailyCostUsd``; a request that would start over budget
is refused with 429 ``QUOTA_EXCEEDED`` until the next UTC midnight. The check
reads one day document, and only for users who have a quota.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from gateway import firebase, logs, settings
from gateway.errors import ErrorCode, GatewayError

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
    images: int = 0
    cost: float | None = None
    error_code: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """The record's document id: the same on every attempt to commit it."""


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
        "images": entry.images,
        "cost": entry.cost or 0.0,
    }


COMMIT_TIMEOUT_SECONDS = 5.0
"""Longest a ledger commit may hold an answer (twice, with record()'s second attempt)."""


def _commit(entry: Entry) -> None:
    """The record, the user's day and one shard of the model's day: one atomic commit, one round trip."""
    from google.cloud import firestore

    db = firebase.db()
    day = day_of(entry.at)
    batch = db.batch()
    user = db.collection(COLLECTION).document(entry.uid)
    batch.create(
        user.collection("records").document(entry.id),
        {
            "uid": entry.uid,
            "modelId": entry.model_id,
            "provider": entry.provider,
            "route": entry.route,
            "promptTokens": entry.prompt_tokens,
            "completionTokens": entry.completion_tokens,
            "images": entry.images,
            "cost": entry.cost,
            "latencyMs": entry.latency_ms,
            "status": entry.status,
            "errorCode": entry.error_code,
            "at": entry.at,
        },
    )
    increments = {key: firestore.Increment(value) for key, value in _totals(entry).items()}
    batch.set(user.collection("days").document(day), {**increments, "uid": entry.uid, "date": day, "updatedAt": entry.at}, merge=True)
    if entry.model_id:
        shard = random.randrange(max(1, settings.USAGE_MODEL_SHARDS.value))
        ref = db.collection(MODELS_COLLECTION).document(entry.model_id).collection(MODEL_DAYS).document(f"{day}-{shard}")
        batch.set(ref, {**increments, "modelId": entry.model_id, "date": day, "shard": shard, "updatedAt": entry.at}, merge=True)
    # Bounded: the client library would otherwise retry for a minute, holding the answer (and a stream
    # past its deadline) while Firestore struggles; record() tries once more, then logs the entry.
    batch.commit(retry=None, timeout=COMMIT_TIMEOUT_SECONDS)


def record(entry: Entry) -> None:
    """Commit ``entry`` now; a second attempt that finds the record already there means the first landed."""
    from google.api_core import exceptions

    for attempt in (1, 2):
        try:
            _commit(entry)
            return
        except exceptions.AlreadyExists:
            return
        except Exception as exc:
            if attempt == 2:
                logs.error("usage entry not written", exception=type(exc).__name__, entry={**asdict(entry), "at": entry.at.isoformat()})


def quota_for(profile: dict[str, Any], role: str) -> dict[str, float]:
    """The caller's daily budgets: the user's own, else the role's; empty when unlimited."""
    from gateway import limits

    own = profile.get("quota")
    if isinstance(own, dict) and own:
        return {k: float(v) for k, v in own.items() if k in ("dailyTokens", "dailyCostUsd") and isinstance(v, int | float)}
    return dict(limits.config().quotas.get(role, {}))


def quota_reset(now: datetime) -> datetime:
    """When daily budgets start again: the next UTC midnight."""
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def check_quota(uid: str, quota: dict[str, float]) -> None:
    """429 ``QUOTA_EXCEEDED`` when today's totals already reach a budget."""
    if not quota:
        return
    now = datetime.now(timezone.utc)
    today = firebase.db().collection(COLLECTION).document(uid).collection("days").document(day_of(now)).get().to_dict() or {}
    reset = quota_reset(now)
    for name, used in (("dailyTokens", today.get("totalTokens", 0)), ("dailyCostUsd", today.get("cost", 0.0))):
        if name in quota and used >= quota[name]:
            raise GatewayError(
                ErrorCode.QUOTA_EXCEEDED,
                f"Daily quota reached ({name} {quota[name]:g}); it resets at {reset.isoformat()}",
                {"quota": name, "limit": quota[name], "used": used, "resetAt": reset.isoformat()},
                headers={"Retry-After": str(int((reset - now).total_seconds()) + 1)},
            )


class Tracker:
    """One request's ledger entry: the first outcome (answered, failed, cut off) wins and is committed at once."""

    def __init__(self, uid: str, route: str, model_id: str | None, provider: str | None, before_ok: Callable[[], None] | None = None) -> None:
        self.uid, self.route, self.model_id, self.provider = uid, route, model_id, provider
        self.started = time.perf_counter()
        self.entry: Entry | None = None
        self.discarded = False
        self.commit_ms: float | None = None
        """How long the entry's commit held the answer (logged with the request as ``ledgerMs``)."""
        self.before_ok = before_ok
        """Runs before an answer is recorded (the rate-limit verdict: a refusal raises and nothing is recorded)."""

    def discard(self) -> None:
        """The request was refused after all (rate limit): it is not an entry of the ledger."""
        self.discarded = True

    def _settle(self, status: str, **fields: Any) -> None:
        if self.entry is not None or self.discarded:
            return
        self.entry = Entry(
            uid=self.uid,
            route=self.route,
            model_id=fields.pop("model_id", self.model_id),
            provider=fields.pop("provider", self.provider),
            status=status,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 1),
            **fields,
        )
        committing = time.perf_counter()
        record(self.entry)
        self.commit_ms = round((time.perf_counter() - committing) * 1000, 2)

    def ok(self, model: Any, usage: Any, cost: dict[str, Any] | None, images: int = 0) -> None:
        """Answered by ``model`` (a fallback may have answered), with the provider's ``usage`` (None for images)."""
        if self.before_ok is not None:
            self.before_ok()
        self._settle(
            "ok",
            model_id=model.id,
            provider=model.provider,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            images=images,
            cost=None if cost is None else cost.get("total"),
        )

    def failed(self, err: GatewayError) -> None:
        self._settle("error", error_code=err.code.value)

    def cut_off(self) -> None:
        """The client went away mid-stream: the provider never reported usage, so counts stay unknown."""
        self._settle("cancelled")
