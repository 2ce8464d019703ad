"""Provider probes for the ``health`` function: concurrent, bounded, cached, free.

Each enabled ``providers/{id}`` document is probed with a GET of its
``healthCheckUrl`` or, failing that, its ``baseUrl`` (a model-list or version
endpoint, never a generation, so a probe costs no tokens). All probes run at
once and the report waits at most the probe timeout, so one hanging provider
cannot hold ``health`` up. The report is reused for ``HEALTH_CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import Any

import httpx

from gateway import firebase, settings, upstream

STARTED = time.monotonic()
_lock = threading.Lock()
_cached: tuple[float, dict[str, dict[str, Any]]] | None = None
_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="health-probe")


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def probe_url(provider: dict[str, Any]) -> str | None:
    url = provider.get("healthCheckUrl") or provider.get("baseUrl")
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def _probe(url: str, timeout: float) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any]
    try:
        response = upstream.client().get(url, timeout=httpx.Timeout(timeout, connect=timeout))
        result = {"status": "healthy" if response.status_code < 500 else "unhealthy"}
        if response.status_code >= 500:
            result["error"] = f"HTTP {response.status_code}"
    except httpx.TimeoutException:
        result = {"status": "unhealthy", "error": "timeout"}
    except httpx.HTTPError as exc:
        result = {"status": "unhealthy", "error": type(exc).__name__}
    result["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    result["checkedAt"] = _iso_now()
    return result


def _providers() -> dict[str, dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = firebase.db().collection("providers").where(filter=FieldFilter("enabled", "==", True))
    return {snap.id: snap.to_dict() or {} for snap in query.stream()}


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
            url = probe_url(provider)
            if url is None:
                results[name] = {"status": "unhealthy", "latencyMs": None, "checkedAt": _iso_now(), "error": "no baseUrl"}
            else:
                futures[name] = _pool.submit(_probe, url, timeout)
        wait(futures.values(), timeout=timeout + 0.2)
        for name, future in futures.items():
            if future.done():
                results[name] = future.result()
            else:
                results[name] = {"status": "unhealthy", "latencyMs": None, "checkedAt": _iso_now(), "error": "timeout"}
        _cached = (time.monotonic() + settings.HEALTH_CACHE_SECONDS.value, results)
        return results


def reset() -> None:
    """Forget cached probe results."""
    global _cached
    _cached = None


def report() -> tuple[dict[str, Any], int]:
    """The health document and its HTTP status (200 healthy/degraded, 503 unhealthy)."""
    from gateway import __version__

    providers = check_providers()
    healthy = sum(1 for p in providers.values() if p["status"] == "healthy")
    total = len(providers)
    if healthy == total:
        status = "healthy"
    elif healthy:
        status = "degraded"
    else:
        status = "unhealthy"
    body = {
        "status": status,
        "timestamp": _iso_now(),
        "version": __version__,
        "api": {"status": "healthy", "uptimeSeconds": round(time.monotonic() - STARTED, 1)},
        "providers": providers,
        "summary": {"healthy": healthy, "total": total, "percentage": round(100 * healthy / total, 1) if total else 100.0},
    }
    return body, 503 if status == "unhealthy" else 200
