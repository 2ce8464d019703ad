"""Conversation history: stored turns of a user's chats, loaded into the next request.

Layout, written only by the gateway (``firestore.rules`` lets the owner read):

- ``users/{uid}/conversations/{id}``: ``title, modelId, org, createdAt, updatedAt,
  messageCount, totalTokens, cost`` (the last three are ``Increment`` sums;
  ``updatedAt`` is the last turn's time, ``modelId`` the last answer's model,
  ``org`` the organisation it was started in, null for none);
- ``users/{uid}/conversations/{id}/messages/{id}``: ``role, content, modelId,
  usage, cost, createdAt, status, requestId``.

A turn (the request's own messages and the answer) is written in **one
batch**, once the answer is complete: before the JSON answer, or before a
stream's ``done`` event (the same moments as the usage ledger, see
``gateway.usage``: nothing is left for after the response, when Cloud Run
throttles the CPU). A stream cut off by the client is stored with the text
sent so far, ``status: "cancelled"`` and unknown (null) usage. A failed
generation stores nothing (and starts no conversation): the history holds
only exchanges that were answered, so the next turn never sends a question
without its answer, and the client still has the prompt to send again. A
commit that fails twice is logged (which turn, not its text) and the answer
is still sent.

The batch *creates* the messages under ids made once per turn, so a retried
commit whose first attempt landed fails as a whole and nothing is stored
twice; it *updates* the conversation, so a turn that ends after its
conversation was deleted stores nothing (no orphaned messages).

History sent with a turn is bounded, oldest messages dropped first: at most
:data:`HISTORY_MAX_MESSAGES` messages and :data:`HISTORY_MAX_CHARS` characters
of content (whole messages only), starting with a user message; answers
cancelled before any text are left out with their question.

A conversation belongs to the organisation it was started in: a request in
organisation X (``Caller.org``) lists, reads, continues, renames and deletes
only X's conversations, and one without an organisation only those with
none (a conversation stored before organisations has no ``org`` field and
counts as none). Any other is the same 404 as a missing one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from gateway import firebase, logs
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.providers.base import Message

if TYPE_CHECKING:
    from gateway.http import Context

USERS = "users"
CONVERSATIONS = "conversations"
MESSAGES = "messages"

ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
"""What a conversation id looks like (Firestore's automatic ids are 20 letters and digits; never ``__...__``, which Firestore reserves)."""

HISTORY_MAX_MESSAGES = 50
"""Most stored messages sent with a turn (the newest ones)."""

HISTORY_MAX_CHARS = 32_000
"""Most characters of stored content sent with a turn (~8,000 tokens at ~4 characters a token)."""

TITLE_MAX = 80
"""Length of a title made from the first prompt (whitespace collapsed, cut at a word with an ellipsis)."""

DELETE_BATCH = 500
"""Documents per delete batch (Firestore's limit for one batch)."""


def conversations(uid: str) -> Any:
    return firebase.db().collection(USERS).document(uid).collection(CONVERSATIONS)


def org_of(data: dict[str, Any]) -> str | None:
    """The organisation a conversation (or image record) was made in; None when none (or stored before organisations)."""
    org = data.get("org")
    return org if isinstance(org, str) and org else None


def not_found(conversation_id: str, field: str | None = None) -> GatewayError:
    """404 for an unknown id and for another user's (they are looked up under the caller only: the same answer)."""
    prefix = f"{field}: " if field else ""
    details: dict[str, Any] = {"id": conversation_id}
    if field:
        details["field"] = field
    return GatewayError(ErrorCode.NOT_FOUND, f"{prefix}conversation '{conversation_id}' not found", details)


def title_from(text: str) -> str:
    """A title from a prompt: whitespace collapsed, at most :data:`TITLE_MAX` characters."""
    title = " ".join(text.split())
    if len(title) <= TITLE_MAX:
        return title or "New conversation"
    cut = title[: TITLE_MAX - 1]
    if " " in cut[TITLE_MAX // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def conversation_view(snap: Any) -> dict[str, Any]:
    """A conversation document as the API answers it."""
    data = snap.to_dict() or {}
    return {
        "id": snap.id,
        "title": data.get("title", ""),
        "modelId": data.get("modelId"),
        "org": org_of(data),
        "createdAt": _iso(data.get("createdAt")),
        "updatedAt": _iso(data.get("updatedAt")),
        "messageCount": data.get("messageCount", 0),
        "totalTokens": data.get("totalTokens", 0),
        "cost": round(data.get("cost") or 0.0, 10),
    }


def message_view(snap: Any) -> dict[str, Any]:
    """A stored message as the API answers it."""
    data = snap.to_dict() or {}
    return {
        "id": snap.id,
        "role": data.get("role"),
        "content": data.get("content", ""),
        "modelId": data.get("modelId"),
        "usage": data.get("usage"),
        "cost": data.get("cost"),
        "status": data.get("status", "ok"),
        "createdAt": _iso(data.get("createdAt")),
        "requestId": data.get("requestId"),
    }


# --- History loaded into a turn ------------------------------------------------------------------


def bounded(stored: list[dict[str, Any]], max_messages: int, max_chars: int) -> list[Message]:
    """The newest of ``stored`` (oldest first) within both bounds, starting with a user message.

    Dropped: the oldest messages beyond the bounds (whole messages, never cut),
    and a question whose answer failed or was cancelled before any text (so two
    questions never follow each other). What remains starts with ``user``,
    as some providers (Anthropic, Gemini) require.
    """
    unanswered = {
        m.get("requestId")
        for m in stored
        if m.get("role") == "assistant" and (not m.get("content") or m.get("status", "ok") not in ("ok", "cancelled"))
    }
    usable = [m for m in stored if m.get("role") in ("user", "assistant") and m.get("content") and m.get("requestId") not in unanswered]
    kept: list[dict[str, Any]] = []
    chars = 0
    for message in reversed(usable[-max_messages:] if max_messages > 0 else []):
        chars += len(message["content"])
        if chars > max_chars:
            break
        kept.append(message)
    kept.reverse()
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return [Message(m["role"], m["content"]) for m in kept]


def _history(ref: Any) -> list[Message]:
    from google.cloud import firestore

    query = ref.collection(MESSAGES).order_by("createdAt", direction=firestore.Query.DESCENDING).limit(HISTORY_MAX_MESSAGES)
    stored = [snap.to_dict() or {} for snap in query.stream()]
    stored.reverse()
    return bounded(stored, HISTORY_MAX_MESSAGES, HISTORY_MAX_CHARS)


@dataclasses.dataclass
class Turn:
    """This request's place in a conversation: the history it is sent with, and how its exchange is stored.

    Inactive (no ``conversationId``, no ``saveHistory``) it changes nothing.
    Active, :meth:`track` wraps the request's ledger entry so that the
    exchange is stored at the moments the ledger is committed: answered
    (``ok``), failed (nothing stored), cut off by the client (the text so far,
    ``cancelled``). The first outcome wins, as in the ledger.
    """

    uid: str = ""
    conversation_id: str | None = None
    save: bool = False
    new: bool = False
    request_id: str = ""
    model_id: str = ""
    history: list[Message] = dataclasses.field(default_factory=list)
    asked: list[Message] = dataclasses.field(default_factory=list)
    started: datetime = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc))
    ids: list[str] = dataclasses.field(default_factory=list)
    """Message ids, made once: a retried commit creates the same documents (and fails if the first landed)."""
    text: list[str] = dataclasses.field(default_factory=list)
    tracker: Any = None
    settled: bool = False
    org: str | None = None
    """The organisation a new conversation is stored in (an existing one's was checked to be the request's)."""

    @property
    def active(self) -> bool:
        return self.conversation_id is not None

    @property
    def answer(self) -> dict[str, Any]:
        """What the answer adds: ``conversationId`` when history is used."""
        return {"conversationId": self.conversation_id} if self.active else {}

    @property
    def headers(self) -> dict[str, str]:
        """A stream's header naming its conversation, known before any text (a client that stops early still learns it)."""
        return {"X-Conversation-Id": self.conversation_id} if self.conversation_id else {}

    def with_history(self, params: Any) -> Any:
        """``params`` (``generation.TextParams``) with the stored history before the request's own messages."""
        return dataclasses.replace(params, messages=[*self.history, *params.messages]) if self.history else params

    def track(self, tracker: Any) -> Any:
        """The ledger entry to settle: ``tracker`` itself, or this turn around it when the exchange is stored."""
        if not self.save:
            return tracker
        self.tracker = tracker
        return self

    def add(self, text: str) -> None:
        """Text of the answer, as it is sent to the client."""
        if self.save:
            self.text.append(text)

    # The ledger's interface (``usage.Tracker``), each outcome committed before the caller goes on.

    def ok(self, model: Any, usage: Any, cost: dict[str, Any] | None, images: int = 0, later: bool = False) -> None:
        self.tracker.ok(model, usage, cost, images, later)
        self._store("ok", model.id, usage.to_dict() if usage else None, None if cost is None else cost.get("total"))

    def failed(self, err: GatewayError) -> None:
        self.tracker.failed(err)
        self.settled = True

    def refused(self, err: GatewayError) -> None:
        self.tracker.refused(err)
        self.settled = True

    def sent(self, text: str) -> None:
        self.tracker.sent(text)

    def flush(self) -> None:
        self.tracker.flush()

    def use(self, model: Any) -> None:
        self.tracker.use(model)

    def cut_off(self) -> None:
        self.tracker.cut_off()
        self._store("cancelled", self.model_id, None, None)

    def _store(self, status: str, model_id: str, usage: dict[str, Any] | None, cost: float | None) -> None:
        if self.settled:
            return
        self.settled = True
        try:
            _commit_turn(self, status, model_id, usage, cost)
        except Exception as exc:  # the answer is still sent; the log says which turn is missing (not its text)
            logs.error(
                "conversation turn not stored",
                exception=type(exc).__name__,
                requestId=self.request_id,
                uid=self.uid,
                conversationId=self.conversation_id,
                new=self.new,
                status=status,
                messages=len(self.asked) + 1,
                answerChars=sum(len(t) for t in self.text),
            )


def begin(ctx: Context, model_id: str, conversation_id: str | None, save: bool | None, params: Any) -> Turn:
    """The request's :class:`Turn`: its conversation checked (404 naming ``conversationId``) and its history loaded.

    ``save`` (``saveHistory``): true stores this exchange (in a new
    conversation without ``conversation_id``); false never stores it; absent,
    it is stored when the request continues a conversation.
    """
    assert ctx.caller is not None
    uid, org, request_id = ctx.caller.uid, ctx.caller.org, ctx.request_id
    asked = [m for m in params.messages if m.role != "system"]
    if conversation_id is None:
        if not save:
            return Turn()
        new_id = conversations(uid).document().id
        return Turn(uid, new_id, True, True, request_id, model_id, [], asked, ids=_ids(asked), org=org)
    ref = conversations(uid).document(conversation_id)
    snap = ref.get()
    if not snap.exists or org_of(snap.to_dict() or {}) != org:  # another organisation's: the same 404
        raise not_found(conversation_id, "conversationId")
    keep = save is not False
    return Turn(uid, conversation_id, keep, False, request_id, model_id, _history(ref), asked, ids=_ids(asked), org=org)


def _ids(asked: list[Message]) -> list[str]:
    return [uuid.uuid4().hex for _ in range(len(asked) + 1)]


def _commit_turn(turn: Turn, status: str, model_id: str, usage: dict[str, Any] | None, cost: float | None) -> None:
    """The request's messages, the answer and the conversation's counters: one batch, committed now (retried once)."""
    from google.api_core import exceptions
    from google.cloud import firestore

    db = firebase.db()
    ref = conversations(turn.uid).document(turn.conversation_id)
    now = datetime.now(timezone.utc)
    answered_at = max(now, turn.started + timedelta(microseconds=len(turn.asked)))
    rows: list[dict[str, Any]] = [
        {
            "role": m.role,
            "content": m.content,
            "modelId": turn.model_id,
            "usage": None,
            "cost": None,
            "createdAt": turn.started + timedelta(microseconds=i),  # the request's order, before the answer
            "status": "ok",
            "requestId": turn.request_id,
        }
        for i, m in enumerate(turn.asked)
    ]
    rows.append(
        {
            "role": "assistant",
            "content": "".join(turn.text),
            "modelId": model_id,
            "usage": usage,
            "cost": cost,
            "createdAt": answered_at,
            "status": status,
            "requestId": turn.request_id,
        }
    )
    tokens = (usage or {}).get("totalTokens") or 0
    counters = {"messageCount": len(rows), "totalTokens": tokens, "cost": cost or 0.0}
    for attempt in (1, 2):
        batch = db.batch()
        for message_id, row in zip(turn.ids, rows, strict=True):
            batch.create(ref.collection(MESSAGES).document(message_id), row)
        if turn.new:
            title = title_from(next((m.content for m in turn.asked if m.role == "user"), turn.asked[0].content if turn.asked else ""))
            batch.create(ref, {"title": title, "modelId": model_id, "org": turn.org, "createdAt": turn.started, "updatedAt": answered_at, **counters})
        else:
            increments = {key: firestore.Increment(value) for key, value in counters.items()}
            batch.update(ref, {"modelId": model_id, "updatedAt": answered_at, **increments})
        try:
            batch.commit()
            return
        except exceptions.AlreadyExists:
            return  # an earlier attempt landed
        except exceptions.NotFound:
            logs.info("conversation deleted during its turn; turn not stored", conversationId=turn.conversation_id, requestId=turn.request_id)
            return
        except Exception:
            if attempt == 2:
                raise


# --- The conversations function ------------------------------------------------------------------


def page_token(at: Any, doc_id: str) -> str:
    raw = json.dumps({"at": at.isoformat(), "id": doc_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor(token: str) -> dict[str, Any]:
    """``{"at": datetime, "id": str}`` from a page token; 400 naming ``pageToken`` otherwise."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        doc_id = data["id"]
        if not isinstance(doc_id, str) or not re.fullmatch(ID, doc_id):
            raise ValueError(doc_id)
        return {"at": datetime.fromisoformat(data["at"]), "id": doc_id}
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid("pageToken", "not a page token of this listing") from None


def _page(query: Any, field: str, limit: int, token: str | None) -> tuple[list[Any], str | None]:
    """One page of ``query`` (ordered by ``field``, then document id), and the token of the next."""
    if token:
        after = cursor(token)
        query = query.start_after({field: after["at"], "__name__": after["id"]})
    snaps = list(query.limit(limit + 1).stream())
    page = snaps[:limit]
    following = None
    if len(snaps) > limit:
        last = page[-1]
        following = page_token(last.get(field), last.id)
    return page, following


def _page_without_org(query: Any, limit: int, token: str | None) -> tuple[list[Any], str | None]:
    """A page of the conversations with no organisation: those stored before organisations have no ``org`` field,
    which an ``org == null`` query would not find, so the others are skipped here, a chunk at a time."""
    kept: list[Any] = []
    after = cursor(token) if token else None
    chunk = max(limit + 1, 50)
    while len(kept) <= limit:
        scan = query if after is None else query.start_after({"updatedAt": after["at"], "__name__": after["id"]})
        snaps = list(scan.limit(chunk).stream())
        kept += [s for s in snaps if org_of(s.to_dict() or {}) is None]
        if len(snaps) < chunk:
            break
        after = {"at": snaps[-1].get("updatedAt"), "id": snaps[-1].id}
    page = kept[:limit]
    following = page_token(page[-1].get("updatedAt"), page[-1].id) if len(kept) > limit else None
    return page, following


def list_for(uid: str, org: str | None, limit: int, token: str | None) -> dict[str, Any]:
    """The caller's conversations in organisation ``org`` (None: those with none), the most recently continued first."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    descending = firestore.Query.DESCENDING
    query = conversations(uid)
    if org is not None:
        query = query.where(filter=FieldFilter("org", "==", org))
    query = query.order_by("updatedAt", direction=descending).order_by("__name__", direction=descending)
    if org is None:
        page, following = _page_without_org(query, limit, token)
    else:
        page, following = _page(query, "updatedAt", limit, token)
    return {"conversations": [conversation_view(s) for s in page], "nextPageToken": following}


def _existing(uid: str, org: str | None, conversation_id: str) -> Any:
    """The conversation, when it is the caller's and of the request's organisation; else 404 (the same answer)."""
    if not re.fullmatch(ID, conversation_id):
        raise not_found(conversation_id)
    snap = conversations(uid).document(conversation_id).get()
    if not snap.exists or org_of(snap.to_dict() or {}) != org:
        raise not_found(conversation_id)
    return snap


def read(uid: str, org: str | None, conversation_id: str, limit: int, token: str | None) -> dict[str, Any]:
    """One conversation and a page of its messages, oldest first."""
    snap = _existing(uid, org, conversation_id)
    query = snap.reference.collection(MESSAGES).order_by("createdAt").order_by("__name__")
    page, following = _page(query, "createdAt", limit, token)
    return {**conversation_view(snap), "messages": [message_view(s) for s in page], "nextPageToken": following}


def rename(uid: str, org: str | None, conversation_id: str, title: str) -> dict[str, Any]:
    """A new title (``updatedAt`` is the last turn's time: a rename does not move a conversation up the list)."""
    from google.api_core import exceptions

    snap = _existing(uid, org, conversation_id)
    try:
        snap.reference.update({"title": title})
    except exceptions.NotFound:
        raise not_found(conversation_id) from None
    return conversation_view(snap.reference.get())


def delete(uid: str, org: str | None, conversation_id: str) -> None:
    """The conversation and all its messages, in batches of at most :data:`DELETE_BATCH` deletes.

    Messages go first and the conversation with the last batch, so a delete
    stopped half-way leaves a conversation that a second delete finishes. A
    turn that lands meanwhile is swept after the conversation is gone; one that
    ends later finds no conversation and stores nothing.
    """
    ref = _existing(uid, org, conversation_id).reference
    db = firebase.db()
    removed = False
    while True:
        snaps = list(ref.collection(MESSAGES).limit(DELETE_BATCH).select(["__name__"]).stream())
        last = len(snaps) < DELETE_BATCH
        if not snaps and removed:
            return
        batch = db.batch()
        for snap in snaps:
            batch.delete(snap.reference)
        if last and not removed:
            batch.delete(ref)
            removed = True
        batch.commit()
