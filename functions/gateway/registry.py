"""The model registry: ``models/{id}`` and ``orgs/{org}/models/{id}`` held in memory, kept current by Firestore listeners.

Every instance of every function that reads models listens to the collection
group ``models`` (:mod:`gateway.live`), keyed by (organisation or None, id),
and to ``orgs`` for what each organisation is shared (``settings.sharedModels``): a change made through any function, the seed loader or
the console is served everywhere within tens of milliseconds, and a warm
request reads nothing from Firestore. Writes made through this module (the
``models`` function, the seed loader) run in a transaction with their audit
record; the writing instance then re-reads at once, so it reads its own write.

What a request may see and call is decided in one place, :meth:`Registry.find`
and :meth:`Registry.visible` (docs/orgs.md): with no organisation, the
project-wide models, as before; in organisation X, X's own models and the
project-wide ones X is shared, X's own id first. Anything else is a 404, the
same as an id that does not exist.

Documents edited by hand may be wrong: each is validated as it is read, an
invalid one is skipped and logged (a list never fails because of one), and
missing fields take their defaults.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway import audit, firebase, live, logs
from gateway import orgs as tenancy
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.schemas import MARKER_FIELD, Model, ModelSpec, model_from_document

COLLECTION = "models"
SORTS = ("name", "createdAt")
Key = tuple[str | None, str]


def collection(org: str | None) -> str:
    """The collection holding ``org``'s models (None: the project-wide ones)."""
    return COLLECTION if org is None else f"{tenancy.COLLECTION}/{org}/{COLLECTION}"


@dataclass(frozen=True)
class OrgView:
    """What requests need of an ``orgs/{id}`` document, held by the listener: what it is shared, and its settings (budgets)."""

    shared: frozenset[str]
    settings: dict[str, Any] | None


def _org_view(org_id: str, data: dict[str, Any]) -> OrgView:
    """An organisation document's shared models (anything malformed shares nothing) and settings as stored."""
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else None
    shared = (settings or {}).get("sharedModels")
    return OrgView(frozenset(m for m in shared if isinstance(m, str)) if isinstance(shared, list) else frozenset(), settings)


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
        self._live: live.Live[Model] = live.Live(COLLECTION, self._parse, group=True)
        self._orgs: live.Live[OrgView] = live.Live(tenancy.COLLECTION, _org_view)
        self._indexed: tuple[Any, dict[str | None, dict[str, Model]]] = (None, {})

    @property
    def reads(self) -> int:
        """Direct Firestore reads of the collection so far (listener pushes excluded)."""
        return self._live.reads

    def _parse(self, key: Key, data: dict[str, Any]) -> Model | None:
        org, doc_id = key
        try:
            model, dropped = model_from_document(doc_id, data, org)
        except ValidationError as exc:
            logs.warn(
                "skipping invalid model document",
                modelId=doc_id,
                org=org,
                errors=[{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()],
            )
            return None
        if dropped:
            logs.warn("ignoring unknown fields in model document", modelId=doc_id, org=org, fields=dropped)
        return model

    def start(self) -> None:
        """Start listening to ``models`` and ``orgs`` without waiting (``http.Handler.reads``)."""
        self._live.start()
        self._orgs.start()

    def _by_org(self) -> dict[str | None, dict[str, Model]]:
        """The held models by organisation then id, indexed once per version of the collection group."""
        data = self._live.current()
        held, index = self._indexed
        if held is not data:
            index = {}
            for (org, model_id), model in data.items():
                index.setdefault(org, {})[model_id] = model
            self._indexed = (data, index)
        return index

    def all(self, org: str | None = None) -> dict[str, Model]:
        """Every valid model of ``org``'s own catalogue (None: project-wide) by id, disabled ones included."""
        return self._by_org().get(org, {})

    def get(self, model_id: str, org: str | None = None) -> Model | None:
        """One valid model of ``org``'s own catalogue (None: project-wide), or None when it is missing or invalid."""
        return self.all(org).get(model_id)

    def shared(self, org: str) -> frozenset[str]:
        """The project-wide model ids organisation ``org`` is shared (its ``settings.sharedModels``), from the ``orgs`` listener."""
        view = self._orgs.current().get(org)
        return view.shared if view is not None else frozenset()

    def org_settings(self, org: str) -> dict[str, Any] | None:
        """Organisation ``org``'s settings as stored (None: no such organisation, or none stored), from the ``orgs`` listener:
        a cap changed anywhere applies everywhere within tens of milliseconds, like a model."""
        view = self._orgs.current().get(org)
        return view.settings if view is not None else None

    def visible(self, org: str | None) -> dict[str, Model]:
        """The models a request in ``org`` may see by id: its own, and the project-wide ones it is shared (its own id first).

        No organisation: the project-wide catalogue, as before organisations.
        """
        project = self.all(None)
        if org is None:
            return project
        shared = {m: project[m] for m in self.shared(org) if m in project}
        return {**shared, **self.all(org)}

    def find(self, org: str | None, model_id: str) -> Model | None:
        """The model ``model_id`` as a request in ``org`` names it: its own first, then a shared project-wide one; else None."""
        if org is None:
            return self.get(model_id)
        own = self.get(model_id, org)
        if own is not None:
            return own
        return self.get(model_id) if model_id in self.shared(org) else None

    def fallback(self, model: Model, fallback_id: str, org: str | None) -> Model | None:
        """``model``'s fallback ``fallback_id``: a model of the same catalogue, which a request in ``org`` may also call."""
        candidate = self.get(fallback_id, model.org)
        if candidate is None or (model.org is None and org is not None and fallback_id not in self.shared(org)):
            return None
        return candidate

    def invalidate(self, model_id: str | None = None) -> None:
        """Read the collection anew on next use (this instance wrote ``model_id``)."""
        self._live.invalidate()
        self._orgs.invalidate()

    def list(
        self, query: Query, include_disabled: bool, keep: Callable[[Model], bool] | None = None, models: Iterable[Model] | None = None
    ) -> tuple[list[Model], str | None]:
        """One page of ``models`` (default: the project-wide ones) matching ``query`` (and ``keep``, before paging), and the next page's token."""
        models = [
            m
            for m in (self.all().values() if models is None else models)
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
        org: str | None = None,
    ) -> dict[str, Any] | None:
        """Apply ``change`` to the stored document of ``org``'s catalogue with its audit record, then drop the cache."""
        try:
            return audit.write(collection(org), model_id, actor, action, change)
        finally:
            self.invalidate(model_id)

    @staticmethod
    def _check_provider(spec: ModelSpec, org: str | None) -> None:
        """The provider is one of the model's own catalogue: an organisation's model never uses another's (or the project's) key."""
        where = "providers" if org is None else f"{tenancy.COLLECTION}/{org}/providers"
        if not firebase.db().collection(where).document(spec.provider).get().exists:
            owner = f"no {where}/{spec.provider} document" if org is None else f"not a provider of organisation '{org}'"
            raise invalid("provider", f"unknown provider '{spec.provider}' ({owner})")

    @staticmethod
    def check_labels(spec: ModelSpec) -> None:
        """A name or displayName of spaces shows as a blank entry in every picker: refused on write (stored ones are still read)."""
        if not spec.name.strip():
            raise invalid("name", "must not be blank")
        if spec.displayName is not None and not spec.displayName.strip():
            raise invalid("displayName", "must not be blank (send null, or leave it out, to show name)")

    @staticmethod
    def _check_fallbacks(spec: ModelSpec, org: str | None) -> None:
        """Fallbacks name other existing models of the same catalogue: a typo or the model itself would only fail when the model is down."""
        if spec.id in spec.fallbacks:
            raise invalid("fallbacks", f"'{spec.id}' is this model; a fallback must be another model")
        if not spec.fallbacks:
            return
        refs = [firebase.db().collection(collection(org)).document(f) for f in dict.fromkeys(spec.fallbacks)]
        found = {snap.id for snap in firebase.db().get_all(refs) if snap.exists}
        missing = [f for f in spec.fallbacks if f not in found]
        if missing:
            where = "" if org is None else f" of organisation '{org}'"
            raise invalid("fallbacks", f"unknown model{'s' if len(missing) > 1 else ''}{where} {', '.join(repr(m) for m in missing)}")

    def check(self, spec: ModelSpec, org: str | None) -> None:
        """What a written model must satisfy beyond its schema: labels, its provider, its fallbacks (400 naming the field)."""
        self.check_labels(spec)
        self._check_provider(spec, org)
        self._check_fallbacks(spec, org)

    @staticmethod
    def stamp(spec: ModelSpec, before: dict[str, Any] | None, actor: str) -> dict[str, Any]:
        """The document stored for ``spec``: created* kept from ``before``, updated* now."""
        data = spec.model_dump(mode="json")
        data["config"] = spec.config.model_dump(exclude_none=True)
        at = audit.now()
        data["createdAt"] = (before or {}).get("createdAt", at)
        data["createdBy"] = (before or {}).get("createdBy", actor)
        data["updatedAt"] = at
        data["updatedBy"] = actor
        return data

    def create(self, spec: ModelSpec, actor: str, org: str | None = None) -> Model:
        self.check(spec, org)

        def change(before: dict[str, Any] | None) -> dict[str, Any]:
            if before is not None:
                raise GatewayError(ErrorCode.ALREADY_EXISTS, f"Model '{spec.id}' already exists", {"id": spec.id})
            return self.stamp(spec, None, actor)

        return self._stored(spec.id, self._write(spec.id, actor, "create", change, org), org)

    def replace(self, spec: ModelSpec, actor: str, org: str | None = None) -> Model:
        self.check(spec, org)

        def change(before: dict[str, Any] | None) -> dict[str, Any]:
            if before is None:
                raise _not_found(spec.id)
            return self.stamp(spec, before, actor)

        return self._stored(spec.id, self._write(spec.id, actor, "update", change, org), org)

    def patched(self, model_id: str, before: dict[str, Any], patch: dict[str, Any], org: str | None) -> ModelSpec:
        """The spec a JSON merge patch (RFC 7396) makes of the stored ``before``, validated whole (only changed references re-checked)."""
        from gateway.http import validate

        current = {k: v for k, v in before.items() if k in ModelSpec.model_fields}
        spec = validate(ModelSpec, {**merge_patch(current, patch), "id": model_id})
        self.check_labels(spec)
        if spec.provider != before.get("provider"):
            self._check_provider(spec, org)
        if spec.fallbacks != before.get("fallbacks", []):  # a fallback deleted since does not block other changes
            self._check_fallbacks(spec, org)
        return spec

    def patch(self, model_id: str, patch: dict[str, Any], actor: str, org: str | None = None) -> Model:
        """A JSON merge patch (RFC 7396) of the stored model, validated whole."""

        def change(before: dict[str, Any] | None) -> dict[str, Any]:
            if before is None:
                raise _not_found(model_id)
            return self.stamp(self.patched(model_id, before, patch, org), before, actor)

        return self._stored(model_id, self._write(model_id, actor, "update", change, org), org)

    def delete(self, model_id: str, actor: str, org: str | None = None) -> list[str]:
        """Delete a model, and drop it from the fallbacks of the models of its catalogue naming it, in one transaction
        with every audit record; 409 naming the organisations while it is shared with any (they would lose it).

        Returns the ids of the models whose fallbacks were changed.
        """
        refuse_if_shared(model_id, org)
        try:
            return _delete_with_fallbacks(collection(org), model_id, actor)
        finally:
            self.invalidate(model_id)

    @staticmethod
    def _stored(model_id: str, data: dict[str, Any] | None, org: str | None = None) -> Model:
        model, _ = model_from_document(model_id, data or {}, org)
        return model


def _delete_with_fallbacks(where: str, model_id: str, actor: str) -> list[str]:
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    db = firebase.db()
    ref = db.collection(where).document(model_id)
    using = db.collection(where).where(filter=FieldFilter("fallbacks", "array_contains", model_id))
    audits = db.collection(audit.COLLECTION)

    @firestore.transactional
    def run(tx: Any) -> list[str]:
        snap = ref.get(transaction=tx)
        if not snap.exists:
            raise _not_found(model_id)
        users = [u for u in using.get(transaction=tx) if u.id != model_id]  # every read before the first write
        for user in users:
            before = user.to_dict() or {}
            record_ref = audits.document()
            after = {
                **before, "fallbacks": [f for f in before.get("fallbacks", []) if f != model_id],
                "updatedAt": audit.now(), "updatedBy": str(actor), MARKER_FIELD: record_ref.id,
            }
            tx.set(user.reference, after)
            tx.set(record_ref, audit.record(actor, "update", where, user.id, before, after, via="api"))
        tx.delete(ref)
        record = audit.record(actor, "delete", where, model_id, snap.to_dict(), None, via="api")
        tx.set(audits.document(audit.delete_record_id(where, model_id, snap.update_time)), record)
        return sorted(u.id for u in users)

    return run(db.transaction())


def shared_with(model_id: str, org: str | None) -> list[str]:
    """The organisations a project-wide model is shared with, read now (an organisation's model is shared with none)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    if org is not None:
        return []
    sharing = firebase.db().collection(tenancy.COLLECTION).where(filter=FieldFilter("settings.sharedModels", "array_contains", model_id))
    return sorted(s.id for s in sharing.select([]).stream())


def refuse_if_shared(model_id: str, org: str | None) -> None:
    """409 CONFLICT naming the organisations a model is shared with: their members would lose it without a word."""
    orgs_using = shared_with(model_id, org)
    if orgs_using:
        raise GatewayError(
            ErrorCode.CONFLICT,
            f"Model '{model_id}' is shared with organisation(s) {', '.join(orgs_using)}: remove it from their sharedModels first",
            {"id": model_id, "reason": "shared", "sharedWith": orgs_using},
        )


def usable_model(model_id: str, types: tuple[str, ...], field_name: str = "modelId", org: str | None = None) -> Model:
    """An enabled model of one of ``types`` that a request in ``org`` may call (:meth:`Registry.find`): 404 when missing,
    disabled or not the organisation's, 400 (naming the field) for another type."""
    model = registry().find(org, model_id)
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
