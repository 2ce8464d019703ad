"""Who is calling: Firebase ID token verification and role resolution.

``firebase_admin.auth.verify_id_token`` checks the signature against Google's
certificates in production. Under the Auth emulator it returns the unsigned
payload without checking ``exp``/``iat``, so the time claims are checked here
as well: an expired token is refused locally exactly as in production.

Roles: the ``role`` custom claim first, then ``users/{uid}.role``, then
``VERIFIED_ROLE`` for a verified email (when set), then ``DEFAULT_ROLE``
(committed as ``viewer``: a sign-up cannot spend until someone decides it
may). The user's Auth record (disabled, revocation time) and
``users/{uid}`` document are cached per instance for ``USER_CACHE_SECONDS``;
that is how long a role change or a disable takes to reach a warm instance.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from flask import Request

from gateway import firebase, settings
from gateway.errors import ErrorCode, GatewayError

ROLES = ("admin", "user", "viewer")
CLOCK_SKEW_SECONDS = 60


@dataclass(frozen=True)
class Caller:
    """A verified, signed-in caller."""

    uid: str
    role: str
    email: str | None
    claims: dict[str, Any]
    profile: dict[str, Any]
    """The ``users/{uid}`` document (cached), e.g. for quotas."""
    org: str | None = None
    """The organisation the request is for (``gateway.orgs.attach``); None: none named, project-wide as before."""
    org_role: str | None = None
    """The caller's role in :attr:`org` (``owner``, ``admin``, ``member``, ``viewer``; project admins: ``owner``)."""


@dataclass(frozen=True)
class _Account:
    disabled: bool
    valid_after_ms: int | None
    profile: dict[str, Any]


_lock = threading.Lock()
_tokens: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=4096, ttl=300)
_accounts: TTLCache[str, _Account] | None = None


def _unauthenticated(message: str) -> GatewayError:
    return GatewayError(ErrorCode.UNAUTHENTICATED, message, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthenticated("Missing or malformed Authorization header; expected 'Bearer <Firebase ID token>'")
    return token


def verify_token(token: str) -> dict[str, Any]:
    """The token's verified claims; 401 for anything not a live Firebase ID token."""
    key = hashlib.sha256(token.encode()).hexdigest()
    with _lock:
        claims = _tokens.get(key)
    if claims is None:
        from firebase_admin import auth as fb_auth

        try:
            claims = fb_auth.verify_id_token(token, app=firebase.app(), clock_skew_seconds=CLOCK_SKEW_SECONDS)
        except fb_auth.ExpiredIdTokenError:
            raise _unauthenticated("ID token has expired; get a fresh one with user.getIdToken()") from None
        except fb_auth.CertificateFetchError:
            raise GatewayError(ErrorCode.UNAVAILABLE, "Could not fetch token-signing certificates") from None
        except (fb_auth.InvalidIdTokenError, ValueError):
            raise _unauthenticated("ID token is invalid") from None
    _check_times(claims)
    with _lock:
        _tokens[key] = claims
    return claims


def _check_times(claims: dict[str, Any]) -> None:
    """Production's time checks, repeated because the Auth emulator skips them."""
    now = time.time()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise _unauthenticated("ID token is invalid")
    if exp + CLOCK_SKEW_SECONDS < now:
        raise _unauthenticated("ID token has expired; get a fresh one with user.getIdToken()")
    if iat - CLOCK_SKEW_SECONDS > now or claims.get("auth_time", iat) - CLOCK_SKEW_SECONDS > now:
        raise _unauthenticated("ID token is invalid")


def _account_cache() -> TTLCache[str, _Account]:
    global _accounts
    if _accounts is None:
        _accounts = TTLCache(maxsize=10_000, ttl=settings.USER_CACHE_SECONDS.value)
    return _accounts


def _account(uid: str) -> _Account:
    cache = _account_cache()
    with _lock:
        account = cache.get(uid)
    if account is not None:
        return account
    disabled, valid_after_ms = False, None
    if settings.CHECK_REVOKED.value:
        from firebase_admin import auth as fb_auth

        try:
            record = fb_auth.get_user(uid, app=firebase.app())
        except fb_auth.UserNotFoundError:
            raise _unauthenticated("User no longer exists") from None
        disabled, valid_after_ms = record.disabled, record.tokens_valid_after_timestamp
    snapshot = firebase.db().collection("users").document(uid).get()
    profile = snapshot.to_dict() or {}
    account = _Account(disabled=disabled or profile.get("disabled") is True, valid_after_ms=valid_after_ms, profile=profile)
    with _lock:
        cache[uid] = account
    return account


def forget(uid: str | None = None) -> None:
    """Drop cached accounts (all, or one uid) so the next request reads them anew."""
    with _lock:
        if uid is None:
            _account_cache().clear()
            _tokens.clear()
        else:
            _account_cache().pop(uid, None)


def authenticate(request: Request) -> Caller:
    """The caller of ``request``, or a 401/403 :class:`GatewayError`."""
    claims = verify_token(bearer_token(request))
    uid = claims["uid"]
    account = _account(uid)
    if account.valid_after_ms and claims["iat"] * 1000 < account.valid_after_ms:
        raise _unauthenticated("ID token has been revoked; sign in again")
    if account.disabled:
        raise GatewayError(ErrorCode.PERMISSION_DENIED, "This account is disabled")
    role = claims.get("role")
    if role not in ROLES:
        role = account.profile.get("role")
    if role not in ROLES and claims.get("email_verified") is True:
        role = settings.VERIFIED_ROLE.value
    if role not in ROLES:
        role = settings.DEFAULT_ROLE.value if settings.DEFAULT_ROLE.value in ROLES else "viewer"
    return Caller(uid=uid, role=role, email=claims.get("email"), claims=claims, profile=account.profile)
