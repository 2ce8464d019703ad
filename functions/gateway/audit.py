"""The audit trail: ``audit/{id}`` records ``{actor, actorEmail, action, collection, docId, org, before, after, at, via}``.

``org`` is the organisation an org-scoped write belongs to (``orgs/{org}`` and
everything under it: members, the org's catalogue), taken from the path so
no writer can forget it; null for project-wide writes. Org managers read
their organisation's records through ``GET /orgs/{id}/audit``.

``actor`` is a uid (or ``console``/a seed script's name); ``actorEmail`` is the
caller's email when the API made the change (an :class:`Actor` carries it), so
the admins' audit page names people without looking anyone up. ``before`` and
``after`` never hold :data:`UNAUDITED` fields (a key's HMAC binding).

API writes add their record in the same transaction as the change and stamp
the changed document with ``lastAuditId``; a delete's record gets an id made
from the deleted version's update time. The Firestore trigger uses both marks
to tell API writes (already recorded) from console edits (recorded by it), and
names each console record after its CloudEvent (Eventarc delivers at least
once), so a redelivered event finds its record and adds none.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from gateway.schemas import MARKER_FIELD

COLLECTION = "audit"
UNAUDITED = frozenset({MARKER_FIELD, "keyBinding"})
"""Fields kept out of a record: the audit marker, and ``keyBinding`` (an HMAC keyed with the provider's key: a guessing oracle)."""


class Actor(str):
    """A caller's uid that also carries their email, for the audit record only.

    It is a ``str`` so every layer between the API and :func:`record` keeps
    storing the uid (``createdBy``, ``updatedBy``) as before, unchanged.
    """

    email: str | None

    def __new__(cls, uid: str, email: str | None = None) -> Actor:
        actor = super().__new__(cls, uid)
        actor.email = email
        return actor


def now() -> datetime:
    return datetime.now(timezone.utc)


def delete_record_id(collection: str, doc_id: str, update_time: Any) -> str:
    """The id of the record of deleting the version of a document last written at ``update_time``."""
    # A datetime with nanoseconds from a document read, a protobuf Timestamp from a collection-group query.
    stamp = update_time.timestamp_pb() if hasattr(update_time, "timestamp_pb") else update_time
    return f"delete-{collection.replace('/', '.')}-{doc_id}-{stamp.seconds}.{stamp.nanos:09d}"  # a sub-collection's "/" would nest


def org_of(collection: str, doc_id: str) -> str | None:
    """The organisation a write to ``collection/doc_id`` belongs to: ``orgs/{org}`` and its sub-collections; else None."""
    parts = collection.split("/")
    if parts[0] != "orgs":
        return None
    return parts[1] if len(parts) > 1 else doc_id


def record(
    actor: str,
    action: str,
    collection: str,
    doc_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    via: str,
    org: str | None = None,
) -> dict[str, Any]:
    """One audit record; ``org`` for a write outside ``orgs/`` that belongs to an organisation (its delete's cascade)."""
    def clean(data: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if data is None else {k: v for k, v in data.items() if k not in UNAUDITED}

    return {
        "actor": str(actor),
        "actorEmail": getattr(actor, "email", None),
        "action": action,
        "collection": collection,
        "docId": doc_id,
        "org": org or org_of(collection, doc_id),
        "before": clean(before),
        "after": clean(after),
        "at": now(),
        "via": via,
    }


def is_api_write(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    """True when a create/update came through the API (which already audited it)."""
    if after is None:
        return False
    marker = after.get(MARKER_FIELD)
    return bool(marker) and marker != (before or {}).get(MARKER_FIELD)


def console_record_id(event_id: str) -> str:
    """The id of the record of the console edit that CloudEvent ``event_id`` reports.

    Eventarc delivers an event at least once, with the same id each time, so a
    redelivery lands on the record the first delivery wrote. An id that could not
    name a document (a ``/``, or too long) is hashed.
    """
    if re.fullmatch(r"[A-Za-z0-9._:-]{1,200}", event_id):
        return f"console-{event_id}"
    return f"console-{hashlib.sha256(event_id.encode()).hexdigest()}"


def record_console_change(collection: str, doc_id: str, before: Any, after: Any, event_id: str) -> str | None:
    """Audit a write the API did not make; returns the new record id, or None if already audited.

    ``before``/``after`` are the trigger's document snapshots (``None`` or not ``exists`` when absent);
    ``event_id`` is the CloudEvent's id. Each record is created under an id the event determines
    (a delete's: the one an API delete of the same version uses), so a second delivery of the
    same event, or a delete the API already recorded, finds it there and writes nothing.
    """
    from google.api_core.exceptions import AlreadyExists

    from gateway import firebase

    before_data = before.to_dict() if before is not None and before.exists else None
    after_data = after.to_dict() if after is not None and after.exists else None
    if before_data is None and after_data is None:
        return None
    if after_data is not None and is_api_write(before_data, after_data):
        return None
    audit = firebase.db().collection(COLLECTION)
    if after_data is None:
        ref = audit.document(delete_record_id(collection, doc_id, before.update_time))
    else:
        ref = audit.document(console_record_id(event_id))
    action = "create" if before_data is None else "delete" if after_data is None else "update"
    try:
        ref.create(record("console", action, collection, doc_id, before_data, after_data, via="console"))
    except AlreadyExists:
        return None
    return ref.id


def write(
    collection: str,
    doc_id: str,
    actor: str,
    action: str,
    change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
) -> dict[str, Any] | None:
    """Apply ``change`` (before -> after, None deletes) to a document in one transaction with its audit record.

    ``change`` may raise to abort; nothing is written then.
    """
    from google.cloud import firestore

    from gateway import firebase

    db = firebase.db()
    ref = db.collection(collection).document(doc_id)
    audits = db.collection(COLLECTION)

    @firestore.transactional
    def run(tx: Any) -> dict[str, Any] | None:
        snap = ref.get(transaction=tx)
        before = snap.to_dict() if snap.exists else None
        after = change(before)
        if after is None:
            record_ref = audits.document(delete_record_id(collection, doc_id, snap.update_time))
            tx.delete(ref)
        else:
            record_ref = audits.document()
            after = {**after, MARKER_FIELD: record_ref.id}
            tx.set(ref, after)
        tx.set(record_ref, record(actor, action, collection, doc_id, before, after, via="api"))
        return after

    return run(db.transaction())


def add_to_batch(
    batch: Any, collection: str, doc_id: str, actor: str, action: str, before: dict[str, Any] | None, after: dict[str, Any], create: bool = False
) -> None:
    """Queue a marked write and its audit record in ``batch`` (many changes, one commit).

    ``create``: the commit fails with ``AlreadyExists`` (writing nothing) if the document exists by then.
    """
    from gateway import firebase

    db = firebase.db()
    record_ref = db.collection(COLLECTION).document()
    after = {**after, MARKER_FIELD: record_ref.id}
    ref = db.collection(collection).document(doc_id)
    if create:
        batch.create(ref, after)
    else:
        batch.set(ref, after)
    batch.set(record_ref, record(actor, action, collection, doc_id, before, after, via="api"))
