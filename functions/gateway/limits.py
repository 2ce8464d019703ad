"""Per-user, per-route rate limits that hold across every instance, in one Firestore round trip.

Each request adds 1 to a fixed one-minute window document
``ratelimits/{uid}:{route}:{windowStart}`` (or ``{uid}:model:{modelId}:{windowStart}``
when the model has a limit of its own: one counter for every function) with a merged
``Increment`` write; the commit answers with the counter's new value
(``transform_results``), so the check is exact under any concurrency and
costs one round trip, no read, no transaction. The request numbered N+1 and
later in a window is refused. Window documents carry ``expiresAt`` for a
Firestore TTL policy (``firestore.indexes.json``), so they do not pile up.

The write need not hold the provider call up (:func:`admit`): in the common
case it runs *while* the provider works, and the answer waits for its verdict
before its first byte leaves (:meth:`Admission.confirm`). Each instance
remembers, per counter, the last verdict it saw and how many unconfirmed
requests it has in flight; it overlaps only when the last known count left
more than a tenth of the limit and no other unconfirmed request of that
counter is in flight, and waits for the write first otherwise (and always
for expensive routes). So an over-limit burst starts at most one provider
call per instance that is then refused (and its stream closed before
anything reached the client), and the limit stays exact: every request is
still counted by the same write. Once an instance has seen a counter past
its limit, it refuses that counter's later requests in the window from
memory, without a write.

Limits come from ``config/limits`` (held live like the registry), else the
defaults: ``{"perMinute": {route: n}, "roles": {role: {route: n}},
"models": {modelId: n}}``. A model's own limit gets a counter of its own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from gateway import firebase, live, logs, settings
from gateway.errors import ErrorCode, GatewayError

COLLECTION = "ratelimits"
CONFIG_DOC = ("config", "limits")
WINDOW_SECONDS = 60
DEFAULTS = {"generate_text": 100, "generate_image": 20, "openai": 100}
DEFAULT_QUOTAS: dict[str, dict[str, float]] = {"user": {"dailyTokens": 200_000, "dailyCostUsd": 1.0}, "admin": {"dailyCostUsd": 10.0}}
"""Daily budgets per role while ``config/limits`` sets no ``quotas``: a fresh deploy is never unlimited."""


class LimitsConfig(BaseModel):
    perMinute: dict[str, int] = Field(default_factory=dict)
    roles: dict[str, dict[str, int]] = Field(default_factory=dict)
    models: dict[str, int] = Field(default_factory=dict)
    quotas: dict[str, dict[str, float]] = Field(default_factory=lambda: {role: dict(q) for role, q in DEFAULT_QUOTAS.items()})
    """Daily budgets per role: ``{"user": {"dailyTokens": 100000, "dailyCostUsd": 1.0}}``; absent: :data:`DEFAULT_QUOTAS`."""
    projectDailyCostUsd: float | None = Field(None, ge=0)
    """The project's daily cap in USD (``gateway.budgets``); absent: the ``PROJECT_DAILY_COST_USD`` param; null: none."""


@dataclass(frozen=True)
class Decision:
    limit: int
    remaining: int
    reset: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining), "X-RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset - int(time.time())))
        return headers


def _parse(doc_id: str, data: dict[str, Any]) -> LimitsConfig:
    try:
        return LimitsConfig.model_validate(data)
    except ValidationError as exc:
        logs.warn("invalid config/limits document; using defaults", errors=[e["msg"] for e in exc.errors()])
        return LimitsConfig()


_live: live.Live[LimitsConfig] = live.Live("/".join(CONFIG_DOC), _parse)


def config() -> LimitsConfig:
    """``config/limits``, live; the defaults when it is missing."""
    return _live.current().get(CONFIG_DOC[1]) or LimitsConfig()


def start() -> None:
    """Start listening to ``config/limits`` when limits are on (:meth:`gateway.live.Live.start`)."""
    if settings.RATE_LIMITS_ENABLED.value:
        _live.start()


def forget() -> None:
    """Read ``config/limits`` anew on next use, and forget the counts this instance saw."""
    _live.invalidate()
    with _lock:
        _known.clear()
        _unconfirmed.clear()


def limit_for(route: str, role: str, model_id: str | None) -> tuple[int, str | None]:
    """The requests-per-minute limit, and the model id when the model's own limit applies."""
    cfg = config()
    if model_id is not None and model_id in cfg.models:
        return cfg.models[model_id], model_id
    per_role = cfg.roles.get(role, {})
    if route in per_role:
        return per_role[route], None
    return cfg.perMinute.get(route, DEFAULTS.get(route, DEFAULTS["generate_text"])), None


def counter(uid: str, route: str, role: str, model_id: str | None) -> tuple[Any, dict[str, Any], int, int]:
    """This request's window document, the merged write that counts it, its limit and the window's reset.

    A model's own limit is one counter whichever function the request came through.
    """
    from google.cloud import firestore

    limit, keyed_model = limit_for(route, role, model_id)
    window = int(time.time()) // WINDOW_SECONDS * WINDOW_SECONDS
    reset = window + WINDOW_SECONDS
    key = f"{uid}:model:{keyed_model}:{window}" if keyed_model else f"{uid}:{route}:{window}"
    data = {
        "count": firestore.Increment(1),
        "uid": uid,
        "route": "model" if keyed_model else route,
        "windowStart": window,
        "expiresAt": datetime.fromtimestamp(reset + WINDOW_SECONDS, timezone.utc),
    }
    return firebase.db().collection(COLLECTION).document(key), data, limit, reset


def decision(limit: int, reset: int, count: int) -> Decision:
    return Decision(limit=limit, remaining=max(0, limit - count), reset=reset, allowed=count <= limit)


Also = Callable[[Any], Callable[[list[Any]], None]]
"""More writes for the count's commit: given the batch, adds them and returns what to do with their results."""


def check(uid: str, route: str, role: str, model_id: str | None = None, also: Also | None = None) -> Decision:
    """Count this request in its window; one Firestore write whose result says where the count stands (``also``: in the same commit)."""
    ref, data, limit, reset = counter(uid, route, role, model_id)
    try:
        with unavailable_as_503():
            if also is None:
                result = ref.set(data, merge=True, retry=None, timeout=WRITE_TIMEOUT_SECONDS)
            else:
                batch = firebase.db().batch()
                batch.set(ref, data, merge=True)
                done = also(batch)
                results = batch.commit(retry=None, timeout=WRITE_TIMEOUT_SECONDS)
                done(results[1:])
                result = results[0]
    except LedgerDown:
        if not fail_open():
            raise
        return Decision(limit=limit, remaining=limit, reset=reset, allowed=True)  # uncounted: served (LEDGER_DOWN_POLICY=open)
    return decision(limit, reset, int(result.transform_results[0].integer_value))


WRITE_TIMEOUT_SECONDS = 5.0
"""Longest a count (or a reservation, or a ledger commit) may hold a request: the client library would retry for a minute."""
RETRY_AFTER_SECONDS = 5


class LedgerDown(GatewayError):
    """Firestore could not take a request's count or reservation within :data:`WRITE_TIMEOUT_SECONDS`."""


def fail_open() -> bool:
    """The ``LEDGER_DOWN_POLICY`` param: ``open`` serves a request Firestore cannot count; anything else refuses it (503)."""
    return settings.LEDGER_DOWN_POLICY.value.strip().lower() == "open"


@contextlib.contextmanager
def unavailable_as_503() -> Iterator[None]:
    """Firestore failing or slow while a request is counted: :class:`LedgerDown`, a 503 with ``Retry-After``, before any provider call.

    Policy (``LEDGER_DOWN_POLICY``): ``closed`` (the default) lets it through,
    so a request that cannot be counted (and its budget reserved) is not
    served and nothing is ever answered unbooked; ``open`` has the callers
    catch it and serve the request uncounted, booking it when it settles if
    Firestore is back by then (logged with the whole entry otherwise).
    """
    from google.api_core import exceptions

    try:
        yield
    except (exceptions.GoogleAPICallError, exceptions.RetryError) as exc:
        policy = "served uncounted (LEDGER_DOWN_POLICY=open)" if fail_open() else "refused with 503"
        logs.warn(f"could not count a request in Firestore; {policy}", exception=type(exc).__name__)
        raise LedgerDown(
            ErrorCode.UNAVAILABLE,
            "The gateway could not record this request in time, so it was not sent to the provider; try again shortly",
            {"reason": "ledger_unavailable"},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None


_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="limiter")
_lock = threading.Lock()
_known: dict[tuple[str, str | None, str | None], tuple[int, int, int]] = {}
"""Per counter (uid, route, model key): (its window's reset, requests remaining or -1 when refused, the limit) at the last verdict this instance saw."""
_unconfirmed: set[tuple[str, str | None, str | None]] = set()
"""Counters with a request admitted before its count is known (at most one each)."""
MAX_KNOWN = 50_000


def headroom(limit: int) -> int:
    """How many requests must be left (as last seen) for the next one to go ahead before its count is known."""
    return max(1, limit // 10)


class Admission:
    """A request's place in its rate-limit window: decided, or still being counted while the provider works."""

    def __init__(self, future: Future[Decision] | None = None, headers: dict[str, str] | None = None) -> None:
        self._future = future
        self._headers = headers if headers is not None else {}
        self._confirmed = future is None

    def confirm(self) -> None:
        """Wait for the count; fill the X-RateLimit-* headers; 429 when over. Idempotent."""
        if self._confirmed or self._future is None:
            return
        self._confirmed = True
        decision = self._future.result()
        raise_if_refused(decision, self._headers)


def raise_if_refused(decision: Decision, headers: dict[str, str]) -> None:
    """Fill the X-RateLimit-* headers; 429 when the request is over its limit."""
    headers.update(decision.headers())
    if not decision.allowed:
        raise GatewayError(
            ErrorCode.RATE_LIMITED,
            f"Rate limit of {decision.limit} requests per minute reached; try again in {headers['Retry-After']} s",
            {"limit": decision.limit, "resetAt": decision.reset},
        )


def _remember(key: tuple[str, str | None, str | None], decision: Decision, optimistic: bool) -> None:
    with _lock:
        if len(_known) > MAX_KNOWN:
            _known.clear()
        _known[key] = (decision.reset, decision.remaining if decision.allowed else -1, decision.limit)
        if optimistic:
            _unconfirmed.discard(key)


def _refused_here(key: tuple[str, str | None, str | None], limit: int) -> Decision | None:
    """Refused without a write: this instance already saw the counter past its limit in the current window.

    A window's count only grows, so the verdict stands until the window ends;
    a caller hammering past its limit then costs no write per request (the
    window document would otherwise take one each, past Firestore's ~1
    write/s per document).
    """
    now = int(time.time())
    with _lock:
        reset, remaining, seen_limit = _known.get(key, (0, 0, limit))
    if reset > now and remaining < 0 and limit <= seen_limit:  # a raised limit is counted again
        return Decision(limit=limit, remaining=0, reset=reset, allowed=False)
    return None


def _key(uid: str, route: str, role: str, model_id: str | None) -> tuple[tuple[str, str | None, str | None], int]:
    limit, keyed_model = limit_for(route, role, model_id)
    return (uid, None if keyed_model else route, keyed_model), limit


def refuse_if_known(uid: str, route: str, role: str, model_id: str | None, headers: dict[str, str]) -> None:
    """429 from memory when this instance saw the counter past its limit in this window (:func:`_refused_here`), else nothing."""
    key, limit = _key(uid, route, role, model_id)
    if (refused := _refused_here(key, limit)) is not None:
        raise_if_refused(refused, headers)


def note(uid: str, route: str, role: str, model_id: str | None, decision: Decision) -> None:
    """Remember a verdict counted elsewhere (a budget's reservation commit), as :func:`admit` does its own."""
    _remember(_key(uid, route, role, model_id)[0], decision, optimistic=False)


def _may_overlap(key: tuple[str, str | None, str | None], limit: int) -> bool:
    """Go ahead before the count is known? Only far from the limit, and one unconfirmed request at a time."""
    now = int(time.time())
    with _lock:
        if key in _unconfirmed:
            return False
        reset, remaining, _ = _known.get(key, (0, limit, limit))
        if reset > now and remaining <= headroom(limit):
            return False
        _unconfirmed.add(key)
        return True


def admit(
    uid: str, route: str, role: str, model_id: str | None, headers: dict[str, str], overlap: bool, also: Also | None = None
) -> Admission:
    """Count the request; overlapped with the caller's work when :func:`_may_overlap` says so, else before it (429 here).

    ``also``: more writes for the same commit (a budget's record of the request).
    """
    key, limit = _key(uid, route, role, model_id)
    if (refused := _refused_here(key, limit)) is not None:
        raise_if_refused(refused, headers)

    def count(optimistic: bool) -> Decision:
        try:
            decision = check(uid, route, role, model_id, also)
        except BaseException:
            if optimistic:
                with _lock:
                    _unconfirmed.discard(key)
            raise
        _remember(key, decision, optimistic)
        return decision

    if overlap and _may_overlap(key, limit):
        return Admission(_pool.submit(count, True), headers)
    raise_if_refused(count(False), headers)
    return Admission(headers=headers)
