"""The usage and cost ledger, daily aggregates, and daily quotas.

Every generation (text, image, OpenAI-compatible; streamed or not; failed or
not) is queued after its response has been sent and written in batches
(:class:`Ledger`):

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

import atexit
import threading
import time
from dataclasses import dataclass, field
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


def day_of(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def _write(entries: list[Entry]) -> None:
    """Records plus their day totals, summed per user-day and model-day, in one batch (one round trip)."""
    from google.cloud import firestore

    db = firebase.db()
    batch = db.batch()
    users: dict[tuple[str, str], dict[str, Any]] = {}
    models: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        day = day_of(entry.at)
        batch.set(
            db.collection(COLLECTION).document(entry.uid).collection("records").document(),
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
        sums = [users.setdefault((entry.uid, day), {})]
        if entry.model_id:
            sums.append(models.setdefault((entry.model_id, day), {}))
        for total in sums:
            for key, value in (
                ("requests", 1),
                ("errors", 0 if entry.status == "ok" else 1),
                ("promptTokens", entry.prompt_tokens or 0),
                ("completionTokens", entry.completion_tokens or 0),
                ("totalTokens", (entry.prompt_tokens or 0) + (entry.completion_tokens or 0)),
                ("images", entry.images),
                ("cost", entry.cost or 0.0),
            ):
                total[key] = total.get(key, 0) + value
    now = datetime.now(timezone.utc)
    for (uid, day), total in users.items():
        ref = db.collection(COLLECTION).document(uid).collection("days").document(day)
        batch.set(ref, {**{k: firestore.Increment(v) for k, v in total.items()}, "uid": uid, "date": day, "updatedAt": now}, merge=True)
    for (model_id, day), total in models.items():
        ref = db.collection(MODELS_COLLECTION).document(model_id).collection(MODEL_DAYS).document(day)
        batch.set(ref, {**{k: firestore.Increment(v) for k, v in total.items()}, "modelId": model_id, "date": day, "updatedAt": now}, merge=True)
    batch.commit()


class Ledger:
    """Buffers entries and writes them in batches: at most every ``USAGE_FLUSH_MS`` or ``MAX_BATCH`` entries.

    One Firestore commit then carries many requests' records and their
    summed increments, so the ledger costs the hot path nothing and
    Firestore a fraction of a write per request. The buffer is flushed at
    interpreter exit (Cloud Run's SIGTERM grace period); a failed commit is
    retried once, then logged with the number of entries lost.
    """

    MAX_BATCH = 100

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        atexit.register(self.flush)

    def add(self, entry: Entry) -> None:
        interval = settings.USAGE_FLUSH_MS.value / 1000
        with self._lock:
            self._entries.append(entry)
            full = len(self._entries) >= self.MAX_BATCH
        if interval <= 0 or full:
            self.flush()
            return
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="usage-ledger", daemon=True)
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(settings.USAGE_FLUSH_MS.value / 1000)
            self.flush()

    def flush(self) -> None:
        """Write everything buffered now."""
        with self._lock:
            entries, self._entries = self._entries, []
        for start in range(0, len(entries), self.MAX_BATCH):
            chunk = entries[start : start + self.MAX_BATCH]
            for attempt in (1, 2):
                try:
                    _write(chunk)
                    break
                except Exception as exc:
                    if attempt == 2:
                        logs.error("usage ledger write failed; entries lost", entries=len(chunk), exception=type(exc).__name__)


_ledger: Ledger | None = None
_ledger_lock = threading.Lock()


def ledger() -> Ledger:
    global _ledger
    if _ledger is None:
        with _ledger_lock:
            if _ledger is None:
                _ledger = Ledger()
    return _ledger


def record(entry: Entry) -> None:
    """Queue one entry for the ledger."""
    ledger().add(entry)


def flush() -> None:
    """Write every queued entry now (tests, shutdown)."""
    ledger().flush()


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
    for name, used in (("dailyTokens", today.get("totalTokens", 0)), ("dailyCostUsd", today.get("cost", 0.0))):
        if name in quota and used >= quota[name]:
            raise GatewayError(
                ErrorCode.QUOTA_EXCEEDED,
                f"Daily quota reached ({name} {quota[name]:g}); it resets at {reset.isoformat()}",
                {"quota": name, "limit": quota[name], "used": used, "resetAt": reset.isoformat()},
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

    def ok(self, model: Any, usage: Any, cost: dict[str, Any] | None, images: int = 0) -> None:
        """Answered by ``model`` (a fallback may have answered), with the provider's ``usage`` (None for images)."""
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
