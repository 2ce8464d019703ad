"""The edge every HTTPS function goes through: parse -> authenticate -> call -> respond.

:func:`serve` owns what each function would otherwise repeat: CORS and
preflight, the worker health probe, 405 with ``Allow``, authentication and
roles, body limits (413), JSON only (415), pydantic validation errors that
name the field, one error shape, a request id, and one structured log line.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Request, Response
from pydantic import BaseModel, ValidationError

from gateway import answers_held, jsonload, logs, settings
from gateway.errors import ErrorCode, GatewayError, internal, invalid
from gateway.fieldpath import field_path

if TYPE_CHECKING:
    from gateway import audit
    from gateway.auth import Caller

ALL_ROLES = frozenset({"admin", "user", "viewer"})
ADMIN = frozenset({"admin"})
ORG_MANAGERS = frozenset({"owner", "admin"})
"""Org roles that manage their organisation's catalogue (``gateway.orgs.MANAGERS``)."""
ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-Id, X-Firebase-AppCheck, X-Org-Id, OpenAI-Organization"
EXPOSED_HEADERS = "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Conversation-Id, Server-Timing"

M = TypeVar("M", bound=BaseModel)


@dataclass
class Context:
    """What a handler gets: the request, its id, the caller and the sub-path."""

    request: Request
    request_id: str
    route: str
    caller: Caller | None = None
    path: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (rate-limit state), sent with success and error answers alike."""
    started: float = field(default_factory=time.perf_counter)
    """When the request arrived (``perf_counter``): what a route's time limit counts from."""
    admission: Any = None
    """The rate-limit count (``gateway.limits.Admission``) when :meth:`admit` overlapped it with the provider call."""
    app_check: dict[str, Any] | None = None
    """The verified App Check claims (None when the route's mode is off, or monitor let a bad token through)."""
    trackers: list[Any] = field(default_factory=list)
    """This request's ledger entries; one the handler left unsettled is recorded as failed by :func:`serve`."""

    closers: list[Callable[[], None]] = field(default_factory=list)
    """Run once the answer is sent (a stream: once it ended), whatever it was: what the request holds is given back."""

    reservation: Any = None
    """The request's budget reservation (``gateway.budgets.Reservation``), when a budget applies."""
    caps: Any = None

    def admit(self, model: Any, ask: Any, overlap: bool = True, caps: Any = None) -> None:
        """Count this request against the caller's rate limit and reserve its worst case against their budgets.

        Both in one Firestore commit before the provider is called
        (``gateway.budgets.reserve``), unless this instance's lease for the
        caller covers the request: then only its record and the count are
        written, beside the provider call. With no budget at all, the count may
        overlap the provider call (``gateway.limits.admit``). Either way
        :meth:`confirm` waits for what is in flight before the first byte of
        the answer; the ledger entry this request will settle is made here.
        A refusal is a 429.
        """
        from gateway import budgets, limits, usage

        assert self.caller is not None
        self.caps = caps = caps or budgets.caps_for(self.caller.profile, self.caller.role, self.caller)
        counted = settings.RATE_LIMITS_ENABLED.value
        if caps.any:
            self.reservation, self.admission = budgets.reserve(
                self.caller.uid, self.route, self.caller.role, model, ask, caps, self.headers, counted, overlap
            )
        elif counted:
            self.admission = limits.admit(self.caller.uid, self.route, self.caller.role, model.id, self.headers, overlap)
        tracker = usage.Tracker(self.caller.uid, self.route, model.id, model.provider, self.confirm, ask, self.reservation, self.caller.org)
        tracker.use(model)
        self.trackers.append(tracker)

    def extend(self, ask: Any) -> None:
        """Reserve what the request turned out to need on top (history read after admission); 429 when it does not fit."""
        from gateway import budgets

        for tracker in self.trackers:
            tracker.ask = budgets.Ask(
                tracker.ask.tokens + ask.tokens, tracker.ask.cost + ask.cost, tracker.ask.prompt_estimate + ask.prompt_estimate,
                tracker.ask.completion_limit, tracker.ask.images,
            )
        if self.reservation is not None:
            self.confirm()  # a reservation from a lease: its record must be written before it can grow
            budgets.extend(self.reservation, ask, self.caps)

    def confirm(self, on_refusal: Callable[[], None] | None = None) -> None:
        """Wait for this request's rate-limit verdict; nothing to wait for when it was decided up front.

        A refusal (429) after the provider call started books what it used,
        runs ``on_refusal`` (close the provider's stream) and is raised.
        """
        if self.admission is None:
            return
        try:
            self.admission.confirm()
        except GatewayError as err:
            for tracker in self.trackers:
                tracker.refused(err)
            if on_refusal is not None:
                on_refusal()
            raise

    def tracker(self) -> Any:
        """The ledger entry of this request (``gateway.usage.Tracker``) that :meth:`admit` made."""
        return self.trackers[-1]

    def json(self) -> dict[str, Any]:
        """The JSON object body, within the size limit; 413, 415 or 400 otherwise."""
        limit = settings.MAX_BODY_BYTES.value
        length = self.request.content_length
        if length is not None and length > limit:
            raise _too_large(limit)
        if self.request.mimetype != "application/json":
            raise GatewayError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
                {"contentType": self.request.mimetype or None},
            )
        raw = self.request.stream.read(limit + 1)
        if len(raw) > limit:
            raise _too_large(limit)
        try:
            body = jsonload.loads(raw)
        except jsonload.TooDeep as exc:  # a RecursionError (a 500) before it had a limit
            raise GatewayError(ErrorCode.INVALID_ARGUMENT, f"body: {exc}", {"fields": [{"field": "body", "message": str(exc)}]}) from None
        except ValueError as exc:
            raise GatewayError(
                ErrorCode.INVALID_ARGUMENT, "body: not valid JSON", {"fields": [{"field": "body", "message": str(exc)}]}
            ) from None
        if not isinstance(body, dict):
            raise GatewayError(
                ErrorCode.INVALID_ARGUMENT,
                "body: must be a JSON object",
                {"fields": [{"field": "body", "message": "must be a JSON object"}]},
            )
        return body

    def parse(self, model: type[M], data: Mapping[str, Any] | None = None) -> M:
        """Validate ``data`` (default: the body) with a pydantic model."""
        return validate(model, self.json() if data is None else data)


@dataclass(frozen=True)
class Handler:
    """One method of a route: the function and the roles allowed to call it."""

    call: Callable[[Context], Response | dict[str, Any] | tuple[dict[str, Any], int]]
    roles: Collection[str] = ALL_ROLES
    org_roles: Collection[str] = ()
    """Org roles that may call it too, in the organisation the request is for (org managers on their own catalogue):
    a caller whose project role is not in ``roles`` is let in when the request names an organisation where they hold one."""
    public: bool = False
    reads: Collection[Callable[[], None]] = ()
    """Starts of the config listeners (``gateway.live``) the method reads: run before the caller is
    authenticated, so that on a cold instance their first snapshots load while the ID token and the
    caller's profile are checked, instead of after."""


EXTRA_FIELD = "not accepted here: an unknown field, or one this gateway does not support (see docs/api.md and docs/openai.md)"
"""A field the request model does not declare is refused, never dropped: the caller must know it had no effect."""


def query(request: Request) -> dict[str, str]:
    """The query string, one value per name: a name given twice is refused, since which one counts would be a guess."""
    for name in request.args:
        if len(request.args.getlist(name)) > 1:
            raise invalid(name, "given more than once")
    return request.args.to_dict()


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    """Pydantic validation whose error names every bad field by its path in the body, first one in the message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: list[dict[str, str]] = []
        for err in exc.errors(include_url=False, include_context=False, include_input=False):
            path = ".".join(str(p) for p in field_path(model, err["loc"])) or "body"  # a field path, never a union member's tag
            entry = {"field": path, "message": EXTRA_FIELD if err["type"] == "extra_forbidden" else err["msg"]}
            if entry not in fields:
                fields.append(entry)
        deeper = {f["field"].rsplit(".", n)[0] for f in fields for n in range(1, f["field"].count(".") + 1)}
        fields = [f for f in fields if f["field"] not in deeper] or fields  # one member of a union got inside: its error says more
        first = fields[0]
        raise GatewayError(
            ErrorCode.INVALID_ARGUMENT, f"{first['field']}: {first['message']}", {"fields": fields}
        ) from None


def no_route(ctx: Context) -> GatewayError:
    """The 404 for a method and path that no route of the function serves."""
    return GatewayError(ErrorCode.NOT_FOUND, f"No route {ctx.request.method} {ctx.request.path}")


def actor(ctx: Context) -> audit.Actor:
    """Who an admin write is by, for its audit record: the caller's uid, carrying their email."""
    from gateway import audit  # admin edges only: the hot paths never import the audit module through here

    assert ctx.caller is not None
    return audit.Actor(ctx.caller.uid, ctx.caller.email)


def _too_large(limit: int) -> GatewayError:
    return GatewayError(ErrorCode.PAYLOAD_TOO_LARGE, f"Request body exceeds {limit} bytes", {"limitBytes": limit})


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), default=str, ensure_ascii=False),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def client_gone(request: Request) -> Callable[[], bool] | None:
    """Whether the client of ``request`` closed its connection, asked of the socket itself; None when the server gives no socket.

    gunicorn (Cloud Run, the emulator's functions-framework) and werkzeug put
    the connection in the WSGI environ. A client waiting for a streamed answer
    sends nothing more, so a readable socket with nothing to read is a closed one.
    """
    import select
    import socket

    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if not isinstance(sock, socket.socket):
        return None

    def gone() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    return gone


def _allowed_origin(origin: str) -> str | None:
    allowed = settings.CORS_ORIGINS.value.strip()
    if allowed == "*":
        return "*"
    return origin if origin in {o.strip() for o in allowed.split(",") if o.strip()} else None


def _request_id(request: Request) -> str:
    given = request.headers.get("X-Request-Id", "")
    if given and len(given) <= 64 and given.replace("-", "").isalnum():
        return given
    return uuid.uuid4().hex


def serve(
    request: Request,
    route: str,
    handlers: Mapping[str, Handler],
    error_body: Callable[[GatewayError], dict[str, Any]] | None = None,
) -> Response:
    """Run one request through the edge pipeline and answer it.

    ``error_body`` renders errors in another shape (the OpenAI-compatible endpoint's).
    """
    render = error_body or GatewayError.to_dict
    logs.bind(request.headers)  # this request's trace on every entry this thread writes for it, its stream included
    if request.path == "/__/health":
        return Response("ok", mimetype="text/plain")
    if request.path == "/openapi.json" and request.method == "GET":  # the API description, public (gateway/openapi.py)
        from gateway import openapi

        return openapi.response(_request_id(request))
    ctx = Context(request, _request_id(request), route, path=[p for p in request.path.split("/") if p])
    ctx.closers.append(answers_held.begin())  # provider answers this request reads are held until its response closes
    origin = request.headers.get("Origin")
    cors_origin = _allowed_origin(origin) if origin else None
    allow = ", ".join([*handlers, "OPTIONS"])
    try:
        response = _answer(ctx, handlers, allow, origin, cors_origin, render)
        for name, value in ctx.headers.items():
            response.headers.setdefault(name, value)
    except BaseException:  # no response to close later: give back what the request holds (a vision slot, answer bytes) now
        for close in ctx.closers:
            close()
        raise
    for close in ctx.closers:
        response.call_on_close(close)
    for tracker in ctx.trackers:
        if tracker.pending is not None:  # settled after the answer is sent (``usage.Tracker.ok(later=True)``)
            response.call_on_close(tracker.flush)
    latency_ms = round((time.perf_counter() - ctx.started) * 1000, 2)
    ledger_ms = _ledger_ms(ctx)
    timing = [f"gateway;dur={latency_ms}"]
    if ledger_ms is not None:
        timing.append(f"ledger;dur={ledger_ms}")
    response.headers["Server-Timing"] = ", ".join(timing)
    response.headers["X-Request-Id"] = ctx.request_id
    if cors_origin:
        response.headers["Access-Control-Allow-Origin"] = cors_origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if cors_origin != "*":
            response.headers.add("Vary", "Origin")
    caller = ctx.caller
    logs.info(
        "request",
        requestId=ctx.request_id,
        route=route,
        method=request.method,
        uid=caller.uid if caller else None,
        role=caller.role if caller else None,
        org=caller.org if caller else None,
        status=response.status_code,
        latencyMs=latency_ms,
        **({"ledgerMs": ledger_ms} if ledger_ms is not None else {}),
    )
    return response


def _answer(
    ctx: Context, handlers: Mapping[str, Handler], allow: str, origin: str | None, cors_origin: str | None, render: Callable[[GatewayError], dict[str, Any]]
) -> Response:
    """The handler's response, or the error's in the route's shape (logged; a failure is settled in the ledger first)."""
    try:
        if ctx.request.method == "OPTIONS":
            response = _preflight(origin, cors_origin, allow)
        else:
            response = _dispatch(ctx, handlers, allow)
    except GatewayError as exc:
        exc = _verdict_first(ctx, exc)
        _settle(ctx, exc)
        if exc.admin_message is not None:
            logs.warn("error details", requestId=ctx.request_id, route=ctx.route, detail=exc.admin_message, details=exc.admin_details)
            exc = exc.for_caller(ctx.caller is not None and ctx.caller.role in ADMIN, ctx.request_id)
        response = json_response(render(exc), exc.status, exc.headers)
    except Exception as exc:  # the catch-all: log it, never leak it
        logs.error(
            "unhandled exception",
            requestId=ctx.request_id,
            route=ctx.route,
            exception=type(exc).__name__,
            traceback=traceback.format_exc(),
        )
        err = internal(ctx.request_id)
        _settle(ctx, err)
        response = json_response(render(err), err.status)
    return response


def _ledger_ms(ctx: Context) -> float | None:
    """The ledger commit's share of the request's time, when it was made before the answer (a stream's is made at its end)."""
    spent = [tracker.commit_ms for tracker in ctx.trackers if tracker.commit_ms is not None]
    return round(sum(spent), 2) if spent else None


def _verdict_first(ctx: Context, err: GatewayError) -> GatewayError:
    """A request that failed while its rate-limit count was in flight: the count's headers, and its 429 if it was over."""
    try:
        ctx.confirm()
    except GatewayError as refusal:
        return refusal
    return err


def _settle(ctx: Context, err: GatewayError) -> None:
    """Record a failure in the ledger for the generation the handler started (before the error is answered)."""
    for tracker in ctx.trackers:
        tracker.failed(err)


def _preflight(origin: str | None, cors_origin: str | None, allow: str) -> Response:
    if origin and not cors_origin:
        raise GatewayError(ErrorCode.PERMISSION_DENIED, "Origin not allowed", {"origin": origin})
    response = Response(status=204)
    response.headers["Allow"] = allow
    response.headers["Access-Control-Allow-Methods"] = allow
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "3600"
    return response


def _role_denied(ctx: Context, handler: Handler) -> GatewayError:
    assert ctx.caller is not None
    details: dict[str, Any] = {"role": ctx.caller.role, "allowedRoles": sorted(handler.roles)}
    if handler.org_roles:
        details |= {"orgRole": ctx.caller.org_role, "allowedOrgRoles": sorted(handler.org_roles)}
    return GatewayError(ErrorCode.PERMISSION_DENIED, f"Role '{ctx.caller.role}' may not {ctx.request.method} {ctx.route}", details)


def _dispatch(ctx: Context, handlers: Mapping[str, Handler], allow: str) -> Response:
    handler = handlers.get(ctx.request.method)
    if handler is None:
        raise GatewayError(
            ErrorCode.METHOD_NOT_ALLOWED,
            f"Method {ctx.request.method} not allowed",
            {"allow": allow.split(", ")},
            headers={"Allow": allow},
        )
    for start in handler.reads:
        start()
    if not handler.public:
        from gateway import appcheck, auth

        verdict = appcheck.start(ctx.request, ctx.route, ctx.request_id)  # beside the ID token's check, not before it
        ctx.caller = auth.authenticate(ctx.request)  # a bad ID token is refused first, whatever App Check says
        ctx.app_check = verdict(ctx.caller.role == "admin")
        allowed = ctx.caller.role in handler.roles
        if not allowed and not handler.org_roles:
            raise _role_denied(ctx, handler)
        from gateway import orgs

        ctx.caller = orgs.attach(ctx.request, ctx.route, ctx.caller)  # membership of the organisation it names, on every request
        if not allowed and (ctx.caller.org is None or ctx.caller.org_role not in handler.org_roles):
            raise _role_denied(ctx, handler)
        if not allowed and ctx.request.method != "GET" and orgs.role_now(ctx.caller.org, ctx.caller) not in handler.org_roles:
            raise _role_denied(ctx, handler)  # a write by an org role is decided on the member document read now, not cached
    result = handler.call(ctx)
    ctx.confirm(on_refusal=result.close if isinstance(result, Response) else None)  # before the first byte, whatever the handler did
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        return json_response(result[0], result[1])
    return json_response(result)
