"""Per-user, per-route rate limits that hold across every instance, in one Firestore round trip.

Each request adds 1 to a fixed one-minute window document
``ratelimits/{uid}:{route}[:{modelId}]:{windowStart}`` with a merged
``Increment`` write; the commit answers with the counter's new value
(``transform_results``), so the check is exact under any concurrency and
costs one round trip, no read, no transaction. The request numbered N+1 and
later in a window is refused. Window documents carry ``expiresAt`` for a
Firestore TTL policy (``firestore.indexes.json``), so they do not pile up.

Limits come from ``config/limits`` (held live like the registry), else the
defaults: ``{"perMinute": {route: n}, "roles": {role: {route: n}},
"models": {modelId: n}}``. A model's own limit gets a counter of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from gateway import firebase, live, logs
from gateway.errors import ErrorCode, GatewayError

COLLECTION = "ratelimits"
CONFIG_DOC = ("config", "limits")
WINDOW_SECONDS = 60
DEFAULTS = {"generate_text": 100, "generate_image": 20, "openai": 100}


class LimitsConfig(BaseModel):
    perMinute: dict[str, int] = Field(default_factory=dict)
    roles: dict[str, dict[str, int]] = Field(default_factory=dict)
    models: dict[str, int] = Field(default_factory=dict)
    quotas: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Daily budgets per role: ``{"user": {"dailyTokens": 100000, "dailyCostUsd": 1.0}}``."""


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


def forget() -> None:
    """Read ``config/limits`` anew on next use."""
    _live.invalidate()


def limit_for(route: str, role: str, model_id: str | None) -> tuple[int, str | None]:
    """The requests-per-minute limit, and the model id when the model's own limit applies."""
    cfg = config()
    if model_id is not None and model_id in cfg.models:
        return cfg.models[model_id], model_id
    per_role = cfg.roles.get(role, {})
    if route in per_role:
        return per_role[route], None
    return cfg.perMinute.get(route, DEFAULTS.get(route, DEFAULTS["generate_text"])), None


def check(uid: str, route: str, role: str, model_id: str | None = None) -> Decision:
    """Count this request in its window; one Firestore write whose result says where the count stands."""
    from google.cloud import firestore

    limit, keyed_model = limit_for(route, role, model_id)
    window = int(time.time()) // WINDOW_SECONDS * WINDOW_SECONDS
    reset = window + WINDOW_SECONDS
    key = ":".join(part for part in (uid, route, keyed_model, str(window)) if part)
    result = firebase.db().collection(COLLECTION).document(key).set(
        {
            "count": firestore.Increment(1),
            "uid": uid,
            "route": route,
            "windowStart": window,
            "expiresAt": datetime.fromtimestamp(reset + WINDOW_SECONDS, timezone.utc),
        },
        merge=True,
    )
    count = int(result.transform_results[0].integer_value)
    return Decision(limit=limit, remaining=max(0, limit - count), reset=reset, allowed=count <= limit)


def enforce(uid: str, route: str, role: str, model_id: str | None, headers: dict[str, str]) -> None:
    """Count the request; fill ``headers`` (sent with every answer, errors too) with X-RateLimit-* and Retry-After; 429 when over."""
    decision = check(uid, route, role, model_id)
    headers.update(decision.headers())
    if not decision.allowed:
        raise GatewayError(
            ErrorCode.RATE_LIMITED,
            f"Rate limit of {decision.limit} requests per minute reached; try again in {headers['Retry-After']} s",
            {"limit": decision.limit, "resetAt": decision.reset},
        )
