"""The isolation suite's requests, generated from the OpenAPI description (tests/test_isolation.py runs them).

Every operation of the document (``gateway.openapi.build()``, what every
function serves) is tried as every caller of organisation A (and a project
user in no organisation, and a project admin working in A), each time naming
organisation B somewhere: B's ids in the path parameters, in the query
filters, in the request body (``model``, ``modelId``, ``conversationId``,
``fallbacks``...), ``X-Org-Id: B``, and on the ``openai`` edge
``OpenAI-Organization: B``. A new route is covered without editing this file:
its path parameters, query parameters and body fields are matched by name,
and a name not known here gets every one of B's ids.

Pure: nothing here talks to the emulators; :class:`Ids` says what B (and A)
hold, the caller of :func:`cases` runs them.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Expect = Literal["refuse", "forbidden", "no-leak"]
"""``refuse``: a 400, 403 or 404 (the request names B's resource to read, act on or call); ``forbidden``: exactly 403
(``X-Org-Id: B`` from a non-member); ``no-leak``: any 2xx or refusal, as long as nothing of B is in the answer."""


@dataclass(frozen=True)
class Ids:
    """What organisation B holds (what A's callers must never reach), and A's own valid ids to fill the rest."""

    org_b: str
    model_b: str
    """An org-owned model of B (``orgs/B/models/{id}``)."""
    shared_b: str
    """A project-wide model shared with B only (``orgs/B.settings.sharedModels``): refused to callers in A."""
    provider_b: str
    conversation_b: str
    response_b: str
    image_b: str
    member_uids_b: tuple[str, ...]
    audit_b: tuple[str, ...]
    """Audit records of B's changes (no route names one today: a new one gets them by the catch-all)."""
    org_a: str
    text_model: str
    """A project-wide text model shared with A and B: what a body's other model fields are set to."""
    image_model: str

    def all_b(self, in_org: bool) -> list[str]:
        """Every id of B (``shared_b`` only for a caller working in an organisation: project-wide otherwise)."""
        ids = [self.org_b, self.model_b, self.provider_b, self.conversation_b, self.response_b, self.image_b, *self.member_uids_b, *self.audit_b]
        return ids + ([self.shared_b] if in_org else [])

    def models_b(self, in_org: bool) -> list[str]:
        return [self.model_b, *([self.shared_b] if in_org else [])]


@dataclass(frozen=True)
class Role:
    """A caller: its account name (the test's fixture), the headers that put it in its organisation, whether it is in one."""

    name: str
    headers: Mapping[str, str]
    in_org: bool
    project_admin: bool = False


@dataclass
class Case:
    op: str
    """``METHOD /path/template`` as the document names it."""
    role: str
    method: str
    function: str
    path: str
    """The path inside the function (``/v1/models/x``)."""
    what: str
    """What names B: ``path id=...``, ``query provider=...``, ``body model=...``, ``header X-Org-Id``."""
    expect: Expect
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def key(self) -> str:
        return f"{self.op} as {self.role}: {self.what}"

    def sent(self) -> str:
        """Everything the request itself carried: an id of B echoed back from it reveals nothing."""
        return " ".join([self.path, repr(self.query), repr(self.headers), repr(self.body)])


# --- which of B's ids a name stands for ---------------------------------------------


def _path_values(function: str, path: str, name: str, ids: Ids, in_org: bool) -> list[str]:
    """B's ids for a path parameter; a name not known here gets them all (so a new route is covered)."""
    if function in ("models",) or (function == "openai" and "/models/" in path):
        return ids.models_b(in_org) if name == "id" else ids.all_b(in_org)
    if function == "providers" and name == "id":
        return [ids.provider_b]
    if function == "conversations" and name == "id":
        return [ids.conversation_b]
    if function == "openai" and "/responses/" in path and name == "id":
        return [ids.response_b]
    if function == "orgs" and name == "id":
        return [ids.org_b]
    if name == "uid":
        return list(ids.member_uids_b)
    if "audit" in path:
        return list(ids.audit_b)
    return ids.all_b(in_org)


QUERY_NAMES = re.compile(r"(?i)(id|org|model|provider|uid|user|conversation|member|page_?token)s?$")
"""Query parameters that may name something of B; the rest keep their defaults."""


def _query_values(function: str, name: str, ids: Ids, in_org: bool) -> list[str]:
    if name == "provider":
        return [ids.provider_b]
    if name in ("model", "modelId"):
        return ids.models_b(in_org)
    if name == "uid":
        return list(ids.member_uids_b)
    if name == "pageToken":  # a cursor is often a document id: B's must not start a page of B's documents
        return {"models": ids.models_b(in_org), "providers": [ids.provider_b], "conversations": [ids.conversation_b],
                "orgs": [ids.org_b]}.get(function, ids.all_b(in_org))
    return ids.all_b(in_org)


BODY_FIELDS: dict[str, Expect] = {
    "model": "refuse",
    "modelId": "refuse",
    "conversationId": "refuse",
    "previous_response_id": "refuse",
    "provider": "refuse",
    "orgId": "refuse",
    "fallbacks": "no-leak",  # a create may succeed (the ids are checked when called); calling must never reach B's model
    "id": "no-leak",  # an id is per organisation: A may create its own "x" beside B's "x"
}
"""Body fields (at any depth of an example, or in the body's schema) that may name something of B, and what naming B
there must give."""


def _body_values(function: str, path: str, name: str, ids: Ids, in_org: bool) -> list[Any]:
    if name in ("model", "modelId"):
        return ids.models_b(in_org)
    if name == "fallbacks":
        return [[model] for model in ids.models_b(in_org)]
    if name == "conversationId":
        return [ids.conversation_b]
    if name == "previous_response_id":
        return [ids.response_b]
    if name == "provider":
        return [ids.provider_b]
    if name == "orgId":
        return [ids.org_b]
    if name == "id":
        return {"models": ids.models_b(in_org), "providers": [ids.provider_b], "orgs": [ids.org_b]}.get(function, [])
    return []


# --- the document ---------------------------------------------------------------------


def _resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _function(path: str) -> str:
    return path.strip("/").split("/")[0]


def _fill(template: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _valid_models(body: Any, path: str, ids: Ids) -> Any:
    """An example body with its model fields set to a model A may call, so a check further on (a conversation's
    owner, a fallback) is reached rather than the example's made-up model refused first."""
    body = copy.deepcopy(body)
    model = ids.image_model if "image" in path else ids.text_model
    if isinstance(body, dict):
        for name in ("model", "modelId"):
            if name in body and isinstance(body[name], str):
                body[name] = model
    return body


def _fields(body: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(location, name) of every field of ``body`` named in :data:`BODY_FIELDS`, at any depth."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in BODY_FIELDS:
                yield (*prefix, key), key
            yield from _fields(value, (*prefix, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from _fields(value, (*prefix, index))


def _set(body: Any, where: tuple[Any, ...], value: Any) -> Any:
    body = copy.deepcopy(body)
    target = body
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value
    return body


def operations(document: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(method, path template, operation) of every operation the document describes."""
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()]


def _bodies(document: Mapping[str, Any], path: str, op: Mapping[str, Any], ids: Ids) -> list[tuple[Any, str | None]]:
    """The operation's request examples (models made callable), plus one with each named body field its schema has
    and no example carries (``conversationId``, ``fallbacks``...): (body, the one field to name B in, None: any)."""
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return [(None, None)]
    examples: list[tuple[Any, str | None]] = [(_valid_models(e["value"], path, ids), None) for e in content.get("examples", {}).values()]
    examples = examples or [({}, None)]
    properties = _resolve(document, content["schema"]).get("properties", {})
    carried = {name for example, _ in examples for _, name in _fields(example)}
    for name in sorted(set(properties) & set(BODY_FIELDS) - carried):
        examples.append(({**examples[0][0], name: [] if name == "fallbacks" else ""}, name))
    return examples


@dataclass(frozen=True)
class _Target:
    """One operation as one caller sends it."""

    method: str
    template: str
    function: str
    public: bool
    role: Role

    def case(self, what: str, expect: Expect, values: Mapping[str, str], *, query: Mapping[str, str] | None = None,
             body: Any = None, headers: Mapping[str, str] | None = None) -> Case:
        inner = self.template.removeprefix(f"/{self.function}") or "/"
        return Case(f"{self.method} {self.template}", self.role.name, self.method, self.function, _fill(inner, values), what,
                    "no-leak" if self.public else expect, dict(query or {}), {**self.role.headers, **(headers or {})}, body)


def cases(document: Mapping[str, Any], ids: Ids, roles: list[Role]) -> list[Case]:
    """Every request of the suite: each operation x each role x each way of naming B."""
    out: list[Case] = []
    for method, template, op in operations(document):
        function = _function(template)
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        queries = [p["name"] for p in op.get("parameters", []) if p["in"] == "query" and QUERY_NAMES.search(p["name"])]
        bodies = _bodies(document, template, op, ids)
        first = bodies[0][0]
        for role in roles:
            if role.project_admin and function in ("orgs", "usage"):
                continue  # a project admin manages every organisation and reads all usage: nothing of B is hidden from them
            target = _Target(method, template, function, op.get("x-roles") == ["public"], role)
            combos = [dict(zip(names, combo, strict=True)) for combo in
                      itertools.product(*(_path_values(function, template, n, ids, role.in_org) for n in names))]
            if function == "orgs" and "uid" in names:  # B's members named inside the caller's own organisation too
                combos += [{"id": ids.org_a, "uid": uid} for uid in ids.member_uids_b]
            for values in combos or [{}]:
                named = " ".join(f"{k}={v}" for k, v in values.items())
                out.append(target.case(f"path {named}" if named else "plain", "refuse" if values else "no-leak", values, body=first))
            neutral = combos[0] if combos else {}
            for name in queries:
                for value in _query_values(function, name, ids, role.in_org):
                    expect: Expect = "refuse" if neutral or name == "uid" else "no-leak"  # a filter may answer nothing; another's uid not
                    out.append(target.case(f"query {name}={value}", expect, neutral, query={name: value}, body=first))
            for number, (body, only) in enumerate(bodies):
                for where, name in _fields(body):
                    if only is not None and name != only:
                        continue
                    for value in _body_values(function, template, name, ids, role.in_org):
                        label = ".".join(str(w) for w in where)
                        expect = "refuse" if neutral else BODY_FIELDS[name]
                        out.append(target.case(f"body#{number} {label}={value}", expect, neutral, body=_set(body, where, value)))
            if not role.project_admin:  # a project admin acts as owner of every organisation, B included
                out.append(target.case(f"header X-Org-Id={ids.org_b}", "forbidden", neutral, body=first, headers={"X-Org-Id": ids.org_b}))
            if function == "openai":  # a hint, ignored for a non-member: still nothing of B
                hinted = {"OpenAI-Organization": ids.org_b}
                out.append(target.case(f"header OpenAI-Organization={ids.org_b}", "refuse" if neutral else "no-leak", neutral,
                                       body=first, headers=hinted))
                for where, name in _fields(first):
                    if name == "model":
                        for value in ids.models_b(role.in_org):
                            out.append(target.case(f"header OpenAI-Organization={ids.org_b} body {name}={value}", "refuse", neutral,
                                                   body=_set(first, where, value), headers=hinted))
    return out


def ghost(value: str) -> str:
    """An id of the same shape as ``value`` that names nothing (its last four characters changed)."""
    return value[:-4] + ("0000" if value[-4:] != "0000" else "1111")


def twin(case: Case, ids: Ids) -> Case | None:
    """``case`` with each of B's ids in its path, query and body replaced by a :func:`ghost`: B's resource must be
    answered exactly as one that does not exist (the same status and message), or the answer tells that it exists.
    None when the case names none of B's ids there (``X-Org-Id: B`` has its own, equal, 403 by design)."""
    if case.expect == "forbidden":
        return None
    path, query, body = case.path, json.dumps(case.query), json.dumps(case.body)
    for value in sorted(set(ids.all_b(True)), key=len, reverse=True):
        path, query, body = (text.replace(value, ghost(value)) for text in (path, query, body))
    if (path, query, body) == (case.path, json.dumps(case.query), json.dumps(case.body)):
        return None
    return dataclasses.replace(case, path=path, query=json.loads(query), body=json.loads(body), what=f"{case.what} (ghost)")
