"""``POST /models/batch``: many model operations, all or nothing, in one Firestore transaction with one audit record each.

Every operation is validated against the state the operations before it left
(a model created by operation 0 may be updated, enabled or named as a fallback
by operation 1); the first that fails answers 400, 404 or 409 naming
``operations.<i>.<field>`` and nothing is written. The rules are the single
writes' (``gateway.registry``): a model's provider is one of its catalogue's,
its fallbacks other models of it; a delete drops the model from the fallbacks
naming it and is refused while organisations are shared it. A transaction
holds at most 500 writes: :data:`MAX_OPERATIONS` keeps a batch (one document
and one audit record per operation) under it, and a batch whose deletes also
prune too many fallbacks is refused before anything is written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway import audit, firebase, providers_store
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.http import validate
from gateway.registry import collection, merge_patch, registry, shared_with
from gateway.schemas import MARKER_FIELD, SLUG, ModelSpec

MAX_OPERATIONS = 200
"""Operations per batch: each writes its model and its audit record (400 of Firestore's 500 writes per transaction)."""
MAX_WRITES = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateOp(_Strict):
    op: Literal["create"]
    model: ModelSpec


class UpdateOp(_Strict):
    op: Literal["update"]
    id: str = Field(pattern=SLUG)
    patch: dict[str, Any] = Field(description="A JSON merge patch (RFC 7396) of the model, as PATCH /models/{id} takes.")


class ToggleOp(_Strict):
    op: Literal["enable", "disable", "delete"]
    id: str = Field(pattern=SLUG)


Operation = Annotated[CreateOp | UpdateOp | ToggleOp, Field(discriminator="op")]


class BatchRequest(_Strict):
    """Body of ``POST /models/batch``."""

    operations: list[Operation] = Field(min_length=1, max_length=MAX_OPERATIONS)


def _at(index: int, err: GatewayError, prefix: str = "") -> GatewayError:
    """``err`` with its field(s) named as ``operations.<index>.<prefix><field>``."""
    details = dict(err.details or {})
    fields = details.get("fields")
    if isinstance(fields, list) and fields:
        fields = [{**f, "field": f"operations.{index}.{prefix}{f['field']}"} for f in fields]
        details["fields"] = fields
        first = fields[0]
        return GatewayError(err.code, f"{first['field']}: {first['message']}", details)
    field = f"operations.{index}.{'model.id' if prefix == 'model.' else 'id'}"
    details["field"] = field
    return GatewayError(err.code, f"{field}: {err.message}", details)


def _not_found(model_id: str) -> GatewayError:
    return GatewayError(ErrorCode.NOT_FOUND, f"Model '{model_id}' not found", {"id": model_id})


class _Plan:
    """The catalogue's documents the batch touches, as each operation leaves them, and the audit records to write."""

    def __init__(self, org: str | None, actor: str, docs: dict[str, dict[str, Any] | None], providers: set[str]) -> None:
        self.org = org
        self.actor = actor
        self.docs = docs
        self.original = dict(docs)
        self.providers = providers
        self.records: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = []

    def _check(self, spec: ModelSpec, before: dict[str, Any] | None) -> None:
        registry().check_labels(spec)
        if before is None or spec.provider != before.get("provider"):
            if spec.provider not in self.providers:
                owner = "no providers document" if self.org is None else f"not a provider of organisation '{self.org}'"
                raise invalid("provider", f"unknown provider '{spec.provider}' ({owner})")
        if before is None or spec.fallbacks != before.get("fallbacks", []):
            if spec.id in spec.fallbacks:
                raise invalid("fallbacks", f"'{spec.id}' is this model; a fallback must be another model")
            missing = [f for f in spec.fallbacks if self.docs.get(f) is None]
            if missing:
                raise invalid("fallbacks", f"unknown model(s) {', '.join(repr(m) for m in missing)}")

    def _put(self, action: str, model_id: str, after: dict[str, Any] | None) -> None:
        self.records.append((action, model_id, self.docs.get(model_id), after))
        self.docs[model_id] = after

    def apply(self, index: int, op: CreateOp | UpdateOp | ToggleOp) -> str:
        if isinstance(op, CreateOp):
            spec = op.model
            if self.docs.get(spec.id) is not None:
                raise _at(index, GatewayError(ErrorCode.ALREADY_EXISTS, f"Model '{spec.id}' already exists", {"id": spec.id}), "model.")
            try:
                self._check(spec, None)
            except GatewayError as err:
                raise _at(index, err, "model.") from None
            self._put("create", spec.id, registry().stamp(spec, None, self.actor))
            return spec.id
        before = self.docs.get(op.id)
        if before is None:
            raise _at(index, _not_found(op.id))
        if isinstance(op, UpdateOp):
            current = {k: v for k, v in before.items() if k in ModelSpec.model_fields}
            try:
                spec = validate(ModelSpec, {**merge_patch(current, op.patch), "id": op.id})
                self._check(spec, before)
            except GatewayError as err:
                raise _at(index, err, "patch.") from None
            self._put("update", op.id, registry().stamp(spec, before, self.actor))
        elif op.op in ("enable", "disable"):
            self._put("update", op.id, {**before, "enabled": op.op == "enable", "updatedAt": audit.now(), "updatedBy": str(self.actor)})
        else:
            sharing = shared_with(op.id, self.org)
            if sharing:
                raise _at(index, GatewayError(
                    ErrorCode.CONFLICT, f"Model '{op.id}' is shared with organisation(s) {', '.join(sharing)}: remove it from their sharedModels first",
                    {"id": op.id, "reason": "shared", "sharedWith": sharing},
                ))
            self._put("delete", op.id, None)
            for other, doc in list(self.docs.items()):
                if doc is not None and op.id in (doc.get("fallbacks") or []):
                    pruned = [f for f in doc["fallbacks"] if f != op.id]
                    self._put("update", other, {**doc, "fallbacks": pruned, "updatedAt": audit.now(), "updatedBy": str(self.actor)})
        return op.id


def run(operations: list[CreateOp | UpdateOp | ToggleOp], actor: str, org: str | None) -> dict[str, Any]:
    """Validate every operation, then write them all in one transaction (or nothing)."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    db = firebase.db()
    models = db.collection(collection(org))
    providers = db.collection(providers_store.collection(org))
    audits = db.collection(audit.COLLECTION)
    named: set[str] = set()
    provider_ids: set[str] = set()
    deleted: list[str] = []
    for op in operations:
        if isinstance(op, CreateOp):
            named.update([op.model.id, *op.model.fallbacks])
            provider_ids.add(op.model.provider)
        else:
            named.add(op.id)
            if isinstance(op, UpdateOp):
                fallbacks = op.patch.get("fallbacks")
                if isinstance(fallbacks, list):
                    named.update(f for f in fallbacks if isinstance(f, str))
                if isinstance(op.patch.get("provider"), str):
                    provider_ids.add(op.patch["provider"])
            elif op.op == "delete":
                deleted.append(op.id)

    @firestore.transactional
    def write(tx: Any) -> dict[str, Any]:
        refs = [models.document(m) for m in sorted(named)]
        snaps = {s.id: s for s in db.get_all(refs, transaction=tx)}
        docs: dict[str, dict[str, Any] | None] = {m: (s.to_dict() if s.exists else None) for m, s in snaps.items()}
        for model_id in deleted:  # the models naming a deleted one as a fallback: pruned, so read now
            for snap in models.where(filter=FieldFilter("fallbacks", "array_contains", model_id)).get(transaction=tx):
                docs.setdefault(snap.id, snap.to_dict())
        found = {s.id for s in db.get_all([providers.document(p) for p in sorted(provider_ids)], transaction=tx) if s.exists} if provider_ids else set()
        plan = _Plan(org, actor, docs, found)
        results = [{"op": op.op, "id": plan.apply(i, op)} for i, op in enumerate(operations)]
        changed = [m for m in plan.docs if plan.docs[m] != plan.original.get(m)]
        if len(changed) + len(plan.records) > MAX_WRITES:
            raise invalid("operations", f"would write {len(changed) + len(plan.records)} documents (models, pruned fallbacks and audit records); "
                                        f"at most {MAX_WRITES} in one batch: split it")
        markers: dict[str, str] = {}
        for action, model_id, before, after in plan.records:
            if after is None:
                snap = snaps.get(model_id)
                update_time = snap.update_time if snap is not None and snap.exists else None
                record_ref = audits.document(audit.delete_record_id(collection(org), model_id, update_time)) if update_time else audits.document()
            else:
                record_ref = audits.document()
                after = {**after, MARKER_FIELD: record_ref.id}
                markers[model_id] = record_ref.id
            tx.set(record_ref, audit.record(actor, action, collection(org), model_id, before, after, via="api"))
        for model_id in changed:
            after = plan.docs[model_id]
            if after is None:
                if plan.original.get(model_id) is not None:
                    tx.delete(models.document(model_id))
            else:
                tx.set(models.document(model_id), {**after, MARKER_FIELD: markers[model_id]})
        return {"org": org, "results": results}

    try:
        return write(db.transaction())
    finally:
        registry().invalidate()
