"""The usage and cost ledger, daily aggregates, and daily quotas.

Every generation (text, image, OpenAI-compatible; streamed or not; failed or
not) writes, in one batch (one round trip):

- ``usage/{uid}/records/{id}``: ``uid, modelId, provider, route,
  promptTokens, completionTokens, images, cost, latencyMs, status, at``;
- ``usage/{uid}/days/{yyyy-mm-dd}``: atomic increments of the same totals;
- ``usageModels/{modelId}/modelDays/{yyyy-mm-dd}``: the per-model totals admins read.

Token counts are what the provider reported; where it reported none (a
stream cut off before its end) they are stored as null, never as 0.

Quotas: ``users/{uid}.quota`` or ``config/limits.quotas[role]`` may set
``dailyTokens`` and ``dailyCostUsd``; a request that would start over budget
is refused with 429 ``QUOTA_EXCEEDED`` until the next UTC midnight. The check
reads one day document, and only for users who have a quota.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from gateway import firebase, logs
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


def day_of(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def record(entry: Entry) -> None:
    """Write the record and bump the day totals, in one batch; a ledger failure is logged, never raised."""
    from google.cloud import firestore

    at = datetime.now(timezone.utc)
    day = day_of(at)
    tokens = (entry.prompt_tokens or 0) + (entry.completion_tokens or 0)
    increments = {
        "requests": firestore.Increment(1),
        "errors": firestore.Increment(0 if entry.status == "ok" else 1),
        "promptTokens": firestore.Increment(entry.prompt_tokens or 0),
        "completionTokens": firestore.Increment(entry.completion_tokens or 0),
        "totalTokens": firestore.Increment(tokens),
        "images": firestore.Increment(entry.images),
        "cost": firestore.Increment(entry.cost or 0.0),
        "date": day,
        "updatedAt": at,
    }
    db = firebase.db()
    user = db.collection(COLLECTION).document(entry.uid)
    batch = db.batch()
    batch.set(
        user.collection("records").document(),
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
            "at": at,
        },
    )
    batch.set(user.collection("days").document(day), {**increments, "uid": entry.uid}, merge=True)
    if entry.model_id:
        model_day = db.collection(MODELS_COLLECTION).document(entry.model_id).collection(MODEL_DAYS).document(day)
        batch.set(model_day, {**increments, "modelId": entry.model_id}, merge=True)
    try:
        batch.commit()
    except Exception as exc:
        logs.error("usage ledger write failed", uid=entry.uid, route=entry.route, exception=type(exc).__name__)


def quota_for(profile: dict[str, Any], role: str) -> dict[str, float]:
    """The caller's daily budgets: the user's own, else the role's; empty when unlimited."""
    from gateway import limits

    own = profile.get("quota")
    if isinstance(own, dict) and own:
        return {k: float(v) for k, v in own.items() if k in ("dailyTokens", "dailyCostUsd") and isinstance(v, int | float)}
    return dict(limits.config().quotas.get(role, {}))


def check_quota(uid: str, quota: dict[str, float]) -> None:
    """429 ``QUOTA_EXCEEDED`` when today's totals already reach a budget."""
    if not quota:
        return
    now = datetime.now(timezone.utc)
    today = firebase.db().collection(COLLECTION).document(uid).collection("days").document(day_of(now)).get().to_dict() or {}
    reset = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    for field, used in (("dailyTokens", today.get("totalTokens", 0)), ("dailyCostUsd", today.get("cost", 0.0))):
        if field in quota and used >= quota[field]:
            raise GatewayError(
                ErrorCode.QUOTA_EXCEEDED,
                f"Daily quota reached ({field} {quota[field]:g}); it resets at {reset.isoformat()}",
                {"quota": field, "limit": quota[field], "used": used, "resetAt": reset.isoformat()},
                headers={"Retry-After": str(int((reset - now).total_seconds()) + 1)},
            )


class Tracker:
    """One request's ledger entry: the first outcome (answered, failed, cut off) wins; :meth:`flush` writes it.

    The edge flushes after the response has been sent, so the client never
    waits for the ledger's Firestore write.
    """

    def __init__(self, uid: str, route: str, model_id: str | None, provider: str | None) -> None:
        self.uid, self.route, self.model_id, self.provider = uid, route, model_id, provider
        self.started = time.perf_counter()
        self.entry: Entry | None = None
        self.written = False

    def flush(self) -> None:
        if self.entry is not None and not self.written:
            self.written = True
            record(self.entry)

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
            **fields,
        )

    def ok(self, model_id: str, provider: str, prompt_tokens: int | None, completion_tokens: int | None, cost: dict[str, Any] | None, images: int = 0) -> None:
        self._settle(
            "ok",
            model_id=model_id,
            provider=provider,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            images=images,
            cost=None if cost is None else cost.get("total"),
        )

    def failed(self, err: GatewayError) -> None:
        self._settle("error", error_code=err.code.value)

    def cut_off(self) -> None:
        """The client went away mid-stream: the provider never reported usage, so counts stay unknown."""
        self._settle("cancelled")
