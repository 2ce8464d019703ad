"""``conversations``: the caller's stored chats (``generate_text`` with ``conversationId`` / ``saveHistory``).

Routes: ``GET /`` (newest first by ``updatedAt``; ``limit`` ≤ 100 and
``pageToken``), ``GET /{id}`` (with its messages, oldest first; ``limit`` ≤
100 and ``pageToken``), ``PATCH /{id}`` ``{"title"}`` and ``DELETE /{id}``
(204). Every role, on the caller's own conversations of the request's
organisation only: another user's id, or one started in another
organisation (or in one when the request names none), is answered 404,
like an unknown one.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from firebase_functions import https_fn
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway import conversations as history
from gateway import http, openapi
from gateway.errors import ErrorCode, GatewayError, invalid

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]


class ConversationQuery(BaseModel):
    """Query string of ``GET /conversations`` and ``GET /conversations/{id}`` (its messages)."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=100)
    pageToken: str | None = Field(None, max_length=512)


class ConversationPatch(BaseModel):
    """Body of ``PATCH /conversations/{id}``."""

    model_config = ConfigDict(extra="forbid")

    title: Title = Field(description="1-200 characters, no control characters; surrounding whitespace is dropped.")


def _id(ctx: http.Context, required: bool) -> str | None:
    if len(ctx.path) > 1:
        raise GatewayError(ErrorCode.NOT_FOUND, f"No route {ctx.request.path}")
    if not ctx.path:
        if required:
            raise GatewayError(
                ErrorCode.METHOD_NOT_ALLOWED,
                f"{ctx.request.method} needs a conversation id: /conversations/{{id}}",
                headers={"Allow": "GET, OPTIONS"},
            )
        return None
    if not re.fullmatch(history.ID, ctx.path[0]):  # it names a Firestore document: "__x__" would be refused there
        raise invalid("id", f"not a conversation id ({history.ID})")
    return ctx.path[0]


def _uid(ctx: http.Context) -> str:
    assert ctx.caller is not None
    return ctx.caller.uid


def _org(ctx: http.Context) -> str | None:
    assert ctx.caller is not None
    return ctx.caller.org


def _get(ctx: http.Context) -> dict[str, Any]:
    conversation_id = _id(ctx, required=False)
    query = http.validate(ConversationQuery, http.query(ctx.request))
    if conversation_id is None:
        return history.list_for(_uid(ctx), _org(ctx), query.limit, query.pageToken)
    return history.read(_uid(ctx), _org(ctx), conversation_id, query.limit, query.pageToken)


def _patch(ctx: http.Context) -> dict[str, Any]:
    conversation_id = _id(ctx, required=True)
    assert conversation_id is not None
    body = ctx.parse(ConversationPatch)
    return history.rename(_uid(ctx), _org(ctx), conversation_id, body.title)


def _delete(ctx: http.Context) -> https_fn.Response:
    conversation_id = _id(ctx, required=True)
    assert conversation_id is not None
    history.delete(_uid(ctx), _org(ctx), conversation_id)
    return https_fn.Response(status=204)


ROUTES = {
    "GET": http.Handler(_get, roles=http.ALL_ROLES),
    "PATCH": http.Handler(_patch, roles=http.ALL_ROLES),
    "DELETE": http.Handler(_delete, roles=http.ALL_ROLES),
}
ID = {"id": {"type": "string", "pattern": history.ID, "description": "One of the caller's conversations (another user's is 404)."}}
API = (
    openapi.Op("GET", "/conversations", "The caller's conversations", {200: "ConversationList"}, query=ConversationQuery,
               description="The most recently continued first."),
    openapi.Op("GET", "/conversations/{id}", "A conversation and a page of its messages", {200: "ConversationDetail"}, params=ID,
               query=ConversationQuery, description="Messages oldest first."),
    openapi.Op("PATCH", "/conversations/{id}", "Rename a conversation", {200: "Conversation"}, params=ID, body=ConversationPatch,
               examples=({"title": "Plan a trip to Lisbon"},)),
    openapi.Op("DELETE", "/conversations/{id}", "Delete a conversation and its messages", {204: None}, params=ID),
)


@https_fn.on_request()
def conversations(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "conversations", ROUTES)
