"""Provider probes for the ``health`` function: concurrent, bounded, cached, free.

Each enabled ``providers/{id}`` document is probed with a GET of its
``healthCheckUrl`` when it has one, else with its adapter's ``health_check``
(a model-list or version endpoint with the provider's key, never a
generation, so a probe costs no tokens). All probes run at once and the
report waits at most the probe timeout, so one hanging provider cannot hold
``health`` up. The report is reused for ``HEALTH_CACHE_SECONDS``.

Where App Check replay protection is on, the report also says whether the
functions' service account may consume tokens (``appCheck``: a missing
``roles/firebaseappcheck.tokenVerifier`` makes the gateway ``degraded``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import Any

import httpx

from gateway import appcheck, firebase, providers_store, settings, upstream
from gateway.errors import ErrorCode, GatewayError
from gateway.providers.base import UpstreamError, build_request, transport_errors
from gateway.schemas import Provider

STARTED = time.monotonic()
_lock = threading.Lock()
_cached: tuple[float, dict[str, dict[str, Any]]] | None = None
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="health-probe")


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _check(provider: Provider, timeout: float) -> None:
    """Raise :class:`UpstreamError` unless the provider answers a free request."""
    if provider.healthCheckUrl:
        request = build_request(upstream.client(), "GET", provider.healthCheckUrl, timeout=httpx.Timeout(timeout, connect=timeout))
        with transport_errors(sending=True):
            response = upstream.client().send(request, stream=True)  # the status is the answer: the body is never read
        response.close()
        if response.status_code >= 500:
            raise UpstreamError(f"HTTP {response.status_code}", status=response.status_code)
        return
    adapter = providers_store.adapter(provider, list_timeout=timeout)
    if failure := providers_store.key_problem(provider, adapter):
        raise GatewayError(ErrorCode.PROVIDER_AUTH, f"key unreadable: {failure.summary}")  # public report: no project, no remedy
    adapter.health_check()


def _probe(provider: Provider, timeout: float) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"status": "healthy"}
    try:
        _check(provider, timeout)
    except UpstreamError as err:
        error = {"timeout": "timeout", "connect": "unreachable", "blocked": "address not allowed"}.get(err.kind, err.message)
        if err.status in (401, 403):
            error = "credentials rejected"
        result = {"status": "unhealthy", "error": error}
    except GatewayError as err:
        result = {"status": "unhealthy", "error": err.message}
    except Exception as exc:  # a probe must never break the report
        result = {"status": "unhealthy", "error": type(exc).__name__}
    result["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    result["checkedAt"] = _iso_now()
    return result


def _providers() -> dict[str, Provider | None]:
    """Enabled providers by id; None for a document too broken to probe."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = firebase.db().collection(providers_store.COLLECTION).where(filter=FieldFilter("enabled", "==", True))
    return {snap.id: providers_store.parse(snap.id, snap.to_dict() or {}) for snap in query.stream()}


def check_providers() -> dict[str, dict[str, Any]]:
    """Status of every enabled provider, probed at most once per cache period."""
    global _cached
    now = time.monotonic()
    if _cached is not None and _cached[0] > now:
        return _cached[1]
    with _lock:
        if _cached is not None and _cached[0] > time.monotonic():
            return _cached[1]
        timeout = settings.HEALTH_PROBE_TIMEOUT_MS.value / 1000
        results: dict[str, dict[str, Any]] = {}
        futures = {}
        for name, provider in _providers().items():
            if provider is None:
                results[name] = {"status": "unhealthy", "latencyMs": None, "checkedAt": _iso_now(), "error": "invalid provider document"}
            else:
                futures[name] = _pool.submit(_probe, provider, timeout)
        wait(futures.values(), timeout=timeout + 0.2)
        for name, future in futures.items():
            if future.done():
                results[name] = future.result()
            else:
                results[name] = {"status": "unhealthy", "latencyMs": None, "checkedAt": _iso_now(), "error": "timeout"}
        _cached = (time.monotonic() + settings.HEALTH_CACHE_SECONDS.value, results)
        return results


def _app_check(future: Future[dict[str, Any] | None], timeout: float) -> dict[str, Any] | None:
    """The App Check replay-protection check (``appcheck.probe``), bounded like a provider probe."""
    try:
        return future.result(timeout=timeout + 0.2)
    except TimeoutError:
        return {"status": "unhealthy", "routes": appcheck.replay_protected(), "latencyMs": None, "checkedAt": _iso_now(), "error": "timeout"}
    except Exception as exc:  # a probe must never break the report
        return {"status": "unhealthy", "routes": appcheck.replay_protected(), "latencyMs": None, "checkedAt": _iso_now(), "error": type(exc).__name__}


def reset() -> None:
    """Forget cached probe results."""
    global _cached
    _cached = None


def report() -> tuple[dict[str, Any], int]:
    """The health document and its HTTP status (200 healthy/degraded, 503 unhealthy)."""
    from gateway import __version__

    timeout = settings.HEALTH_PROBE_TIMEOUT_MS.value / 1000
    app_check = _pool.submit(appcheck.probe, timeout)  # beside the provider probes
    providers = check_providers()
    healthy = sum(1 for p in providers.values() if p["status"] == "healthy")
    total = len(providers)
    if healthy == total:
        status = "healthy"
    elif healthy:
        status = "degraded"
    else:
        status = "unhealthy"
    replay = _app_check(app_check, timeout)
    if replay is not None and replay["status"] != "healthy" and status == "healthy":
        status = "degraded"  # generation refused where replay protection is enforced; the rest works
    body = {
        "status": status,
        "timestamp": _iso_now(),
        "version": __version__,
        "api": {"status": "healthy", "uptimeSeconds": round(time.monotonic() - STARTED, 1)},
        "providers": providers,
        "summary": {"healthy": healthy, "total": total, "percentage": round(100 * healthy / total, 1) if total else 100.0},
    }
    if replay is not None:
        body["appCheck"] = replay
    return body, 503 if status == "unhealthy" else 200
