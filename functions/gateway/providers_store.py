"""``providers/{id}`` documents held in memory, kept current by a Firestore listener (:mod:`gateway.live`)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from gateway import live, logs, secrets, upstream
from gateway.errors import ErrorCode, GatewayError
from gateway.providers import adapter_class
from gateway.providers.base import Adapter, ProviderConfig
from gateway.schemas import Provider, from_document

COLLECTION = "providers"


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


_live: live.Live[Provider] = live.Live(COLLECTION, parse)


def get(provider_id: str) -> Provider | None:
    """One valid provider document, or None when missing or invalid."""
    return _live.current().get(provider_id)


def start() -> None:
    """Start listening to ``providers`` (:meth:`gateway.live.Live.start`)."""
    _live.start()


def invalidate(provider_id: str | None = None) -> None:
    """Read the collection anew on next use (this instance wrote ``provider_id``)."""
    _live.invalidate()


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
        allowed_hosts=tuple(provider.allowedHosts),
    )


def adapter(provider: Provider, list_timeout: float | None = None) -> Adapter:
    """The provider's adapter with its current key and the shared client; 503 when no adapter has its type."""
    cls = adapter_class(provider.type)
    if cls is None:
        raise GatewayError(ErrorCode.UNAVAILABLE, f"No adapter for provider type '{provider.type}'", {"provider": provider.id})
    instance = cls(config(provider), secrets.get(provider.secretName, provider.keyVersion), upstream.client())
    if list_timeout is not None:
        instance.list_timeout = list_timeout
    return instance
