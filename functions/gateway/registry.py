"""The model registry: ``models/{id}`` held in memory, kept current by a Firestore listener.

Every instance of every function that reads models listens to the collection
(:mod:`gateway.live`): a change made through any function, the seed loader or
the console is served everywhere within tens of milliseconds, and a warm
request reads nothing from Firestore. Writes made through this module (the
``models`` function, the seed loader) run in a transaction with their audit
record; the writing instance then re-reads at once, so it reads its own write.

Documents edited by hand may be wrong: each is validated as it is read, an
invalid one is skipped and logged (a list never fails because of one), and
missing fields take their defaults.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway import audit, firebase, live, logs
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.schemas import Model, ModelSpec, model_from_document

COLLECTION = "models"
SORTS = ("name", "createdAt")


@dataclass(frozen=True)
class Query:
    """A list request: filters, sort order and a page."""

    type: str | None = None
    provider: str | None = None
    enabled: bool | None = None
    capability: str | None = None
    sort: str = "name"
    limit: int = 50
    page_token: str | None = None


class Registry:
    """Models by id and as a list, live; writes with audit and read-your-writes."""

    def __init__(self) -> None:
        self._live: live.Live[Model] = live.Live(COLLECTION, self._parse)

    @property
    def reads(self) -> int:
        """Direct Firestore reads of the collection so far (listener pushes excluded)."""
        return self._live.reads

    def _parse(self, doc_id: str, data: dict[str, Any]) -> Model | None:
        try:
            model, dropped = model_from_document(doc_id, data)
        except ValidationError as exc:
            logs.warn(
                "skipping invalid model document",
                modelId=doc_id,
                errors=[{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()],
            )
            return None
        if dropped:
            logs.warn("ignoring unknown fields in model document", modelId=doc_id, fields=dropped)
        return model

    def start(self) -> None:
        """Start listening to ``models`` without waiting (``http.Handler.reads``)."""
        self._live.start()

    def all(self) -> dict[str, Model]:
        """Every valid model by id (disabled ones included)."""
        return self._live.current()

    def get(self, model_id: str) -> Model | None:
        """One valid model, or None when it is missing or invalid."""
        return self.all().get(model_id)

    def invalidate(self, model_id: str | None = None) -> None:
        """Read the collection anew on next use (this instance wrote ``model_id``)."""
        self._live.invalidate()

    def list(self, query: Query, include_disabled: bool, keep: Callable[[Model], bool] | None = None) -> tuple[list[Model], str | None]:
        """One page of models matching ``query`` (and ``keep``, before paging), and the token of the next page."""
        models = [
            m
            for m in self.all().values()
            if (include_disabled or m.enabled)
            and (keep is None or keep(m))
            and (query.type is None or m.type == query.type)
            and (query.provider is None or m.provider == query.provider)
            and (query.enabled is None or m.enabled == query.enabled)
            and (query.capability is None or query.capability in m.capabilities)
        ]
        field, reverse = query.sort.lstrip("-"), query.sort.startswith("-")
        models.sort(key=lambda m: _sort_key(m, field), reverse=reverse)
        if query.page_token:
            after = _decode_token(query.page_token, query.sort)
            models = [m for m in models if (_sort_key(m, field) < after if reverse else _sort_key(m, field) > after)]
        page = models[: query.limit]
        more = len(models) > query.limit
        return page, _encode_token(query.sort, _sort_key(page[-1], field)) if more and page else None

    def _write(
        self,
        model_id: str,
        actor: str,
        action: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
    ) -> dict[str, Any] | None:
        """Apply ``change`` to the stored document with its audit record, then drop the cache."""
        try:
            return audit.write(COLLECTION, model_id, actor, action, change)
        finally:
            self.invalidate(model_id)

    def _check_provider(self, spec: ModelSpec) -> None:
        if not firebase.db().collection("providers").document(spec.provider).get().exists:
            raise invalid("provider", f"unknown provider '{spec.provider}' (no providers/{spec.provider} document)")

    @staticmethod
    def _check_labels(spec: ModelSpec) -> None:
        """A name or displayName of spaces shows as a blank entry in every picker: refused on write (stored ones are still read)."""
        if not spec.name.strip():
            raise invalid("name", "must not be blank")
        if spec.displayName is not None and not spec.displayName.strip():
            raise invalid("displayName", "must not be blank (send null, or leave it out, to show name)")

    def _check_fallbacks(self, spec: ModelSpec) -> None:
        """Fallbacks name other existing models: a typo or the model itself would only fail when the model is down."""
        if spec.id in spec.fallbacks:
            raise invalid("fallbacks", f"'{spec.id}' is this model; a fallback must be another model")
        if not spec.fallbacks:
            return
        refs = [firebase.db().collection(COLLECTION).document(f) for f in dict.fromkeys(spec.fallbacks)]
        found = {snap.id for snap in firebase.db().get_all(refs) if snap.exists}
        missing = [f for f in spec.fallbacks if f not in found]
        if missing:
            raise invalid("fallbacks", f"unknown model{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}")

    def _check(self, spec: ModelSpec) -> None:
        self._check_labels(spec)
        self._check_provider(spec)
        self._check_fallbacks(spec)

    def _stamp(self, spec: ModelSpec, before: dict[str, Any] | None, actor: str) -> dict[str, Any]:
        data = spec.model_dump(mode="json")
        data["config"] = spec.config.model_dump(exclude_none=True)
        at = audit.now()
        data["createdAt"] = (before or {}).get("createdAt", at)
        data["createdBy"] = (before or {}).get("createdBy", actor)
        data["updatedAt"] = at
        data["updatedBy"] = actor
        return data

    def create(self, spec: ModelSpec, actor: str) -> Model:
        self._check(spec)

        def change(before: dict[str, Any] | None) -> dict[str, Any]:
            if before is not None:
                raise GatewayError(ErrorCode.ALREADY_EXISTS, f"Model '{spec.id}' already exists", {"id": spec.id})
            return self._stamp(spec, None, actor)

        return self._stored(spec.id, self._write(spec.id, actor, "create", change))

    def replace(self, spec: ModelSpec, actor: str) -> Model:
        self._check(spec)

        def change(before: dict[str, Any] | None) -> dict[str, Any]:
            if before is None:
                raise _not_found(spec.id)
            return self._stamp(spec, before, actor)

        return self._stored(spec.id, self._write(spec.id, actor, "update", change))

    def patch(self, model_id: str, patch: dict[str, Any], actor: str) -> Model:
        """A JSON merge patch (RFC 7396) of the stored model, validated whole."""
        from gateway.http import validate

        def change(before: dict[str, Any] | None) -> dict[str, Any]:
            if before is None:
                raise _not_found(model_id)
            current = {k: v for k, v in before.items() if k in ModelSpec.model_fields}
            spec = validate(ModelSpec, {**merge_patch(current, patch), "id": model_id})
            self._check_labels(spec)
            if spec.provider != before.get("provider"):
                self._check_provider(spec)
            if spec.fallbacks != before.get("fallbacks", []):  # a fallback deleted since does not block other changes
                self._check_fallbacks(spec)
            return self._stamp(spec, before, actor)

        return self._stored(model_id, self._write(model_id, actor, "update", change))

    def delete(self, model_id: str, actor: str) -> None:
        def change(before: dict[str, Any] | None) -> None:
            if before is None:
                raise _not_found(model_id)
            return None

        self._write(model_id, actor, "delete", change)

    def _stored(self, model_id: str, data: dict[str, Any] | None) -> Model:
        model, _ = model_from_document(model_id, data or {})
        return model


def usable_model(model_id: str, types: tuple[str, ...], field_name: str = "modelId") -> Model:
    """An enabled model of one of ``types``: 404 when missing or disabled, 400 (naming the field) for another type."""
    model = registry().get(model_id)
    if model is None or not model.enabled:
        raise GatewayError(ErrorCode.NOT_FOUND, f"{field_name}: model '{model_id}' not found or disabled", {"field": field_name, "id": model_id})
    if model.type not in types:
        raise invalid(field_name, f"model '{model_id}' is a {model.type} model; this route needs {' or '.join(types)}")
    return model


def _not_found(model_id: str) -> GatewayError:
    return GatewayError(ErrorCode.NOT_FOUND, f"Model '{model_id}' not found", {"id": model_id})


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396: objects merge, ``null`` removes, anything else replaces."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = value
    return out


def _sort_key(model: Model, field: str) -> tuple[Any, str]:
    if field == "createdAt":
        return (model.createdAt.timestamp() if model.createdAt else 0.0, model.id)
    return (model.label.casefold(), model.id)


def _encode_token(sort: str, key: tuple[Any, str]) -> str:
    raw = json.dumps({"s": sort, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, sort: str) -> tuple[Any, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key = data["k"]
        if data["s"] != sort or not isinstance(key, list) or len(key) != 2:
            raise ValueError
        return (key[0], key[1])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid("pageToken", "not a page token of this listing (was sort changed?)") from None


_registry: Registry | None = None
_lock = threading.Lock()


def registry() -> Registry:
    """The instance-wide registry, created on first use."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = Registry()
    return _registry
