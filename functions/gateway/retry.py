"""Retries with exponential backoff and full jitter, and the mapping of what is left to client errors.

Retried: connection failures (a connection refused, timed out while
connecting, or closed by the provider before any response header) and HTTP 408, 429, 500, 502, 503, 504, 529.
``Retry-After`` / ``retry-after-ms`` is the minimum wait; a provider asking
for more than ``MAX_WAIT_SECONDS`` is not waited for (the client gets its
``Retry-After``). Waits never add up past ``RETRY_TOTAL_SECONDS``. Callers
retry only before the first byte reaches the client.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import TypeVar

from gateway import answers_held, logs, settings
from gateway.errors import ErrorCode, GatewayError, busy
from gateway.providers.base import UpstreamError

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
BASE_SECONDS = 0.25
MAX_WAIT_SECONDS = 10.0

T = TypeVar("T")


def retryable(err: UpstreamError) -> bool:
    return err.kind in ("connect", "dropped") or (err.kind == "http" and err.status in RETRY_STATUSES)


def run(call: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()`` until it succeeds, a failure is final, or the attempts or time run out."""
    attempts = max(1, settings.RETRY_MAX_ATTEMPTS.value)
    deadline = time.monotonic() + settings.RETRY_TOTAL_SECONDS.value
    for attempt in range(attempts):
        try:
            return call()
        except UpstreamError as err:
            if attempt + 1 >= attempts or not retryable(err):
                raise
            wait = random.uniform(0, min(MAX_WAIT_SECONDS, BASE_SECONDS * 2**attempt))
            if err.retry_after is not None:
                if err.retry_after > MAX_WAIT_SECONDS:
                    raise
                wait = max(wait, err.retry_after)
            if time.monotonic() + wait > deadline:
                raise
            sleep(wait)
    raise AssertionError("unreachable")


def to_gateway_error(err: UpstreamError, provider: str) -> GatewayError:
    """What the client sees once retries are over."""
    details: dict[str, object] = {"provider": provider}
    if err.status is not None:
        details["upstreamStatus"] = err.status
    if err.kind == "timeout":
        return GatewayError(ErrorCode.PROVIDER_TIMEOUT, f"Provider '{provider}' timed out", details)
    if err.kind == "connect":
        return GatewayError(ErrorCode.PROVIDER_ERROR, f"Provider '{provider}' is unreachable", details)
    if err.kind == "dropped":
        return GatewayError(ErrorCode.PROVIDER_ERROR, f"Provider '{provider}' closed the connection before answering", details)
    if err.kind == "config":  # the reason stays in the log, like a refused address
        logs.warn("outbound call not sendable", provider=provider, reason=err.message)
        return GatewayError(
            ErrorCode.PROVIDER_ERROR, f"Provider '{provider}' has a URL or headers the gateway cannot send; an operator must fix them", details
        )
    if err.kind == "blocked":  # the address stays in the log: users need not learn the network's layout
        logs.warn("outbound call refused", provider=provider, reason=err.message)
        return GatewayError(
            ErrorCode.PROVIDER_ERROR, f"Provider '{provider}' is at an address the gateway may not call; an operator must fix its URL", details
        )
    if err.kind == "busy":  # this instance, not the provider: another instance may have room
        return busy("other requests' large answers", answers_held.RETRY_AFTER_SECONDS, {**details, "reason": "answers busy"})
    if err.kind == "protocol":
        return GatewayError(ErrorCode.PROVIDER_ERROR, f"Provider '{provider}' sent a broken answer: {err.message}", details)
    status = err.status or 502
    if status == 429:
        headers = {"Retry-After": str(max(1, math.ceil(err.retry_after)))} if err.retry_after is not None else {}
        if err.retry_after is not None:
            details["retryAfterSeconds"] = max(1, math.ceil(err.retry_after))
        return GatewayError(ErrorCode.RATE_LIMITED, f"Provider '{provider}' is rate limiting; try again later", details, headers)
    if status in (401, 403):
        return GatewayError(
            ErrorCode.PROVIDER_AUTH, f"Provider '{provider}' rejected the gateway's credentials; an operator must fix its key", details
        )
    if status in (400, 404, 413, 422):
        return GatewayError(ErrorCode.PROVIDER_BAD_REQUEST, f"Provider '{provider}' refused the request: {err.message}", details)
    return GatewayError(ErrorCode.PROVIDER_ERROR, f"Provider '{provider}' failed: {err.message}", details)
