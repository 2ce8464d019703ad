"""The OpenAPI 3.1 description of every function, generated from the models the routes validate with.

Each function module declares its operations next to its ``ROUTES``, as
``API``: a tuple of :class:`Op` (method, path, query model, body model,
answers per status, roles when they differ from the handler's). Nothing here
is written by hand but words: request schemas come from the pydantic models
the handlers validate with, answers from ``gateway.answers`` (and the stored
shapes in ``gateway.schemas``), error answers from the code table in
``gateway.errors``, roles from each function's ``ROUTES``.

:func:`document` assembles the whole document (once per instance), every
function serves it at ``GET <function>/openapi.json`` (``gateway.http``), and
``scripts/openapi.py`` writes it to ``docs/openapi.json``. Only the small
dataclasses below are imported on a cold start; the schemas are built on the
first request for the document.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

REF = "#/components/schemas/{model}"
FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("health", "health"),
    ("models", "models"),
    ("generate_text", "generate_text"),
    ("generate_image", "generate_image"),
    ("openai", "openai_api"),
    ("usage", "usage_api"),
    ("conversations", "conversations_api"),
    ("providers", "providers_api"),
    ("orgs", "orgs_api"),
)
"""Every HTTPS function (its name, then its module)."""

SECURITY = "firebaseIdToken"
APP_CHECK = "appCheck"
DOCUMENT_PATH = "/openapi.json"


@dataclass(frozen=True)
class Body:
    """A JSON request body validated with ``model``.

    ``kind``: ``create`` (the model as is), ``replace`` (``id`` may be left
    out: the path's is used) or ``merge-patch`` (RFC 7396: every field
    optional, ``null`` removes one; the merged result is validated whole).
    """

    model: type[BaseModel]
    kind: Literal["create", "replace", "merge-patch"] = "create"


@dataclass(frozen=True)
class Stream:
    """A ``text/event-stream`` answer: ``data:`` events of ``events`` (answer model names), then ``data: [DONE]``.

    ``error_event``: a failure after the stream started is ``event: error``
    with an error body (the gateway's shape); without it, a ``data:`` event
    with the error (OpenAI's shape).
    """

    events: tuple[str, ...]
    error: str = "ErrorBody"
    error_event: bool = True
    typed: bool = False
    """Each event named by an ``event:`` line, its payload's ``type`` (OpenAI's Responses API), and no ``[DONE]``."""


Reply = str | Stream | None
"""An answer model's name (``gateway.answers``, else ``gateway.schemas``), a stream, or None for no body."""


@dataclass(frozen=True)
class Op:
    """One operation of a function, with its path relative to the functions' base URL (``/models/{id}``)."""

    method: str
    path: str
    summary: str
    answers: Mapping[int, Reply | tuple[Reply, ...]]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | Body | None = None
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Path parameters: name -> JSON Schema (with a ``description``)."""
    errors: Collection[int] = ()
    """Error statuses besides those every such operation may answer (see :func:`_error_statuses`)."""
    roles: Collection[str] | None = None
    """Who may call it, when stricter than the handler's roles (a sub-path for admins only)."""
    description: str = ""
    examples: tuple[Mapping[str, Any], ...] = ()
    """Request bodies that work (given the ids they name exist)."""


def _answer_model(name: str) -> type[BaseModel]:
    from gateway import answers, orgs, schemas

    model = getattr(answers, name, None) or getattr(orgs, name, None) or getattr(schemas, name)
    assert isinstance(model, type) and issubclass(model, BaseModel), name
    return model


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without pydantic's ``| None`` branch (a query string has no null)."""
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        schema = {k: v for k, v in schema.items() if k != "anyOf"}
        schema = {**rest[0], **schema} if len(rest) == 1 else {**schema, "anyOf": rest}
    if schema.get("default", 0) is None:
        schema = {k: v for k, v in schema.items() if k != "default"}
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """A merge patch's field: its schema or null (which removes it); never a default."""
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        return {k: v for k, v in schema.items() if k != "default"}
    inner = {k: v for k, v in schema.items() if k not in ("title", "description", "default")}
    outer = {k: v for k, v in schema.items() if k in ("title", "description")}
    return {"anyOf": [inner, {"type": "null"}], **outer}


class _Builder:
    """Collects the models the operations name, then renders paths and components."""

    def __init__(self) -> None:
        self.models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []

    def want(self, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> None:
        if (model, mode) not in self.models:
            self.models.append((model, mode))

    def collect(self, op: Op, error_model: str) -> None:
        if op.body is not None:
            self.want(op.body.model if isinstance(op.body, Body) else op.body, "validation")
        for reply in op.answers.values():
            for item in reply if isinstance(reply, tuple) else (reply,):
                if isinstance(item, str):
                    self.want(_answer_model(item), "serialization")
                elif isinstance(item, Stream):
                    for name in (*item.events, item.error):
                        self.want(_answer_model(name), "serialization")
        self.want(_answer_model(error_model), "serialization")

    def schemas(self) -> tuple[dict[tuple[type[BaseModel], str], dict[str, Any]], dict[str, Any]]:
        from pydantic.json_schema import models_json_schema

        refs, top = models_json_schema(self.models, ref_template=REF)
        return refs, top.get("$defs", {})


def _variant(components: dict[str, Any], name: str, kind: str) -> str:
    """A ``replace`` or ``merge-patch`` copy of component ``name``; returns the new component's name."""
    new = f"{name}{'Replace' if kind == 'replace' else 'Patch'}"
    if new in components:
        return new
    schema = copy.deepcopy(components[name])
    if kind == "replace":
        schema["required"] = [r for r in schema.get("required", []) if r != "id"]
        schema["description"] = f"{schema.get('description', '')} ``id`` may be left out: the path's is used; when given it must equal it.".strip()
    else:
        schema.pop("required", None)
        schema["properties"] = {k: _nullable(v) for k, v in schema["properties"].items()}
        schema["description"] = (
            f"A JSON merge patch (RFC 7396) of {name}: the fields to change, null to remove one; the result is validated whole."
        )
    schema["title"] = new
    components[new] = schema
    return new


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation", ref_template=REF)
    components.update(schema.get("$defs", {}))
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        prop = _strip_null(dict(prop))
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop.pop("description")
        params.append(param)
    return params


def _error_statuses(op: Op, public: bool) -> set[int]:
    """What any operation of this kind may answer: 500 always; 401/403 behind auth; 400 with input; 413/415 with a body; 404 with an id."""
    statuses = {500, *op.errors}
    if not public:
        statuses |= {401, 403}
    if op.query is not None or op.body is not None or op.params:
        statuses.add(400)
    if op.body is not None:
        statuses |= {413, 415}
    if op.params:
        statuses.add(404)
    return statuses


def _error_response(status: int, error_model: str) -> tuple[str, dict[str, Any]]:
    """The component ``responses`` entry of one error status: the error shape, its code limited to the codes of that status."""
    from gateway.errors import STATUS

    codes = sorted(code.value for code, s in STATUS.items() if s == status)
    openai = error_model != "ErrorBody"
    detail: dict[str, Any] = {"code": {"enum": [c.lower() for c in codes] if openai else codes}}
    if openai:
        from gateway.openai.errors import ERROR_TYPES

        detail["type"] = {"const": ERROR_TYPES.get(status, "api_error")}
    name = f"{'OpenAI' if openai else ''}Error{status}"
    headers: dict[str, Any] = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    if status == 429:
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    return name, {
        "description": " or ".join(codes),
        "headers": headers,
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [{"$ref": REF.format(model=error_model)}, {"properties": {"error": {"properties": detail}}}],
                }
            }
        },
    }


def _stream_media(stream: Stream) -> dict[str, Any]:
    """One event of a stream as schemathesis and OpenAPI 3.2's ``itemSchema`` read it: ``{event, data}``, data's JSON in ``contentSchema``."""

    def event(name: str, payloads: list[str]) -> dict[str, Any]:
        options = [{"$ref": REF.format(model=p)} for p in payloads]
        return {
            "type": "object",
            "required": ["data"],
            "properties": {
                "event": {"const": name},
                "data": {
                    "type": "string",
                    "not": {"const": "[DONE]"},
                    "contentMediaType": "application/json",
                    "contentSchema": options[0] if len(options) == 1 else {"anyOf": options},
                },
            },
        }

    if stream.typed:
        return {"schema": {"anyOf": [event(name, [model]) for model in stream.events for name in _event_names(model)]}, "x-sse-events": [*stream.events]}
    done = {"type": "object", "required": ["data"], "properties": {"event": {"const": "message"}, "data": {"const": "[DONE]"}}}
    events = [event("message", [*stream.events] + ([] if stream.error_event else [stream.error])), done]
    if stream.error_event:
        events.append(event("error", [stream.error]))
    return {
        "schema": {"anyOf": events},
        "x-sse-events": [*stream.events, stream.error],
    }


def _event_names(model: str) -> tuple[str, ...]:
    """The ``type`` values an event model allows: the names of its events (``Stream.typed``)."""
    import typing

    return typing.get_args(_answer_model(model).model_fields["type"].annotation)


def _media(item: Reply, refs: Mapping[tuple[type[BaseModel], str], dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    if isinstance(item, Stream):
        return "text/event-stream", _stream_media(item)
    assert item is not None
    return "application/json", {"schema": refs[(_answer_model(item), "serialization")]}


def _operation(function: str, op: Op, handler: Any, error_model: str, refs: Any, components: dict[str, Any]) -> dict[str, Any]:
    public = bool(handler.public)
    roles = sorted(op.roles if op.roles is not None else ([] if public else handler.roles))
    out: dict[str, Any] = {
        "operationId": f"{function}.{op.method.lower()}{op.path.removeprefix('/' + function).replace('/', '.').replace('{', '').replace('}', '')}",
        "summary": op.summary,
        "tags": [function],
        "x-roles": roles if not public else ["public"],
        "responses": {},
    }
    who = "No token needed." if public else f"Roles: {', '.join(roles)}."
    org_roles = sorted(getattr(handler, "org_roles", ()) or ())
    if org_roles and op.roles is None:  # also those org roles, on their organisation's own resources (X-Org-Id)
        out["x-org-roles"] = org_roles
        who += f" Org roles, in the organisation the request is for: {', '.join(org_roles)}."
    out["description"] = f"{op.description} {who}".strip()
    if public:
        out["security"] = []
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "description": schema.get("description", ""), "schema": {k: v for k, v in schema.items() if k != "description"}}
        for name, schema in op.params.items()
    ]
    if op.query is not None:
        parameters += _query_parameters(op.query, components)
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        body = op.body if isinstance(op.body, Body) else Body(op.body)
        ref = refs[(body.model, "validation")]["$ref"]
        name = ref.rsplit("/", 1)[1]
        if body.kind != "create":
            name = _variant(components, name, body.kind)
        media: dict[str, Any] = {"schema": {"$ref": REF.format(model=name)}}
        if op.examples:
            media["examples"] = {f"example{number}": {"value": example} for number, example in enumerate(op.examples, 1)}
        out["requestBody"] = {"required": True, "content": {"application/json": media}}
    request_id = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    for status, reply in sorted(op.answers.items()):
        items = reply if isinstance(reply, tuple) else (reply,)
        response: dict[str, Any] = {"description": _describe(items), "headers": dict(request_id)}
        content: dict[str, Any] = {}
        for media_type, media in (_media(item, refs) for item in items if item is not None):
            if media_type in content:  # two JSON answers of one status (by a query parameter): either
                first = content[media_type]["schema"]
                content[media_type] = {"schema": {"anyOf": [*first.get("anyOf", [first]), media["schema"]]}}
            else:
                content[media_type] = media
        if content:
            response["content"] = content
        out["responses"][str(status)] = response
    for status in sorted(_error_statuses(op, public)):
        name, response = _error_response(status, error_model)
        components.setdefault("responses", {})[name] = response
        out["responses"].setdefault(str(status), {"$ref": f"#/components/responses/{name}"})
    return out


def _describe(items: tuple[Reply, ...]) -> str:
    words = []
    for item in items:
        if item is None:
            words.append("No content.")
        elif isinstance(item, Stream):
            words.append(f"With stream: true, text/event-stream of {', '.join(item.events)} events, then [DONE].")
        else:
            doc = _answer_model(item).__doc__
            words.append(doc.strip().splitlines()[0] if doc else item)
    return " ".join(words)


def _document_op(function: str) -> dict[str, Any]:
    return {
        "operationId": f"{function}.openapi",
        "summary": "This OpenAPI document",
        "description": "The whole API's description (every function serves the same document). No token needed.",
        "tags": ["openapi"],
        "x-roles": ["public"],
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 document.",
                "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
                "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}},
            }
        },
    }


def build() -> dict[str, Any]:
    """The OpenAPI document, built from every function module's ``API`` and ``ROUTES``."""
    from gateway import __version__, deploy

    modules = [(name, importlib.import_module(module)) for name, module in FUNCTIONS]
    builder = _Builder()
    for _, module in modules:
        for op in module.API:
            builder.collect(op, getattr(module, "ERROR_MODEL", "ErrorBody"))
    refs, components = builder.schemas()
    paths: dict[str, dict[str, Any]] = {}
    tags = []
    for name, module in modules:
        tags.append({"name": name, "description": (module.__doc__ or "").strip().splitlines()[0]})
        for op in module.API:
            assert op.path.startswith(f"/{name}"), f"{op.path} is not a path of {name}"
            assert op.method in module.ROUTES, f"{name} has no {op.method} handler"
            error_model = getattr(module, "ERROR_MODEL", "ErrorBody")
            paths.setdefault(op.path, {})[op.method.lower()] = _operation(name, op, module.ROUTES[op.method], error_model, refs, components)
        paths[f"/{name}{DOCUMENT_PATH}"] = {"get": _document_op(name)}
    responses = components.pop("responses", {})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Firebase AI Gateway",
            "version": __version__,
            "description": (
                "HTTPS Cloud Functions between signed-in users of a Firebase web app and AI providers. "
                "Each function is served at the server URL plus its name; every path below starts with the function's name. "
                "Every error is {\"error\": {\"code\", \"message\", \"details\"}} (the openai function: OpenAI's error shape). "
                "x-roles lists the roles (custom claim role) allowed to call an operation."
            ),
        },
        "servers": [
            {
                "url": "https://{region}-{project}.cloudfunctions.net",
                "description": "Deployed (Cloud Functions 2nd gen)",
                "variables": {
                    "region": {"default": deploy.REGION, "enum": [deploy.REGION], "description": "deploy.REGION"},
                    "project": {"default": "your-project-id", "description": "The Firebase project id"},
                },
            },
            {
                "url": "http://{host}/{project}/{region}",
                "description": "Firebase Emulator Suite (make dev)",
                "variables": {
                    "host": {"default": "127.0.0.1:5001", "description": "The Functions emulator's host and port"},
                    "project": {"default": "demo-ai-gateway", "description": "The emulated project id"},
                    "region": {"default": deploy.REGION, "enum": [deploy.REGION], "description": "deploy.REGION"},
                },
            },
        ],
        "security": [{SECURITY: []}, {SECURITY: [], APP_CHECK: []}],
        "tags": [*tags, {"name": "openapi", "description": "This document, served by every function."}],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": responses,
            "headers": {
                "X-Request-Id": {"required": True, "description": "The request's id (the caller's X-Request-Id when valid); quote it.", "schema": {"type": "string"}},
                "Retry-After": {"required": False, "description": "Seconds to wait before trying again.", "schema": {"type": "string"}},
            },
            "securitySchemes": {
                SECURITY: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Firebase Auth ID token (await user.getIdToken() in the web SDK); roles come from its role claim.",
                },
                APP_CHECK: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Firebase-AppCheck",
                    "description": "A Firebase App Check token, required with the ID token where the APP_CHECK param enforces it "
                    "(401 UNAUTHENTICATED naming App Check without it); limited-use tokens on the routes APP_CHECK_CONSUME names.",
                },
            },
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """The document as committed: sorted keys, two-space indent, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@functools.cache
def _served() -> bytes:
    return json.dumps(build(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def response(request_id: str) -> Any:
    """``GET <function>/openapi.json``: the whole document, built once per instance; public, cacheable."""
    from flask import Response

    return Response(
        _served(),
        mimetype="application/json",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*", "X-Request-Id": request_id},
    )
