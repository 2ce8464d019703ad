"""Organisation administration: every write is one transaction (or batch) with its audit record(s).

Who may do what: project admins everything, in any organisation (they act as
its ``owner``); an org ``owner`` manages its organisation and members; an org
``admin`` the same except granting, changing or removing ``owner``; members
and viewers read. The last owner can be neither removed nor demoted (409).
Deleting an organisation deletes what belongs to it first, each step in
audited batches found by a query (so a delete that was interrupted is
finished by a retry): its catalogue (``orgs/{id}/models``, then
``orgs/{id}/providers`` with their keys' secrets), the conversations, stored
Responses API answers and image records made in it (collection-group queries on ``org``; the images'
Storage objects too), its members, and last the organisation itself. The
ledger and usage records that name it are kept: they are money history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway import audit, firebase, logs, orgs
from gateway.auth import Caller
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.schemas import MARKER_FIELD

DELETE_BATCH = 200
"""Members deleted per commit: each delete and its audit record, at most 400 writes."""


def _members_path(org_id: str) -> str:
    return f"{orgs.COLLECTION}/{org_id}/{orgs.MEMBERS}"


def _delete_record_id(collection: str, doc_id: str, update_time: Any) -> str:
    """``audit.delete_record_id`` for a sub-collection too: a ``/`` in a document id would name a nested path."""
    return audit.delete_record_id(collection.replace("/", "."), doc_id, update_time)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != MARKER_FIELD}


def _denied(message: str, **details: Any) -> GatewayError:
    return GatewayError(ErrorCode.PERMISSION_DENIED, message, details or None)


def _not_member() -> GatewayError:
    return _denied("id: not an organisation you are a member of", fields=[{"field": "id", "message": "not an organisation you are a member of"}])


def _checked_id(org_id: str) -> str:
    if not orgs.valid_id(org_id):
        raise invalid("id", f"not an organisation id ({orgs.ORG_ID}, not 'default')")
    return org_id


def role_of(org_id: str, caller: Caller) -> str:
    """The caller's org role, read now (not cached): the API decides writes on it. 403 (non-member), 404 (admin, no such org)."""
    _checked_id(org_id)
    if caller.role == "admin":
        if not orgs.org_ref(org_id).get().exists:
            raise GatewayError(ErrorCode.NOT_FOUND, f"Organisation '{org_id}' not found", {"id": org_id})
        return "owner"
    role = (orgs.member_ref(org_id, caller.uid).get().to_dict() or {}).get("role")
    if role not in orgs.ORG_ROLES:
        raise _not_member()
    return str(role)


def _manager(org_id: str, caller: Caller) -> str:
    role = role_of(org_id, caller)
    if role not in orgs.MANAGERS:
        raise _denied(f"Org role '{role}' may not change organisation '{org_id}'", orgRole=role, allowedOrgRoles=sorted(orgs.MANAGERS))
    return role


def org_view(org_id: str, data: dict[str, Any], role: str | None) -> dict[str, Any]:
    return orgs.Org.model_validate({**_clean(data), "id": org_id, "role": role}).model_dump(mode="json")


def member_view(uid: str, data: dict[str, Any]) -> dict[str, Any]:
    return orgs.Member.model_validate({k: v for k, v in _clean(data).items() if k in orgs.Member.model_fields} | {"uid": uid}).model_dump(mode="json")


def _page(query: Any, limit: int, token: str | None) -> tuple[list[Any], str | None]:
    from google.cloud.firestore_v1.field_path import FieldPath

    query = query.order_by(FieldPath.document_id()).limit(limit + 1)
    if token:
        query = query.start_after({FieldPath.document_id(): token})
    snaps = list(query.stream())
    more = len(snaps) > limit
    snaps = snaps[:limit]
    return snaps, (snaps[-1].id if more and snaps else None)


def list_orgs(caller: Caller, limit: int, token: str | None) -> dict[str, Any]:
    """Project admins: every organisation, paged by id. Others: the organisations they are a member of."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    db = firebase.db()
    if caller.role == "admin":
        if token is not None and not orgs.valid_id(token):
            raise invalid("pageToken", "not a page token of this list")
        snaps, next_token = _page(db.collection(orgs.COLLECTION), limit, token)
        return {"orgs": [org_view(s.id, s.to_dict() or {}, "owner") for s in snaps], "nextPageToken": next_token}
    found = db.collection_group(orgs.MEMBERS).where(filter=FieldFilter("uid", "==", caller.uid)).stream()
    roles = {snap.reference.parent.parent.id: (snap.to_dict() or {}).get("role") for snap in found}
    result = []
    for org_id in sorted(roles):
        snap = orgs.org_ref(org_id).get()
        if snap.exists and roles[org_id] in orgs.ORG_ROLES:
            result.append(org_view(org_id, snap.to_dict() or {}, roles[org_id]))
    return {"orgs": result, "nextPageToken": None}


def get_org(org_id: str, caller: Caller) -> dict[str, Any]:
    role = role_of(org_id, caller)
    snap = orgs.org_ref(org_id).get()
    if not snap.exists:  # deleted since the membership was read
        raise _not_member()
    members = list_members(org_id, caller, 500, None, role)["members"]
    return {**org_view(org_id, snap.to_dict() or {}, role), "members": members}


def list_members(org_id: str, caller: Caller, limit: int, token: str | None, role: str | None = None) -> dict[str, Any]:
    import re

    role = role or role_of(org_id, caller)
    if token is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", token):
        raise invalid("pageToken", "not a page token of this list")
    snaps, next_token = _page(orgs.org_ref(org_id).collection(orgs.MEMBERS), limit, token)
    return {"members": [member_view(s.id, s.to_dict() or {}) for s in snaps], "nextPageToken": next_token}


def _user_by_email(email: str) -> Any:
    from firebase_admin import auth as fb_auth

    try:
        return fb_auth.get_user_by_email(email, app=firebase.app())
    except fb_auth.UserNotFoundError:
        raise GatewayError(
            ErrorCode.NOT_FOUND, "email: no user with this email", {"fields": [{"field": "email", "message": "no user with this email"}]}
        ) from None
    except ValueError as exc:
        raise invalid("email", str(exc)) from None


def _member_doc(user: Any, role: str, actor: audit.Actor) -> dict[str, Any]:
    return {"uid": user.uid, "role": role, "email": user.email, "addedAt": audit.now(), "addedBy": str(actor)}


def create_org(body: orgs.OrgCreate, actor: audit.Actor) -> dict[str, Any]:
    """The organisation and (with ``ownerEmail``) its first owner, in one batch with their audit records; 409 for a taken id."""
    from google.api_core.exceptions import AlreadyExists

    org_id = _checked_id(body.id)
    owner = _user_by_email(body.ownerEmail) if body.ownerEmail else None
    data = {"name": body.name, "settings": body.settings.model_dump(mode="json"), "createdAt": audit.now(), "createdBy": str(actor)}
    batch = firebase.db().batch()
    audit.add_to_batch(batch, orgs.COLLECTION, org_id, actor, "create", None, data, create=True)
    if owner is not None:
        audit.add_to_batch(batch, _members_path(org_id), owner.uid, actor, "create", None, _member_doc(owner, "owner", actor))
    try:
        batch.commit()
    except AlreadyExists:
        raise GatewayError(ErrorCode.ALREADY_EXISTS, f"Organisation '{org_id}' already exists", {"id": org_id}) from None
    orgs.forget(org_id)
    return org_view(org_id, data, "owner")


def _transaction(run: Callable[[Any], Any]) -> Any:
    from google.cloud import firestore

    db = firebase.db()
    return firestore.transactional(run)(db.transaction())


def _audited_set(tx: Any, collection: str, doc_id: str, actor: audit.Actor, action: str, before: dict[str, Any] | None, after: dict[str, Any] | None, update_time: Any = None) -> dict[str, Any] | None:
    db = firebase.db()
    ref = db.collection(collection).document(doc_id)
    if after is None:
        record_ref = db.collection(audit.COLLECTION).document(_delete_record_id(collection, doc_id, update_time))
        tx.delete(ref)
    else:
        record_ref = db.collection(audit.COLLECTION).document()
        after = {**after, MARKER_FIELD: record_ref.id}
        tx.set(ref, after)
    tx.set(record_ref, audit.record(actor, action, collection, doc_id, before, after, via="api"))
    return after


ADMIN_SETTINGS = ("dailyCostUsd", "monthlyCostUsd", "sharedModels")
"""Settings only project admins change: what an organisation may spend and which project-wide models it may call."""


def _settings_after(given: orgs.OrgSettings, stored: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """The settings to store. Org managers: ``ADMIN_SETTINGS`` left out are kept; given and changed, a 403 naming the field."""
    after = given.model_dump(mode="json")
    if caller.role == "admin":
        return after
    current = orgs.OrgSettings.model_validate(stored or {}).model_dump(mode="json")
    for name in ADMIN_SETTINGS:
        if name not in given.model_fields_set:
            after[name] = current[name]
        elif after[name] != current[name]:
            field = f"settings.{name}"
            raise _denied(f"{field}: only project admins change it", fields=[{"field": field, "message": "only project admins change it"}])
    return after


def update_org(org_id: str, patch: orgs.OrgPatch, caller: Caller, actor: audit.Actor) -> dict[str, Any]:
    role = _manager(org_id, caller)
    ref = orgs.org_ref(org_id)

    def run(tx: Any) -> dict[str, Any]:
        snap = ref.get(transaction=tx)
        if not snap.exists:
            raise _not_member()
        before = snap.to_dict() or {}
        after = dict(before)
        if patch.name is not None:
            after["name"] = patch.name
        if patch.settings is not None:
            after["settings"] = _settings_after(patch.settings, before.get("settings") or {}, caller)
        after["updatedAt"], after["updatedBy"] = audit.now(), str(actor)
        return _audited_set(tx, orgs.COLLECTION, org_id, actor, "update", before, after) or {}

    return org_view(org_id, _transaction(run), role)


def _owners(tx: Any, org_id: str) -> list[str]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = orgs.org_ref(org_id).collection(orgs.MEMBERS).where(filter=FieldFilter("role", "==", "owner")).limit(2)
    return [snap.id for snap in query.stream(transaction=tx)]


def add_member(org_id: str, body: orgs.MemberAdd, caller: Caller, actor: audit.Actor) -> dict[str, Any]:
    role = _manager(org_id, caller)
    if body.role == "owner" and role != "owner":
        raise _denied("role: only an owner may grant 'owner'", fields=[{"field": "role", "message": "only an owner may grant 'owner'"}])
    user = _user_by_email(body.email)
    ref = orgs.member_ref(org_id, user.uid)

    def run(tx: Any) -> dict[str, Any]:
        if ref.get(transaction=tx).exists:
            raise GatewayError(ErrorCode.ALREADY_EXISTS, f"{body.email} is already a member of '{org_id}'", {"uid": user.uid})
        return _audited_set(tx, _members_path(org_id), user.uid, actor, "create", None, _member_doc(user, body.role, actor)) or {}

    data = _transaction(run)
    orgs.forget(org_id, user.uid)
    return member_view(user.uid, data)


_KEEP: Any = object()


def _change_member(
    org_id: str, uid: str, caller: Caller, actor: audit.Actor, new_role: str | None, quota: Any = _KEEP, granting: bool = True
) -> dict[str, Any] | None:
    """Change a member's role (``new_role``; the same role: unchanged) and quota, or remove them (None), with the owner rules."""
    role = role_of(org_id, caller)
    leaving = new_role is None and uid == caller.uid
    if role not in orgs.MANAGERS and not leaving:
        raise _denied(f"Org role '{role}' may not change members of '{org_id}'", orgRole=role, allowedOrgRoles=sorted(orgs.MANAGERS))
    if new_role == "owner" and role != "owner" and granting:
        raise _denied("role: only an owner may grant 'owner'", fields=[{"field": "role", "message": "only an owner may grant 'owner'"}])
    ref = orgs.member_ref(org_id, uid)

    def run(tx: Any) -> dict[str, Any] | None:
        snap = ref.get(transaction=tx)
        if not snap.exists:
            raise GatewayError(ErrorCode.NOT_FOUND, f"No member '{uid}' in '{org_id}'", {"uid": uid})
        before = snap.to_dict() or {}
        if not granting and before.get("role") == "owner" and role != "owner":
            raise _denied("Only an owner may change an owner's quota", orgRole=role)
        if before.get("role") == "owner" and new_role != "owner":
            if role != "owner" and not leaving:
                raise _denied("Only an owner may demote or remove an owner", orgRole=role)
            if _owners(tx, org_id) == [uid]:
                raise GatewayError(
                    ErrorCode.CONFLICT, f"'{uid}' is the last owner of '{org_id}': add another owner first", {"uid": uid, "reason": "lastOwner"}
                )
        if new_role is None:
            return _audited_set(tx, _members_path(org_id), uid, actor, "delete", before, None, snap.update_time)
        after = {**before, "role": new_role, "updatedAt": audit.now(), "updatedBy": str(actor)}
        if quota is not _KEEP:
            after.pop("quota", None)
            if quota is not None:
                after["quota"] = quota
        return _audited_set(tx, _members_path(org_id), uid, actor, "update", before, after)

    data = _transaction(run)
    orgs.forget(org_id, uid)
    return None if data is None else member_view(uid, data)


def update_member(org_id: str, uid: str, patch: orgs.MemberPatch, caller: Caller, actor: audit.Actor) -> dict[str, Any]:
    """A new role and/or quota override (``quota: null`` clears it); org managers and project admins."""
    role = patch.role
    if role is None:  # the quota alone: the role stays what it is
        stored = (orgs.member_ref(org_id, uid).get().to_dict() or {}).get("role")
        role = stored if stored in orgs.ORG_ROLES else "member"
    quota = _KEEP
    if "quota" in patch.model_fields_set:
        quota = None if patch.quota is None else patch.quota.model_dump(mode="json")
    result = _change_member(org_id, uid, caller, actor, role, quota, granting=patch.role is not None)
    assert result is not None
    return result


def remove_member(org_id: str, uid: str, caller: Caller, actor: audit.Actor) -> None:
    _change_member(org_id, uid, caller, actor, None)


def _drain(query: Any, each: Callable[[Any, Any], None], batches: int | None, size: int) -> int:
    """``each(batch, snap)`` for ``size`` documents of ``query`` per commit, until it finds none (or ``batches`` commits).

    Every ``each`` deletes its document, so the query shrinks: a drain stopped
    anywhere is finished by running it again.
    """
    db = firebase.db()
    deleted, done = 0, 0
    while batches is None or done < batches:
        snaps = list(query.limit(size).stream())
        if not snaps:
            break
        batch = db.batch()
        for snap in snaps:
            each(batch, snap)
        batch.commit()
        deleted += len(snaps)
        done += 1
    return deleted


def _delete_audited(batch: Any, snap: Any, collection: str, actor: audit.Actor, before: dict[str, Any] | None, org_id: str) -> None:
    """Queue the delete of ``snap`` and its audit record (the id an API delete of that version gets)."""
    db = firebase.db()
    record_id = _delete_record_id(collection, snap.id, snap.update_time)
    batch.delete(snap.reference)
    batch.set(db.collection(audit.COLLECTION).document(record_id),
              audit.record(actor, "delete", collection, snap.id, before, None, via="api", org=org_id))


def delete_members(org_id: str, actor: audit.Actor, batches: int | None = None, size: int = DELETE_BATCH) -> int:
    """Delete the organisation's members, ``size`` per audited commit (all, or ``batches`` commits); returns how many."""
    path = _members_path(org_id)
    deleted = _drain(orgs.org_ref(org_id).collection(orgs.MEMBERS),
                     lambda batch, snap: _delete_audited(batch, snap, path, actor, snap.to_dict(), org_id), batches, size)
    orgs.forget(org_id)
    return deleted


CATALOGUE = ("models", "providers")
"""The organisation's own catalogue, models first (a model names one of the organisation's providers)."""


def delete_catalogue(org_id: str, actor: audit.Actor, batches: int | None = None, size: int = DELETE_BATCH) -> dict[str, int]:
    """Delete ``orgs/{org}/models`` then ``orgs/{org}/providers`` (``batches`` commits of each), audited; a provider's
    key secret goes before its document.

    The secret's name is derived from the ids (``secrets.name_for``), never read from the document.
    """
    from gateway import secrets

    counts: dict[str, int] = {}
    for kind in CATALOGUE:
        path = f"{orgs.COLLECTION}/{org_id}/{kind}"

        def each(batch: Any, snap: Any, kind: str = kind, path: str = path) -> None:
            if kind == "providers":
                secrets.delete(secrets.name_for(snap.id, org_id))
            _delete_audited(batch, snap, path, actor, snap.to_dict(), org_id)

        counts[kind] = _drain(orgs.org_ref(org_id).collection(kind), each, batches, size)
    return counts


def _parent_path(snap: Any) -> str:
    """``users/{uid}/conversations`` for ``users/{uid}/conversations/{id}``: the collection an audit record names."""
    return str(snap.reference.path).rsplit("/", 1)[0]


def _made_in(group: str, org_id: str) -> Any:
    from google.cloud.firestore_v1.base_query import FieldFilter

    return firebase.db().collection_group(group).where(filter=FieldFilter("org", "==", org_id))


def delete_conversations(org_id: str, actor: audit.Actor, batches: int | None = None, size: int = DELETE_BATCH) -> int:
    """Delete every user's conversations made in the organisation (messages first), each audited without its content."""
    from gateway import conversations

    db = firebase.db()

    def each(batch: Any, snap: Any) -> None:
        messages = snap.reference.collection(conversations.MESSAGES)
        while found := list(messages.limit(conversations.DELETE_BATCH).select(["__name__"]).stream()):
            sweep = db.batch()
            for message in found:
                sweep.delete(message.reference)
            sweep.commit()
        data = snap.to_dict() or {}
        _delete_audited(batch, snap, _parent_path(snap), actor, {"org": org_id, "messageCount": data.get("messageCount")}, org_id)

    return _drain(_made_in(conversations.CONVERSATIONS, org_id), each, batches, size)


def delete_responses(org_id: str, actor: audit.Actor, batches: int | None = None, size: int = DELETE_BATCH) -> int:
    """Delete the stored Responses API answers made in the organisation (``users/{uid}/responses``), each audited."""
    from gateway.openai import stored

    return _drain(_made_in(stored.RESPONSES, org_id),
                  lambda batch, snap: _delete_audited(batch, snap, _parent_path(snap), actor, {"org": org_id}, org_id), batches, size)


IMAGES = "images"


def delete_images(org_id: str, actor: audit.Actor, batches: int | None = None, size: int = DELETE_BATCH) -> int:
    """Delete the image records made in the organisation and their Storage objects (objects first), each audited."""
    from gateway import storage

    def each(batch: Any, snap: Any) -> None:
        data = snap.to_dict() or {}
        path = data.get("path")
        if isinstance(path, str) and path.startswith(f"{orgs.COLLECTION}/{org_id}/"):
            storage.delete([path])
        _delete_audited(batch, snap, _parent_path(snap), actor, {"org": org_id, "path": path, "modelId": data.get("modelId")}, org_id)

    deleted = _drain(_made_in(IMAGES, org_id), each, batches, size)
    if batches is None:  # objects left without a record (an image request cut off between upload and record)
        try:
            storage.delete([blob.name for blob in storage.bucket().list_blobs(prefix=f"{orgs.COLLECTION}/{org_id}/")])
        except Exception as exc:  # the records are gone; a leftover object is reachable by its owner only
            logs.error("organisation images not all removed from Storage", org=org_id, exception=type(exc).__name__)
    return deleted


def delete_org(org_id: str, actor: audit.Actor) -> dict[str, Any]:
    """Members first (batched), then the organisation: a retry after an interruption finishes the job."""
    _checked_id(org_id)
    ref = orgs.org_ref(org_id)
    if not ref.get().exists and not list(ref.collection(orgs.MEMBERS).limit(1).stream()):
        raise GatewayError(ErrorCode.NOT_FOUND, f"Organisation '{org_id}' not found", {"id": org_id})
    catalogue = delete_catalogue(org_id, actor)
    conversations = delete_conversations(org_id, actor)
    responses = delete_responses(org_id, actor)
    images = delete_images(org_id, actor)
    deleted = delete_members(org_id, actor)

    def run(tx: Any) -> None:
        snap = ref.get(transaction=tx)
        if snap.exists:
            _audited_set(tx, orgs.COLLECTION, org_id, actor, "delete", snap.to_dict(), None, snap.update_time)

    _transaction(run)
    orgs.forget(org_id)
    return {"deleted": org_id, "membersDeleted": deleted, "modelsDeleted": catalogue["models"], "providersDeleted": catalogue["providers"],
            "conversationsDeleted": conversations, "responsesDeleted": responses, "imagesDeleted": images}


def read_audit(org_id: str, caller: Caller, limit: int, token: str | None) -> dict[str, Any]:
    """The organisation's audit trail, newest first: its managers and project admins; members 403, outsiders 403.

    Records are found by their ``org`` field (``audit.org_of``), so only that
    organisation's writes (and its delete's cascade) appear.
    """
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import conversations

    role = role_of(org_id, caller)
    if role not in orgs.MANAGERS:
        raise _denied(f"Org role '{role}' may not read the audit trail of '{org_id}'", orgRole=role, allowedOrgRoles=sorted(orgs.MANAGERS))
    descending = firestore.Query.DESCENDING
    query = (firebase.db().collection(audit.COLLECTION).where(filter=FieldFilter("org", "==", org_id))
             .order_by("at", direction=descending).order_by("__name__", direction=descending))
    if token:
        after = _audit_cursor(token)
        query = query.start_after({"at": after["at"], "__name__": firebase.db().collection(audit.COLLECTION).document(after["id"])})
    snaps = list(query.limit(limit + 1).stream())
    page = snaps[:limit]
    following = conversations.page_token(page[-1].get("at"), page[-1].id) if len(snaps) > limit else None
    records = [orgs.AuditRecord.model_validate({**(s.to_dict() or {}), "id": s.id}).model_dump(mode="json") for s in page]
    return {"records": records, "nextPageToken": following}


def _audit_cursor(token: str) -> dict[str, Any]:
    import base64
    import binascii
    import json
    import re
    from datetime import datetime

    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(data["id"], str) or not re.fullmatch(r"[A-Za-z0-9._:-]{1,400}", data["id"]):
            raise ValueError(data["id"])
        return {"at": datetime.fromisoformat(data["at"]), "id": data["id"]}
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid("pageToken", "not a page token of this list") from None


def set_default(org_id: str | None, caller: Caller, actor: audit.Actor) -> dict[str, Any]:
    """``users/{uid}.defaultOrg`` (audited); the caller must be a member (project admins: the org must exist)."""
    from gateway import auth

    if org_id is not None:
        if not orgs.valid_id(org_id):
            raise invalid("orgId", f"not an organisation id ({orgs.ORG_ID})")
        try:
            role_of(org_id, caller)
        except GatewayError:
            raise _denied("orgId: not an organisation you are a member of",
                          fields=[{"field": "orgId", "message": "not an organisation you are a member of"}]) from None
    ref = firebase.db().collection("users").document(caller.uid)

    def run(tx: Any) -> None:
        snap = ref.get(transaction=tx)
        before = snap.to_dict() if snap.exists else None
        after = {k: v for k, v in (before or {}).items() if k != "defaultOrg"}
        if org_id is not None:
            after["defaultOrg"] = org_id
        _audited_set(tx, "users", caller.uid, actor, "update" if before else "create", before, after)

    _transaction(run)
    auth.forget(caller.uid)
    return {"defaultOrg": org_id}
