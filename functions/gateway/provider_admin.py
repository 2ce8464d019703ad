"""Provider administration: audited CRUD, keys into Secret Manager, live tests, discovery, import.

A key sent with a create or update (``apiKey``) is stored as a new version of
the provider's secret, which the gateway names (``AI_GATEWAY_PROVIDER_<ID>``,
:func:`gateway.secrets.name_for`), and never kept in Firestore or returned:
the document only says ``hasKey`` and ``keyVersion``. A stored key is never
sent to a new address: an update changing where the key goes
(:data:`~gateway.schemas.KEY_BOUND`) must carry the key again, or
``apiKey: null`` to drop it.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone
from typing import Any

from cachetools import TTLCache

from gateway import audit, firebase, generation, providers_store, secrets
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.http import validate
from gateway.providers.base import UpstreamError
from gateway.registry import collection as registry_collection
from gateway.registry import merge_patch, registry
from gateway.schemas import Model, ModelSpec, Provider, ProviderSpec, ProviderWrite, from_document, key_binding, key_moved

COLLECTION = providers_store.COLLECTION
DISCOVERY_SECONDS = 300
MAX_IMPORT = 200

_lock = threading.Lock()
_discovered: TTLCache[tuple[str | None, str], list[dict[str, Any]]] = TTLCache(maxsize=256, ttl=DISCOVERY_SECONDS)


def _not_found(provider_id: str) -> GatewayError:
    return GatewayError(ErrorCode.NOT_FOUND, f"Provider '{provider_id}' not found", {"id": provider_id})


def _collection(org: str | None) -> Any:
    return firebase.db().collection(providers_store.collection(org))


def all_providers(org: str | None = None) -> list[Provider]:
    """Every valid provider of ``org``'s catalogue (None: project-wide; invalid documents are logged and left out)."""
    parsed = (providers_store.parse(snap.id, snap.to_dict() or {}, org) for snap in _collection(org).stream())
    return sorted((p for p in parsed if p is not None), key=lambda p: p.id)


def get(provider_id: str, org: str | None = None) -> Provider:
    """A stored provider of ``org``'s catalogue; 404 when missing, 409 when the document is too broken to use (fix it with PUT)."""
    snap = _collection(org).document(provider_id).get()
    if not snap.exists:
        raise _not_found(provider_id)
    provider = providers_store.parse(provider_id, snap.to_dict() or {}, org)
    if provider is None:
        raise GatewayError(
            ErrorCode.CONFLICT, f"Provider document '{provider_id}' is invalid; replace it with PUT or delete it", {"id": provider_id}
        )
    return provider


def _check_secret_free(provider_id: str, org: str | None) -> None:
    """409 when another provider of the catalogue maps to the same secret (ids differing only by ``-``, ``.``, ``_``).

    Two catalogues never share one (:func:`gateway.secrets.name_for`)."""
    name = secrets.name_for(provider_id, org)
    for snap in _collection(org).select([]).stream():
        if snap.id != provider_id and secrets.name_for(snap.id, org) == name:
            raise GatewayError(
                ErrorCode.CONFLICT, f"Provider id '{provider_id}' would share its key's secret with provider '{snap.id}'; choose another id",
                {"id": provider_id, "conflictsWith": snap.id},
            )


def save(body: ProviderWrite, actor: str, create: bool, org: str | None = None) -> Provider:
    """Create or replace a provider; a given key goes to Secret Manager first, so a failed write leaves no half state in Firestore.

    An update that changes where the key goes (``baseUrl``, ``imageBaseUrl``,
    ``healthCheckUrl``, ``allowedHosts``) while a key is stored is a 400
    naming ``apiKey`` unless it carries the key again, or ``apiKey: null``
    (the stored key is then no longer used; Secret Manager keeps its versions).
    """
    spec = ProviderSpec.model_validate(body.model_dump(exclude={"apiKey"}))
    drop = "apiKey" in body.model_fields_set and body.apiKey is None
    name = secrets.name_for(spec.id, org)
    if create:
        _check_secret_free(spec.id, org)
    version: str | None = None
    if body.apiKey is not None:
        try:
            version = secrets.put(name, body.apiKey.get_secret_value())
        except secrets.SecretError as err:
            raise GatewayError(
                ErrorCode.UNAVAILABLE,
                f"Could not store the key in Secret Manager: {err.message}",
                {"secretName": name, "reason": err.kind},
            ) from None
        except Exception as exc:
            raise GatewayError(ErrorCode.UNAVAILABLE, f"Could not store the key in Secret Manager ({type(exc).__name__})") from None

    def change(before: dict[str, Any] | None) -> dict[str, Any]:
        if create and before is not None:
            raise GatewayError(ErrorCode.ALREADY_EXISTS, f"Provider '{spec.id}' already exists", {"id": spec.id})
        if not create and before is None:
            raise _not_found(spec.id)
        now = datetime.now(timezone.utc)
        kept = before or {}
        data = spec.model_dump(mode="json")
        kept_key = bool(kept.get("hasKey")) and not drop
        moved = key_moved(kept, data)
        if kept_key and version is None and moved:
            raise invalid(
                "apiKey",
                f"required when {', '.join(moved)} changes: a stored key is never sent to a new address; "
                "send the key again, or apiKey: null to drop the stored one",
            )
        return {
            **data,
            "hasKey": version is not None or kept_key,
            "keyVersion": version or (kept.get("keyVersion") if kept_key else None),
            "keyBinding": (
                key_binding(body.apiKey.get_secret_value(), spec.id, data) if version is not None and body.apiKey is not None
                else kept.get("keyBinding") if kept_key else None
            ),
            "healthStatus": kept.get("healthStatus"),
            "lastHealthCheck": kept.get("lastHealthCheck"),
            "createdAt": kept.get("createdAt", now),
            "createdBy": kept.get("createdBy", actor),
            "updatedAt": now,
            "updatedBy": actor,
        }

    try:
        after = audit.write(providers_store.collection(org), spec.id, actor, "create" if create else "update", change)
    finally:
        providers_store.invalidate(spec.id)
    return from_document(Provider, spec.id, after or {}, org)[0]


def merged(provider_id: str, patch: dict[str, Any], org: str | None = None) -> dict[str, Any]:
    """The stored spec with a JSON merge patch applied (for PATCH)."""
    current = get(provider_id, org).model_dump(mode="json", include=set(ProviderSpec.model_fields))
    return {**merge_patch(current, patch), "id": provider_id}


def dependents(provider_id: str, org: str | None = None) -> list[Model]:
    """The enabled models of the same catalogue using the provider (an organisation's models only use its own providers)."""
    registry().invalidate()
    return [m for m in registry().all(org).values() if m.provider == provider_id and m.enabled]


def delete(provider_id: str, actor: str, cascade: bool, org: str | None = None) -> list[str]:
    """Delete a provider (even an invalid document); 409 while enabled models use it, unless ``cascade`` disables them (audited)."""
    if not _collection(org).document(provider_id).get().exists:
        raise _not_found(provider_id)
    using = dependents(provider_id, org)
    if using and not cascade:
        raise GatewayError(
            ErrorCode.CONFLICT,
            f"Provider '{provider_id}' is used by {len(using)} enabled model(s); disable them or pass cascade=true",
            {"models": [m.id for m in using]},
        )
    for model in using:
        registry().patch(model.id, {"enabled": False}, actor, org)

    def change(before: dict[str, Any] | None) -> None:
        if before is None:
            raise _not_found(provider_id)
        return None

    try:
        audit.write(providers_store.collection(org), provider_id, actor, "delete", change)
    finally:
        providers_store.invalidate(provider_id)
    return [m.id for m in using]


def _check_key(provider: Provider, adapter: Any) -> None:
    """Raise :class:`secrets.SecretError` when the provider has a stored key that Secret Manager failed to give."""
    failure = providers_store.key_problem(provider, adapter)
    if failure is not None:
        raise failure


def test(provider_id: str, org: str | None = None) -> dict[str, Any]:
    """A live check: reachable, key accepted, latency, models visible; saved as ``healthStatus``/``lastHealthCheck``."""
    provider = get(provider_id, org)
    adapter = providers_store.adapter(provider)
    started = time.perf_counter()
    report: dict[str, Any] = {"provider": provider_id, "reachable": True, "authValid": True, "modelCount": None}
    try:
        _check_key(provider, adapter)
        models = adapter.list_models()
        report["modelCount"] = len(models)
        with _lock:
            _discovered[(org, provider_id)] = models
    except UpstreamError as err:
        report["reachable"] = err.kind not in ("connect", "timeout", "blocked")
        report["authValid"] = err.status not in (401, 403) if report["reachable"] else None
        report["error"] = err.message
    except secrets.SecretError as err:
        report.update({"reachable": None, "authValid": None, "error": f"key could not be read: {err.message}", "keyError": err.kind})
    report["latencyMs"] = round((time.perf_counter() - started) * 1000, 1)
    now = datetime.now(timezone.utc)
    report["status"] = "healthy" if report["reachable"] and report["authValid"] and "error" not in report else "unhealthy"
    report["checkedAt"] = now.isoformat()
    _collection(org).document(provider_id).update({"healthStatus": report["status"], "lastHealthCheck": now})
    providers_store.invalidate(provider_id)
    return report


def _price_per_1m(value: Any) -> float | None:
    try:
        return round(float(value) * 1_000_000, 6)
    except (TypeError, ValueError):
        return None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """One discovered model in one shape, whatever the provider's list looked like."""
    pricing = raw.get("pricing") if isinstance(raw.get("pricing"), dict) else None
    entry: dict[str, Any] = {
        "name": str(raw.get("id") or raw.get("name") or ""),
        "displayName": raw.get("display_name") or raw.get("displayName") or (raw.get("name") if raw.get("id") else None),
        "contextLength": raw.get("context_length") or raw.get("inputTokenLimit"),
        "pricing": None,
    }
    if pricing:
        entry["pricing"] = {"inputPer1M": _price_per_1m(pricing.get("prompt")), "outputPer1M": _price_per_1m(pricing.get("completion"))}
    return entry


def discover(provider_id: str, refresh: bool = False, org: str | None = None) -> list[dict[str, Any]]:
    """The provider's models (cached ``DISCOVERY_SECONDS``), normalised."""
    with _lock:
        cached = None if refresh else _discovered.get((org, provider_id))
    if cached is None:
        provider = get(provider_id, org)
        adapter = providers_store.adapter(provider)
        try:
            _check_key(provider, adapter)
        except secrets.SecretError as err:
            raise GatewayError(
                ErrorCode.PROVIDER_AUTH,
                f"Provider '{provider_id}' key could not be read: {err.message}",
                {"provider": provider_id, "secretName": provider.secretName, "reason": err.kind},
            ) from None
        cached = generation.call_provider_with(provider_id, lambda: adapter.list_models())
        with _lock:
            _discovered[(org, provider_id)] = cached
    return [n for n in (normalize(m) for m in cached) if n["name"]]


def slug(provider_id: str, name: str) -> str:
    text = re.sub(r"[^a-z0-9._-]+", "-", f"{provider_id}-{name}".lower()).strip("-.")
    return text[:64].rstrip("-.") or provider_id


def import_models(provider_id: str, wanted: list[dict[str, Any]], actor: str, org: str | None = None) -> dict[str, list[str]]:
    """Create or update registry models (of the provider's catalogue) from the discovery result, in one audited batch."""
    discovered = {m["name"]: m for m in discover(provider_id, org=org)}
    specs: list[ModelSpec] = []
    for index, item in enumerate(wanted):
        name = item.get("name")
        if name not in discovered:
            raise invalid(f"models.{index}.name", f"'{name}' is not among the provider's discovered models")
        found = discovered[name]
        data = {
            "id": item.get("id") or slug(provider_id, name),
            "name": name,
            "displayName": item.get("displayName") or found.get("displayName") or name,
            "provider": provider_id,
            "type": item.get("type", "text"),
            "enabled": item.get("enabled", False),
            "pricing": item.get("pricing") or found.get("pricing"),
            "capabilities": item.get("capabilities", []),
        }
        try:
            specs.append(validate(ModelSpec, data))
        except GatewayError as err:
            field = err.details["fields"][0]["field"]
            raise invalid(f"models.{index}.{field}", err.details["fields"][0]["message"]) from None
    db = firebase.db()
    models = registry_collection(org)
    refs = [db.collection(models).document(s.id) for s in specs]
    existing = {snap.id: snap.to_dict() for snap in db.get_all(refs) if snap.exists}
    batch = db.batch()
    created, updated = [], []
    now = datetime.now(timezone.utc)
    for spec in specs:
        before = existing.get(spec.id)
        after = {
            **(before or {}),
            **spec.model_dump(mode="json", exclude={"config"} if before else set()),
            "createdAt": (before or {}).get("createdAt", now),
            "createdBy": (before or {}).get("createdBy", actor),
            "updatedAt": now,
            "updatedBy": actor,
        }
        if before is None:
            after["config"] = spec.config.model_dump(exclude_none=True)
        audit.add_to_batch(batch, models, spec.id, actor, "update" if before else "create", before, after)
        (updated if before else created).append(spec.id)
    batch.commit()
    registry().invalidate()
    return {"created": created, "updated": updated}
