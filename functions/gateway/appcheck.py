"""Firebase App Check on the gateway's routes: off, monitor or enforce, per function.

Anyone can sign up to a public web app and get an ID token; App Check adds
"and the call comes from your app" (reCAPTCHA Enterprise, App Attest, Play
Integrity attest the client). The browser sends its token in
``X-Firebase-AppCheck``; :func:`check` verifies it with
``firebase_admin.app_check.verify_token`` (RS256 against App Check's JWKS,
audience = this project).

Modes come from the ``APP_CHECK`` param: ``off``, ``monitor`` (a missing or
invalid token is logged and counted, and the request is served) or
``enforce`` (401 ``UNAUTHENTICATED`` naming App Check). One value for every
function, or per function: ``monitor,generate_text=enforce,openai=off``.

Replay protection: the routes named in ``APP_CHECK_CONSUME`` (generation
routes only) take limited-use tokens and *consume* them with App Check's
backend, so a token that was already used is refused, even in another
instance. Consumed tokens are never cached; other tokens are cached until
they expire (a verified token costs one signature check per instance).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from typing import Any, Literal

from cachetools import TLRUCache
from flask import Request

from gateway import firebase, logs, settings
from gateway.errors import ErrorCode, GatewayError

HEADER = "X-Firebase-AppCheck"
Mode = Literal["off", "monitor", "enforce"]
MODES: frozenset[str] = frozenset({"off", "monitor", "enforce"})
CONSUMABLE_ROUTES = frozenset({"generate_text", "generate_image", "openai"})
"""Routes whose tokens may be limited-use (one per generation)."""

_lock = threading.Lock()
_verified: TLRUCache[str, float] = TLRUCache(maxsize=10_000, ttu=lambda _key, expiry, _now: expiry)
"""Hashes of verified (not limited-use) tokens -> when they expire (``time.monotonic``)."""
counts: Counter[str] = Counter()
"""This instance's App Check outcomes by ``route:outcome`` (``missing``, ``invalid``, ``replayed``, ``unverifiable``, ``valid``); also logged."""


def _parse(value: str, what: str) -> dict[str, str]:
    """``mode`` or ``mode,function=mode,...`` -> {function or '*': mode}."""
    modes: dict[str, str] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        route, _, mode = item.rpartition("=")
        modes[route.strip() or "*"] = mode.strip().lower()
    bad = {k: v for k, v in modes.items() if v not in MODES}
    if bad:
        raise ValueError(f"{what}: unknown mode(s) {bad}; use off, monitor or enforce")
    return modes


def mode(route: str) -> Mode:
    """The App Check mode of ``route`` (a function name) from ``APP_CHECK``."""
    try:
        modes = _parse(settings.APP_CHECK.value, "APP_CHECK")
    except ValueError as exc:  # a typo must not switch App Check off: fail closed
        logs.error("invalid APP_CHECK param; enforcing", reason=str(exc))
        return "enforce"
    return modes.get(route, modes.get("*", "off"))  # type: ignore[return-value]


def consumes(route: str) -> bool:
    """Whether ``route`` requires limited-use tokens (``APP_CHECK_CONSUME``)."""
    listed = {r.strip() for r in settings.APP_CHECK_CONSUME.value.split(",") if r.strip()}
    return route in listed and route in CONSUMABLE_ROUTES


def _refuse(outcome: str, message: str) -> GatewayError:
    return GatewayError(ErrorCode.UNAUTHENTICATED, message, {"appCheck": outcome})


def _note(route: str, outcome: str, current: Mode, request_id: str, reason: str | None = None) -> None:
    with _lock:
        counts[f"{route}:{outcome}"] += 1
    if outcome != "valid":
        logs.warn("app check failed", route=route, appCheck=outcome, mode=current, requestId=request_id, reason=reason)


def check(request: Request, route: str, request_id: str) -> dict[str, Any] | None:
    """Verify the request's App Check token as ``route``'s mode says; its claims, or None when not checked or not valid.

    Raises a 401 :class:`GatewayError` in ``enforce`` mode (503 when App Check itself could not be reached).
    """
    current = mode(route)
    if current == "off":
        return None
    token = request.headers.get(HEADER, "").strip()
    outcome, reason, claims = _verify(token, consumes(route))
    _note(route, outcome, current, request_id, reason)
    if outcome == "valid" or current == "monitor":
        return claims
    if outcome == "unverifiable":
        raise GatewayError(ErrorCode.UNAVAILABLE, "App Check could not verify the token right now; try again", {"appCheck": outcome})
    if outcome == "missing":
        raise _refuse(outcome, f"App Check token missing: send a Firebase App Check token in the {HEADER} header")
    if outcome == "replayed":
        raise _refuse(outcome, "App Check token already used: this route needs a new limited-use token per request")
    raise _refuse(outcome, "App Check token is invalid or expired")


def _verify(token: str, consume: bool) -> tuple[str, str | None, dict[str, Any] | None]:
    """``(outcome, reason, claims)`` for ``token``."""
    if not token:
        return "missing", None, None
    if len(token) > 4096:
        return "invalid", "too long", None
    key = hashlib.sha256(token.encode()).hexdigest()
    if not consume:
        with _lock:
            if key in _verified:
                return "valid", None, {}
    from firebase_admin import app_check, exceptions
    from jwt import PyJWKClientConnectionError

    try:
        claims = app_check.verify_token(token, app=firebase.app(), consume=consume)
    except (exceptions.FirebaseError, PyJWKClientConnectionError) as exc:  # App Check's keys or replay check unreachable
        return "unverifiable", f"{type(exc).__name__}: {exc}"[:300], None
    except Exception as exc:  # ValueError for a bad token, PyJWKClientError for an unknown key id
        return "invalid", f"{type(exc).__name__}: {exc}"[:300], None
    if consume:
        return ("replayed", None, claims) if claims.get("already_consumed") else ("valid", None, claims)
    expires = claims.get("exp")
    if isinstance(expires, int | float) and expires > time.time():
        with _lock:
            _verified[key] = time.monotonic() + (float(expires) - time.time())
    return "valid", None, claims


def forget() -> None:
    """Drop cached verdicts and counters (tests)."""
    with _lock:
        _verified.clear()
        counts.clear()
