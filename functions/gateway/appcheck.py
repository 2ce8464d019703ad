"""Firebase App Check on the gateway's routes: off, monitor or enforce, per function.

Anyone can sign up to a public web app and get an ID token; App Check adds
"and the call comes from your app" (reCAPTCHA Enterprise, App Attest, Play
Integrity attest the client). The browser sends its token in
``X-Firebase-AppCheck``; :func:`start` verifies it with
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
Consuming is one more API round trip per request, and it needs the IAM
permission ``firebaseappcheck.appCheckTokens.verify`` (role
:data:`VERIFIER_ROLE`) on the functions' service account. Without it the API
answers 403 to every call: that is the outcome ``permission_denied``, logged
as an error naming the role, answered 500 (the remedy only to admins) and
reported by ``health`` (:func:`probe`), never mistaken for an outage.

:func:`start` begins the verification beside the ID-token check (in a small
thread pool when it needs the network); the edge asks its verdict once the
caller is known, so a bad ID token is refused 401 whatever App Check says.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Literal

from cachetools import TLRUCache
from flask import Request

from gateway import deploy, firebase, logs, settings
from gateway.errors import ErrorCode, GatewayError

HEADER = "X-Firebase-AppCheck"
Mode = Literal["off", "monitor", "enforce"]
MODES: frozenset[str] = frozenset({"off", "monitor", "enforce"})
CONSUMABLE_ROUTES = frozenset({"generate_text", "generate_image", "openai"})
"""Routes whose tokens may be limited-use (one per generation)."""
PERMISSION = "firebaseappcheck.appCheckTokens.verify"
VERIFIER_ROLE = "roles/firebaseappcheck.tokenVerifier"
"""The role holding :data:`PERMISSION`, which consuming limited-use tokens needs (docs/deploy.md: Service accounts and IAM)."""
REMEDY = f"grant {VERIFIER_ROLE} (permission {PERMISSION}) to the service account the functions run as (GATEWAY_SERVICE_ACCOUNT)"
PROBE_TOKEN = "gateway-health-probe"
"""Sent by :func:`probe`: not a token, so a permitted caller is told 'invalid', a caller without the role 'denied'."""

_lock = threading.Lock()
_verified: TLRUCache[str, float] = TLRUCache(maxsize=10_000, ttu=lambda _key, expiry, _now: expiry)
"""Hashes of verified (not limited-use) tokens -> when they expire (``time.monotonic``)."""
counts: Counter[str] = Counter()
"""This instance's App Check outcomes by ``route:outcome`` (``missing``, ``invalid``, ``replayed``, ``unverifiable``,
``permission_denied``, ``valid``); also logged."""
_pool = ThreadPoolExecutor(max_workers=deploy.THREADS, thread_name_prefix="app-check")
"""As many as the requests an instance serves at once: a verification never queues behind another's round trip."""
_probed: tuple[float, dict[str, Any] | None] | None = None


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
    if outcome == "permission_denied":  # the operator's to fix: say exactly what
        logs.error(
            "app check replay check refused: the service account lacks the App Check token verifier role",
            route=route, appCheck=outcome, mode=current, requestId=request_id, permission=PERMISSION, role=VERIFIER_ROLE,
            remedy=REMEDY, reason=reason,
        )
    elif outcome != "valid":
        logs.warn("app check failed", route=route, appCheck=outcome, mode=current, requestId=request_id, reason=reason)


Verdict = Callable[[bool], "dict[str, Any] | None"]
"""Waits for a started verification and applies the route's mode: its claims, or a raised :class:`GatewayError`.
Its argument says whether the caller is an admin (who is shown the remedy of a misconfiguration)."""


def start(request: Request, route: str, request_id: str) -> Verdict:
    """Begin verifying the request's App Check token as ``route``'s mode says; the :data:`Verdict` to ask later.

    A check that needs the network (a consumed token, or a first sight of one)
    runs in a pool thread, so the caller's ID token is verified meanwhile.
    """
    current = mode(route)
    if current == "off":
        return lambda _admin: None
    token = request.headers.get(HEADER, "").strip()
    consume = consumes(route)

    def run() -> tuple[str, str | None, dict[str, Any] | None]:
        outcome, reason, claims = _verify(token, consume)
        _note(route, outcome, current, request_id, reason)
        return outcome, reason, claims

    future: Future[tuple[str, str | None, dict[str, Any] | None]]
    if token and (consume or not _cached(token)):
        future = _pool.submit(contextvars.copy_context().run, run)  # its log entries keep the request's trace
    else:  # missing, or verified before: nothing to wait for
        future = Future()
        future.set_result(run())
    return lambda admin: _apply(current, *future.result(), admin=admin)


def _apply(current: Mode, outcome: str, _reason: str | None, claims: dict[str, Any] | None, admin: bool) -> dict[str, Any] | None:
    """Claims, or the refusal ``enforce`` makes of ``outcome`` (``monitor`` serves whatever it was)."""
    if outcome == "valid" or current == "monitor":
        return claims
    if outcome == "permission_denied":
        details: dict[str, Any] = {"appCheck": outcome}
        if admin:
            details["remedy"] = REMEDY
        raise GatewayError(
            ErrorCode.INTERNAL,
            "App Check replay protection is not set up on the server (App Check refused the gateway's verification); "
            "an administrator must fix it: see the health report",
            details,
        )
    if outcome == "unverifiable":
        raise GatewayError(ErrorCode.UNAVAILABLE, "App Check could not verify the token right now; try again", {"appCheck": outcome})
    if outcome == "missing":
        raise _refuse(outcome, f"App Check token missing: send a Firebase App Check token in the {HEADER} header")
    if outcome == "replayed":
        raise _refuse(outcome, "App Check token already used: this route needs a new limited-use token per request")
    raise _refuse(outcome, "App Check token is invalid or expired")


def _cached(token: str) -> bool:
    key = hashlib.sha256(token.encode()).hexdigest()
    with _lock:
        return key in _verified


def refusal(body: Any) -> str:
    """What a 403 from App Check's API means: ``permission_denied`` (IAM, or the API disabled) or ``invalid`` (the token).

    App Check answers 403 both to a caller without :data:`PERMISSION` and for an
    invalid token; Google's IAM refusals say so (``IAM_PERMISSION_DENIED`` in
    their ``ErrorInfo``, "Permission '...' denied" in the message), as does a
    disabled API (``SERVICE_DISABLED``).
    """
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "invalid"
    reasons = {d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)}
    if reasons & {"IAM_PERMISSION_DENIED", "SERVICE_DISABLED", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}:
        return "permission_denied"
    message = str(error.get("message", "")).lower()
    if PERMISSION.lower() in message or message.startswith("permission") or "has not been used in project" in message:
        return "permission_denied"
    return "invalid"


def _body(response: Any) -> Any:
    try:
        return response.json()
    except Exception:
        return None


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
    except exceptions.PermissionDeniedError as exc:  # the replay check's 403: the gateway's IAM, or the token itself
        return refusal(_body(exc.http_response)), f"{type(exc).__name__}: {exc}"[:300], None
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


def replay_protected() -> list[str]:
    """The routes that consume limited-use tokens with App Check's API (so need :data:`VERIFIER_ROLE`)."""
    return sorted(r for r in CONSUMABLE_ROUTES if consumes(r) and mode(r) != "off")


def probe(timeout: float) -> dict[str, Any] | None:
    """``health``'s App Check check: may this service account consume tokens? None when no route consumes them.

    Each function is its own service, so ``health`` cannot see what
    ``generate_text`` was told: it asks App Check itself, with a token that is
    not one (at most once per ``HEALTH_CACHE_SECONDS``). An invalid-token 403
    means the call got past IAM; an IAM 403 names the missing role.
    """
    global _probed
    routes = replay_protected()
    if not routes:
        return None
    now = time.monotonic()
    cached = _probed
    if cached is not None and cached[0] > now:
        return cached[1]
    started = time.perf_counter()
    result: dict[str, Any] = {"status": "healthy", "routes": routes}
    error = _ask(timeout)
    if error:
        result = {"status": "unhealthy", "routes": routes, "error": error}
    result["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    result["checkedAt"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    _probed = (time.monotonic() + settings.HEALTH_CACHE_SECONDS.value, result)
    return result


def _ask(timeout: float) -> str | None:
    """None when App Check's verify API let this service account through; else why not, in a few words."""
    import requests
    from firebase_admin import app_check

    service = app_check._get_app_check_service(firebase.app())  # the SDK's own client, URL and credentials
    url = service._VERIFY_URL_FORMAT.format(project_id=service._project_id)
    try:
        service._http_client.body("post", url, json={"app_check_token": PROBE_TOKEN}, timeout=timeout)
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status == 403 and refusal(_body(exc.response)) == "permission_denied":
            logs.error("app check probe refused: the service account lacks the App Check token verifier role", remedy=REMEDY)
            return "permission denied: the functions' service account may not verify App Check tokens (the logs name the role it needs)"
        if status < 500:
            return None  # the token was judged, so the caller was allowed to ask
        return f"App Check API answered HTTP {status}"
    except requests.exceptions.RequestException as exc:
        return f"App Check API unreachable ({type(exc).__name__})"
    return None


def forget() -> None:
    """Drop cached verdicts, counters and the health probe (tests)."""
    global _probed
    with _lock:
        _verified.clear()
        counts.clear()
        _probed = None
