"""Stored responses of the Responses API (``store``, default true), for ``GET``/``DELETE`` and ``previous_response_id``.

Layout, written only by the gateway (``firestore.rules`` denies clients; they read through the API):

- ``users/{uid}/responses/{resp_id}``: ``response`` (the answer as sent, JSON text), ``context`` (JSON text: every
  input item of the conversation so far, this request's included, then this response's output items: what a
  ``previous_response_id`` continues from, in one read), ``itemIds`` (its output items' ids, for ``item_reference``), ``model``, ``createdAt``, ``expiresAt`` (30 days, a
  Firestore TTL policy deletes it then, as OpenAI keeps responses 30 days).

Kept as JSON text, not maps: a JSON Schema or tool arguments may hold arrays of arrays, which Firestore refuses.
One write per stored response (a ``create``, retried once), made before the answer or the stream's last event
leaves (Cloud Run throttles the CPU after). A response whose document would pass :data:`MAX_BYTES` is answered
but not stored, and says so (``store: false``); a failed one is never stored. Looked up under the caller only:
another user's id is the same 404 as a missing one. A response records the organisation of its request (``org``,
null for none) and is found only by requests in that organisation: another organisation's is that 404 too.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from gateway import firebase, logs
from gateway.errors import ErrorCode, GatewayError

USERS = "users"
RESPONSES = "responses"
KEEP = timedelta(days=30)
MAX_BYTES = 1_000_000
"""Most bytes of JSON text one stored response holds (Firestore's document limit is 1 MiB)."""
ID = re.compile(r"^resp_[A-Za-z0-9]{1,64}$")


def _ref(uid: str, response_id: str) -> Any:
    return firebase.db().collection(USERS).document(uid).collection(RESPONSES).document(response_id)


def not_found(response_id: str, field: str | None = None) -> GatewayError:
    details: dict[str, Any] = {"id": response_id}
    if field:
        details["field"] = field
    return GatewayError(ErrorCode.NOT_FOUND, f"Response with id '{response_id}' not found.", details)


def _org(snap: Any) -> str | None:
    org = (snap.to_dict() or {}).get("org")
    return org if isinstance(org, str) and org else None


def _snapshot(uid: str, response_id: str, field: str | None = None, org: str | None = None) -> Any:
    snap = _ref(uid, response_id).get() if ID.match(response_id) else None
    if snap is None or not snap.exists or _org(snap) != org:
        raise not_found(response_id, field)
    return snap


def context(uid: str, response_id: str, org: str | None = None) -> list[dict[str, Any]]:
    """The items a ``previous_response_id`` continues from: 404 naming the field for a missing, another user's or
    another organisation's id."""
    return json.loads(_snapshot(uid, response_id, "previous_response_id", org).get("context"))  # type: ignore[no-any-return]


def items(uid: str, ids: list[str], org: str | None = None) -> dict[str, dict[str, Any]]:
    """The caller's stored output items among ``ids`` (``item_reference``), by id: one query per 30 ids."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    collection = firebase.db().collection(USERS).document(uid).collection(RESPONSES)
    for chunk in (sorted(wanted)[i : i + 30] for i in range(0, len(wanted), 30)):  # array_contains_any takes 30 values
        for snap in collection.where(filter=FieldFilter("itemIds", "array_contains_any", chunk)).stream():
            if _org(snap) != org:
                continue
            for item in json.loads(snap.get("response"))["output"]:
                if item.get("id") in wanted:
                    found[item["id"]] = item
    return found


def read(uid: str, response_id: str, org: str | None = None) -> dict[str, Any]:
    return json.loads(_snapshot(uid, response_id, None, org).get("response"))  # type: ignore[no-any-return]


def delete(uid: str, response_id: str, org: str | None = None) -> None:
    """One read (404 when it is not the caller's, of this organisation), one delete."""
    _snapshot(uid, response_id, None, org).reference.delete()


class Keeper:
    """Stores one response with the conversation it continues (``items``: earlier context and this request's input)."""

    def __init__(self, uid: str, answer: Any, items: list[dict[str, Any]], org: str | None = None) -> None:
        self.uid, self.answer, self.items, self.org = uid, answer, items, org

    def save(self, response: dict[str, Any]) -> dict[str, Any]:
        """``response``, stored now; ``store: false`` in it when it could not be (too large, or Firestore failed twice)."""
        text = json.dumps(response, separators=(",", ":"), ensure_ascii=False)
        context = json.dumps([*self.items, *response["output"]], separators=(",", ":"), ensure_ascii=False)
        size = len(text.encode()) + len(context.encode())
        if size > MAX_BYTES:
            logs.warn("response not stored: too large", responseId=response["id"], bytes=size)
            return {**response, "store": False}
        now = datetime.now(timezone.utc)
        doc = {
            "response": text,
            "context": context,
            "itemIds": [item["id"] for item in response["output"]],  # for item_reference
            "model": response["model"],
            "org": self.org,
            "createdAt": now,
            "expiresAt": now + KEEP,
        }
        from google.api_core import exceptions

        for attempt in (1, 2):
            try:
                _ref(self.uid, response["id"]).create(doc)
                return response
            except exceptions.AlreadyExists:
                return response  # the first attempt landed
            except Exception as exc:
                if attempt == 2:
                    logs.error("response not stored", responseId=response["id"], exception=type(exc).__name__)
        return {**response, "store": False}
