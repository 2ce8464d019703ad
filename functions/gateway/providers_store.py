"""Provider documents held in memory, kept current by a Firestore listener (:mod:`gateway.live`).

One listener on the collection group ``providers`` holds the project-wide
``providers/{id}`` and every organisation's ``orgs/{org}/providers/{id}``,
keyed by (organisation or None, id): a model's provider is looked up in its
own catalogue (:func:`of`), never another organisation's.
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import ValidationError

from gateway import live, logs, secrets, upstream
from gateway.errors import ErrorCode, GatewayError
from gateway.providers import adapter_class
from gateway.providers.base import Adapter, ProviderConfig
from gateway.schemas import KEY_BOUND, Model, Provider, from_document, key_binding

COLLECTION = "providers"


def parse(provider_id: str, data: dict[str, Any], org: str | None = None) -> Provider | None:
    """A stored provider document (of organisation ``org``) validated (unknown keys ignored); None, logged, when it is invalid."""
    try:
        provider, dropped = from_document(Provider, provider_id, data, org)
    except ValidationError as exc:
        logs.warn("invalid provider document", providerId=provider_id, errors=[e["msg"] for e in exc.errors()])
        return None
    if "secretName" in dropped and data.get("secretName") != provider.secretName:
        dropped.remove("secretName")
        logs.warn(
            "provider document names its own secret; ignored: the key is read from the gateway's secret only "
            "(store it with PATCH apiKey, or run seed/migrate_secrets.py)",
            providerId=provider_id,
            secret=provider.secretName,
        )
    if dropped:
        logs.warn("ignoring unknown fields in provider document", providerId=provider_id, fields=dropped)
    return provider


def _parse(key: tuple[str | None, str], data: dict[str, Any]) -> Provider | None:
    return parse(key[1], data, key[0])


_live: live.Live[Provider] = live.Live(COLLECTION, _parse, group=True)


def collection(org: str | None) -> str:
    """The collection holding ``org``'s providers (None: the project-wide ones)."""
    return COLLECTION if org is None else f"orgs/{org}/{COLLECTION}"


def get(provider_id: str, org: str | None = None) -> Provider | None:
    """One valid provider document of ``org``'s catalogue (None: project-wide), or None when missing or invalid."""
    return _live.current().get((org, provider_id))


def of(model: Model) -> Provider | None:
    """The model's provider: one of its own catalogue (an organisation's model never uses another's provider)."""
    return get(model.provider, model.org)


def offered(model: Model) -> bool:
    """What a user may pick and call: an enabled model of an enabled provider (read from memory, no Firestore read)."""
    provider = of(model)
    return model.enabled and provider is not None and provider.enabled


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
        app_url=provider.appUrl,
        app_title=provider.appTitle,
        image_base_url=provider.imageBaseUrl,
        allowed_hosts=tuple(provider.allowedHosts),
    )


def key(provider: Provider) -> str | None:
    """The provider's key: its secret when the gateway stored one (``hasKey``), else none (the emulators: the environment).

    ``hasKey`` is set only when a key is stored for this provider at its
    current addresses, so a provider deleted and created again, or moved to
    another host without its key, is never sent the key stored before.
    """
    if provider.hasKey:
        value = secrets.get(provider.secretName, provider.keyVersion)
        return value if value is None or bound(provider, value) else None
    return secrets.from_environment(provider.secretName)


def bound(provider: Provider, value: str) -> bool:
    """Whether the key ``value`` was stored for the provider's current addresses (``schemas.key_binding``)."""
    expected = key_binding(value, provider.id, {field: getattr(provider, field) for field in KEY_BOUND})
    return hmac.compare_digest(provider.keyBinding or "", expected)


def key_problem(provider: Provider, adapter: Adapter) -> secrets.SecretError | None:
    """Why a provider that has a stored key got none from Secret Manager (None: fine, or no key stored)."""
    if adapter.needs_key and provider.hasKey and not adapter.key:
        failure = secrets.problem(provider.secretName, provider.keyVersion)
        if failure is None and secrets.get(provider.secretName, provider.keyVersion):  # read fine: not bound to these addresses
            logs.warn("provider key not sent: its addresses changed outside the gateway", provider=provider.id)
            return secrets.SecretError(
                "unbound",
                provider.secretName,
                f"the key stored in {provider.secretName} was stored for other addresses than the document's "
                f"({', '.join(KEY_BOUND)} changed outside the gateway, e.g. in the Firestore console); it is not sent there. "
                f'If the new addresses are right, store the key again: PATCH /providers/{provider.id} {{"apiKey": ...}} or seed/set_secret.py {provider.id}',
            )
        return failure
    return None


def adapter(provider: Provider, list_timeout: float | None = None) -> Adapter:
    """The provider's adapter with its current key and the shared client; 503 when no adapter has its type."""
    cls = adapter_class(provider.type)
    if cls is None:
        raise GatewayError(ErrorCode.UNAVAILABLE, f"No adapter for provider type '{provider.type}'", {"provider": provider.id})
    instance = cls(config(provider), key(provider), upstream.client())
    if list_timeout is not None:
        instance.list_timeout = list_timeout
    return instance
