"""``providers/{id}`` documents read through a per-instance TTL cache (same bound as the registry)."""

from __future__ import annotations

import threading
import time
from typing import Any

from pydantic import ValidationError

from gateway import firebase, logs, secrets, settings, upstream
from gateway.errors import ErrorCode, GatewayError
from gateway.providers import adapter_class
from gateway.providers.base import Adapter, ProviderConfig
from gateway.schemas import Provider, from_document

COLLECTION = "providers"
_lock = threading.Lock()
_cache: dict[str, tuple[float, Provider | None]] = {}


def parse(provider_id: str, data: dict[str, Any]) -> Provider | None:
    """A stored provider document validated (unknown keys ignored); None, logged, when it is invalid."""
    try:
        provider, dropped = from_document(Provider, provider_id, data)
    except ValidationError as exc:
        logs.warn("invalid provider document", providerId=provider_id, errors=[e["msg"] for e in exc.errors()])
        return None
    if dropped:
        logs.warn("ignoring unknown fields in provider document", providerId=provider_id, fields=dropped)
    return provider


def get(provider_id: str) -> Provider | None:
    """One valid provider document, or None when missing or invalid."""
    now = time.monotonic()
    hit = _cache.get(provider_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    snap = firebase.db().collection(COLLECTION).document(provider_id).get()
    provider = parse(provider_id, snap.to_dict() or {}) if snap.exists else None
    with _lock:
        _cache[provider_id] = (now + settings.REGISTRY_CACHE_SECONDS.value, provider)
    return provider


def invalidate(provider_id: str | None = None) -> None:
    with _lock:
        if provider_id is None:
            _cache.clear()
        else:
            _cache.pop(provider_id, None)


def config(provider: Provider) -> ProviderConfig:
    return ProviderConfig(
        id=provider.id,
        type=provider.type,
        base_url=provider.baseUrl,
        headers=dict(provider.headers),
        secret_name=provider.secretName,
        app_url=provider.appUrl,
        app_title=provider.appTitle,
        image_base_url=provider.imageBaseUrl,
    )


def adapter(provider: Provider, list_timeout: float | None = None) -> Adapter:
    """The provider's adapter with its current key and the shared client; 503 when no adapter has its type."""
    cls = adapter_class(provider.type)
    if cls is None:
        raise GatewayError(ErrorCode.UNAVAILABLE, f"No adapter for provider type '{provider.type}'", {"provider": provider.id})
    instance = cls(config(provider), secrets.get(provider.secretName), upstream.client())
    if list_timeout is not None:
        instance.list_timeout = list_timeout
    return instance
