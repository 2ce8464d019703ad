"""Conformance with OpenAI's published API description (openai/openai-openapi, vendored in tests/openai_spec).

Requests are generated from the description's ``CreateChatCompletionRequest``
(seeded, so every run sends the same ones): every optional field absent,
``null`` where the description allows it, or at its documented default;
required fields with plain values (each message role and content variant);
function ``tools`` and each ``tool_choice`` that names them. Every one must be
accepted: a documented field at null or its default changes nothing (issue 20).
Fields today's gateway still refuses are :data:`KNOWN_REFUSED`, strict xfails.
``CreateResponse`` drives 200 more by the same rule. Every answer — completions,
chunks, models, errors, responses and their events, embeddings, images — is
validated against the description's schemas with ``jsonschema``; every family is served.

The description is OpenAPI 3.1 with two dialects mixed: JSON Schema's
``anyOf [.., {"type": "null"}]`` and OpenAPI 3.0's ``nullable: true``, which a
JSON Schema validator ignores; :func:`json_schema` rewrites the latter (and
reads ``oneOf`` as ``anyOf``: some unions overlap).
``discriminator`` and ``x-*`` are annotations (ignored); ``$recursiveRef`` (two
file-search filters, unused here) is not resolved. Where the schemas contradict
the description's own examples, :data:`QUIRKS` follow the examples.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import random
import re
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conftest import ROOT

SPEC_DIR = ROOT / "tests" / "openai_spec"
PINNED = "f85dbe223d40e1a31cba812ab2d755c7e98a92a3"
"""The commit of openai/openai-openapi the vendored subset comes from (docs/openai.md)."""
URN = "urn:openai-openapi"
REQUESTS = 500
SEED = 20
MODELS = ("openai-chat", "anthropic-chat", "gemini-chat", "ollama-chat")
CANNOT_FORCE = frozenset({"ollama-chat"})
"""Models whose provider cannot force a tool call (the capability table in docs/openai.md)."""
LIMITS = {"perMinute": {"openai": 10_000}, "quotas": {"user": {"dailyTokens": 100_000_000, "dailyCostUsd": 1_000.0}}}
ABSENT = object()


def json_schema(node: Any) -> Any:
    """An OpenAPI schema as JSON Schema 2020-12: ``nullable: true`` becomes ``anyOf [it, {"type": "null"}]``, and
    ``oneOf`` is ``anyOf``: the description's unions overlap (an ``input`` message with ``input_text`` parts is both
    an ``EasyInputMessage`` and an ``InputMessage``), where OpenAPI picks one by ``discriminator`` or order."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {"anyOf" if key == "oneOf" else key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _usage_may_be_null(document: dict[str, Any]) -> None:
    """``Response.usage`` is not nullable in the schema, yet null in the description's own stream examples
    (``response.created``: ``"usage": null``) and in OpenAI's answers: as the examples say."""
    [part] = [p for p in document["components"]["schemas"]["Response"]["allOf"] if "usage" in p.get("properties", {})]
    part["properties"]["usage"] = {"anyOf": [part["properties"]["usage"], {"type": "null"}]}


QUIRKS = (_usage_may_be_null,)
"""Where the schemas are stricter than the description's own examples: each says why, and is checked against them."""

RAW = json.loads((SPEC_DIR / "openapi.subset.json").read_text(encoding="utf-8"))
DOCUMENT = json_schema(RAW)
for quirk in QUIRKS:
    quirk(DOCUMENT)
REGISTRY = Registry().with_resource(URN, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))


def validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{URN}#{pointer}"}, registry=REGISTRY)


def schema_errors(name: str, instance: Any) -> str | None:
    """Why ``instance`` is not a valid ``name`` of the description, or None."""
    error = best_match(validator(f"/components/schemas/{name}").iter_errors(instance))
    return None if error is None else f"{name} at {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"


def assert_valid(name: str, instance: Any) -> None:
    problem = schema_errors(name, instance)
    assert problem is None, f"{problem}\n{json.dumps(instance)[:2000]}"


# -- requests from CreateChatCompletionRequest -------------------------------------------


class Generator:
    """Valid chat completion requests: optional fields absent, null or at a documented default; required ones plain.

    Schemas are addressed by JSON pointer into :data:`DOCUMENT`, so that each
    candidate value is checked against the very schema (all its ``allOf``
    parts) it was read from: only values the description accepts are sent.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._valid: dict[tuple[str, ...], Draft202012Validator] = {}
        self._harmless: dict[tuple[str, ...], list[Any]] = {}
        self.used: Counter[str] = Counter()

    @staticmethod
    def node(pointer: str) -> Any:
        node: Any = DOCUMENT
        for part in pointer.strip("/").split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def deref(self, pointer: str) -> list[str]:
        """``pointer`` and what its ``$ref`` (transitively) points at: every one of them applies."""
        out = [pointer]
        ref = self.node(pointer).get("$ref")
        if ref:
            out += self.deref(ref.removeprefix("#"))
        return out

    def branches(self, pointer: str, keyword: str) -> list[str]:
        return [f"{p}/{keyword}/{i}" for p in self.deref(pointer) for i in range(len(self.node(p).get(keyword, [])))]

    def properties(self, pointer: str) -> tuple[dict[str, list[str]], set[str]]:
        """An object schema's properties (each with the schemas it must meet, from every ``allOf`` part) and required names."""
        props: dict[str, list[str]] = {}
        required: set[str] = set()
        for p in self.deref(pointer):
            node = self.node(p)
            for part in self.branches(p, "allOf") if "allOf" in node else []:
                more, needed = self.properties(part)
                for name, pointers in more.items():
                    props.setdefault(name, []).extend(pointers)
                required |= needed
            for name in node.get("properties", {}):
                props.setdefault(name, []).append(f"{p}/properties/{name}")
            required |= set(node.get("required", []))
        return props, required

    def defaults(self, pointer: str) -> Iterator[Any]:
        """Documented defaults of a schema, of its ``anyOf`` (and ``oneOf``) branches, and objects made of their fields' defaults."""
        for p in self.deref(pointer):
            node = self.node(p)
            if "default" in node:
                yield node["default"]
            for keyword in ("anyOf",):  # (oneOf is read as anyOf)
                for branch in self.branches(p, keyword) if keyword in node else []:
                    yield from self.defaults(branch)
        props, required = self.properties(pointer)
        # e.g. prompt_cache_breakpoint: {"mode": "explicit"}, its one field's default; not a variant picked by its "type"
        if required and required <= set(props) and "type" not in required:
            values = {name: next(iter(self._defaults_of(props[name])), ABSENT) for name in sorted(required)}
            if ABSENT not in values.values():
                yield values

    def _defaults_of(self, pointers: list[str]) -> list[Any]:
        return [value for p in pointers for value in self.defaults(p)]

    def valid(self, pointers: list[str], value: Any) -> bool:
        key = tuple(pointers)
        if key not in self._valid:
            self._valid[key] = Draft202012Validator({"allOf": [{"$ref": f"{URN}#{p}"} for p in pointers]}, registry=REGISTRY)
        return self._valid[key].is_valid(value)

    def harmless(self, pointers: list[str]) -> list[Any]:
        """``null`` and the documented defaults that the field's schemas accept, without repeats."""
        if tuple(pointers) in self._harmless:
            return copy.deepcopy(self._harmless[tuple(pointers)])
        out: list[Any] = []
        for value in [None, *self._defaults_of(pointers)]:
            if not any(json.dumps(value) == json.dumps(seen) for seen in out) and self.valid(pointers, value):
                out.append(value)
        self._harmless[tuple(pointers)] = out
        return copy.deepcopy(out)

    def optional(self, pointer: str, path: str, plain: dict[str, Any], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """``plain`` (the required fields) and each optional field absent, null or at a default, picked at random."""
        props, required = self.properties(pointer)
        out = dict(plain)
        for name in sorted(set(props) - required - set(plain) - skip):
            value = self.rng.choice([ABSENT, *self.harmless(props[name])])
            if value is not ABSENT:
                out[name] = value
                self.used[f"{path}{name}={json.dumps(value)}"] += 1
        return out

    # -- required fields, plain values --

    def message_schemas(self) -> dict[str, str]:
        """Each message variant's schema by role (the deprecated ``function`` role is left out: the legacy functions API)."""
        out = {}
        for branch in self.branches("/components/schemas/ChatCompletionRequestMessage", "anyOf"):
            props, _ = self.properties(branch)
            [role_schema] = [self.node(p) for p in props["role"] for p in self.deref(p)][-1:]
            role = role_schema["enum"][0]
            if role != "function":
                out[role] = branch
        return out

    def text_part(self, text: str, path: str) -> dict[str, Any]:
        return self.optional("/components/schemas/ChatCompletionRequestMessageContentPartText", f"{path}text.", {"type": "text", "text": text})

    def content(self, role: str, text: str) -> str | list[dict[str, Any]]:
        """A string, or an array of text parts (and, for an assistant, a refusal part): every text variant the role allows."""
        kind = self.rng.choice(["string", "parts"] + (["refusal"] if role == "assistant" else []))
        self.used[f"messages.{role}.content={kind}"] += 1
        if kind == "string":
            return text
        parts = [self.text_part(word, "messages.content.") for word in text.split(" ", 1)]
        if kind == "refusal":
            parts.append({"type": "refusal", "refusal": "I can't help with that."})
        return parts

    def message(self, role: str, schemas: dict[str, str], **plain: Any) -> dict[str, Any]:
        body = {"role": role, **plain}
        if "content" not in plain and role != "assistant":
            body["content"] = self.content(role, f"A {role} turn")
        return self.optional(schemas[role], f"messages.{role}.", body, skip=frozenset({"tool_calls"}))

    def messages(self) -> list[dict[str, Any]]:
        """A coherent history: an optional system or developer turn, user turns, assistant answers and tool round trips."""
        schemas = self.message_schemas()
        out = []
        if self.rng.random() < 0.5:
            out.append(self.message(self.rng.choice(["system", "developer"]), schemas))
        out.append(self.message("user", schemas))
        for turn in range(self.rng.randint(0, 2)):
            if self.rng.random() < 0.5:
                out.append(self.message("assistant", schemas, content=self.content("assistant", "An earlier answer")))
                out.append(self.message("user", schemas))
            else:
                call_id = f"call_{turn}"
                call = {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
                content = self.rng.choice([ABSENT, None, "Looking it up"])
                plain = {"tool_calls": [call]} if content is ABSENT else {"tool_calls": [call], "content": content}
                out.append(self.message("assistant", schemas, **plain))
                out.append(self.message("tool", schemas, tool_call_id=call_id))
        return out

    def tools(self, model: str) -> tuple[list[dict[str, Any]], list[Any]]:
        """Function tools (their ``strict`` absent, null or false) and every ``tool_choice`` that fits them.

        Choices that force a call only for models whose provider can force one (Ollama cannot: a 400 naming
        ``tool_choice``, as the rule wants for a value that changes the answer).
        """
        function = "/components/schemas/FunctionObject"
        tools = []
        for name in ("lookup", "other")[: self.rng.randint(1, 2)]:
            plain = {"name": name}
            if self.rng.random() < 0.7:
                plain["parameters"] = {"type": "object", "properties": {"q": {"type": "string"}}}
            tools.append({"type": "function", "function": self.optional(function, "tools.function.", plain, skip=frozenset({"description"}))})
        names = [t["function"]["name"] for t in tools]
        forcing = model not in CANNOT_FORCE
        choices: list[Any] = [ABSENT, "none", "auto"] + (["required", {"type": "function", "function": {"name": names[0]}}] if forcing else [])
        for mode in ("auto", "required") if forcing else ("auto",):
            choices.append({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": [{"type": "function", "function": {"name": n}} for n in names]}})
        return tools, choices

    def request(self, number: int) -> dict[str, Any]:
        model = MODELS[number % len(MODELS)]
        plain: dict[str, Any] = {"model": model, "messages": self.messages()}
        skip = {"tools", "tool_choice"}
        if self.rng.random() < 0.4:
            tools, choices = self.tools(model)
            plain["tools"] = tools
            choice = self.rng.choice(choices)
            if choice is not ABSENT:
                plain["tool_choice"] = choice
                kind = choice if isinstance(choice, str) else choice["type"]
                self.used[f"tool_choice={kind}"] += 1
        body = self.optional("/components/schemas/CreateChatCompletionRequest", "", plain, skip=frozenset(skip))
        if body.get("stream") is not True:
            body.pop("stream_options", None)  # OpenAI answers 400 to stream_options without stream (and so does the gateway)
        return body


class ResponsesGenerator(Generator):
    """Valid ``POST /v1/responses`` bodies from ``CreateResponse``, by the same rule: optional fields null or at a default."""

    def input(self) -> str | list[dict[str, Any]]:
        """A string, or messages (``EasyInputMessage``) of each role: string or ``input_text`` content (an assistant's a string)."""
        if self.rng.random() < 0.3:
            self.used["input=string"] += 1
            return "A user turn"
        roles = (["developer"] if self.rng.random() < 0.3 else []) + ["user"] + (["assistant", "user"] if self.rng.random() < 0.4 else [])
        out = []
        for role in roles:
            parts = role != "assistant" and self.rng.random() < 0.5
            content: Any = [{"type": "input_text", "text": f"A {role} turn"}] if parts else f"A {role} turn"
            self.used[f"input.{role}.content={'parts' if parts else 'string'}"] += 1
            out.append(self.optional("/components/schemas/EasyInputMessage", f"input.{role}.", {"role": role, "content": content}))
        return out

    def request(self, number: int) -> dict[str, Any]:
        plain = {"model": MODELS[number % len(MODELS)], "input": self.input()}
        return self.optional("/components/schemas/CreateResponse", "", plain)


RESPONSES_REQUESTS = 200


@functools.cache
def _responses_generated() -> str:
    generator = ResponsesGenerator(SEED)
    return json.dumps([generator.request(n) for n in range(RESPONSES_REQUESTS)])


@functools.cache
def _generated() -> str:
    generator = Generator(SEED)
    return json.dumps([generator.request(n) for n in range(REQUESTS)])


def generated() -> list[dict[str, Any]]:
    """The :data:`REQUESTS` requests of seed :data:`SEED` (made once per run: checking each candidate takes a few seconds)."""
    return json.loads(_generated())


class Known:
    """A field (its path, ``*`` for any index) at a value the description allows that today's gateway still refuses."""

    def __init__(self, path: str, reason: str, value: Any = ABSENT, kind: str | None = None) -> None:
        self.path, self.reason, self.value, self.kind = path.split("."), reason, value, kind
        self.name = path + ("" if value is ABSENT else f"={json.dumps(value)}") + ("" if kind is None else f"[type={kind}]")

    def matches(self, value: Any) -> bool:
        if self.kind is not None:
            return isinstance(value, dict) and value.get("type") == self.kind
        return self.value is ABSENT or json.dumps(value) == json.dumps(self.value)

    def strip(self, node: Any, at: int = 0) -> tuple[Any, bool]:
        """``node`` without this field where it appears (a list item or an object's key), and whether it appeared."""
        step, last = self.path[at], at == len(self.path) - 1
        if step == "*":
            if not isinstance(node, list):
                return node, False
            if last:
                kept = [item for item in node if not self.matches(item)]
                return kept, len(kept) != len(node)
            pairs = [self.strip(item, at + 1) for item in node]
            return [item for item, _ in pairs], any(found for _, found in pairs)
        if isinstance(node, dict) and step in node:
            if last:
                if self.matches(node[step]):
                    return {k: v for k, v in node.items() if k != step}, True
                return node, False
            inner, found = self.strip(node[step], at + 1)
            return {**node, step: inner}, found
        return node, False


KNOWN_REFUSED: tuple[Known, ...] = ()
"""What today's gateway still refuses of the generated requests: each is taken out of the requests
:func:`test_generated_requests_at_null_or_default_are_accepted` sends, and checked on its own by
:func:`test_known_refusals`, an xfail (strict) that starts failing once the gateway accepts it: then remove it here."""


def without(body: dict[str, Any], known: tuple[Known, ...]) -> tuple[dict[str, Any], set[str]]:
    """``body`` with the fields of ``known`` taken out, and the names of those it had."""
    had = set()
    for item in known:
        body, found = item.strip(body)
        if found:
            had.add(item.name)
    return body, had


# -- the fixtures ----------------------------------------------------------------------


@pytest.fixture
def conformance(local, providers, accounts) -> dict[str, Any]:
    """Every generated-for model can take tools; generous limits, so 500 requests are never a 429."""
    from gateway import firebase, limits
    from gateway.registry import registry

    db = firebase.db()
    for model in MODELS:
        db.collection("models").document(model).update({"capabilities": ["chat", "streaming", "tools"]})
    db.collection("config").document("limits").set(LIMITS)
    registry().invalidate()
    limits.forget()
    _settled(lambda: all("tools" in registry().get(m).capabilities for m in MODELS))
    return providers


def _settled(ready: Callable[[], bool], seconds: float = 1.0, timeout: float = 20.0) -> None:
    """Wait until ``ready()`` has held for ``seconds``: a listener's snapshot from before the fixture's writes
    (the reset's) may still arrive after the direct read, and 500 requests would meet it."""
    deadline, held = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if not ready():
            held = None
        elif held is None:
            held = time.monotonic()
        elif time.monotonic() - held >= seconds:
            return
        time.sleep(0.05)
    raise AssertionError("the registry never settled on the fixture's models")


def _chat(local, account, body: dict[str, Any]) -> Any:
    return local("openai").post("/v1/chat/completions", json=body, headers=account.headers)


def _data(response: Any) -> list[Any]:
    lines = [line[6:] for line in response.get_data(as_text=True).splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


# -- the vendored description -----------------------------------------------------------


def test_vendored_description_records_its_provenance() -> None:
    """The subset says where it comes from (pinned commit, source sha256, MIT), and holds all its roots reach."""
    import vendor_openai_spec as vendor

    provenance = RAW["x-provenance"]
    assert provenance["commit"] == PINNED and provenance["repository"] == vendor.REPO_URL and provenance["license"] == "MIT"
    assert provenance["roots"] == list(vendor.ROOTS)
    schemas = RAW["components"]["schemas"]
    assert set(schemas) == vendor.reachable(schemas), "the subset is exactly what its roots reach"
    text = (SPEC_DIR / "PROVENANCE.md").read_text()
    assert PINNED in text and provenance["sha256"] in text
    assert "MIT License" in (SPEC_DIR / "LICENSE").read_text()
    if vendor.MIRROR.is_dir():  # where the source is at hand (a clone of openai-openapi), the script still writes these bytes
        source = vendor._git(vendor.MIRROR, "show", f"{PINNED}:openapi.json")
        assert vendor.render(vendor.subset(source, {k: v for k, v in provenance.items() if k != "roots"})) == (SPEC_DIR / "openapi.subset.json").read_text()


def test_quirks_are_what_the_description_shows() -> None:
    """Each relaxation of :data:`QUIRKS` is backed by the description's own example (``x-oaiMeta``)."""
    example = json.loads(RAW["components"]["schemas"]["ResponseCreatedEvent"]["x-oaiMeta"]["example"])
    assert example["response"]["usage"] is None
    errors = validator("/components/schemas/ResponseCreatedEvent").iter_errors(example)
    assert ["response", "usage"] not in [list(error.absolute_path) for error in errors]  # (its "user": null stays invalid: the gateway omits it)


def test_generator_covers_each_variant() -> None:
    """The generated requests are valid against the description and use every null and default it documents."""
    generator = Generator(SEED)
    bodies = [generator.request(n) for n in range(REQUESTS)]
    assert bodies == generated(), "seeded: the same requests every run"
    for body in bodies:  # valid against the description: only requests OpenAI would take
        assert_valid("CreateChatCompletionRequest", body)
    used = set(generator.used)
    for expected in (
        "frequency_penalty=0", "presence_penalty=null", "logprobs=false", "logit_bias=null", "temperature=1", "top_p=1", "n=1",
        "stream=false", "stream=null", "reasoning_effort=\"medium\"", "tool_choice=allowed_tools", "tool_choice=function",
        "tools.function.strict=false", "messages.assistant.refusal=null", "messages.assistant.audio=null",
        "messages.content.text.prompt_cache_breakpoint={\"mode\": \"explicit\"}", "messages.assistant.content=refusal",
        "messages.tool.content=parts", "messages.developer.content=string",
    ):
        assert expected in used, expected


# -- (a) generated requests are accepted --------------------------------------------------


WORKERS = 8
"""Requests in flight at once, as one instance serves them (``THREADS``): each waits mostly on the emulators."""


def _send_all(local, account, bodies: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """Each body sent; the problems: a refusal (OpenAI's ``param``, and the status and message) or an answer not the description's."""
    app = local("openai").application
    clients = threading.local()

    def send(body: dict[str, Any]) -> tuple[str | None, str] | None:
        if not hasattr(clients, "client"):
            clients.client = app.test_client()
        response = clients.client.post("/v1/chat/completions", json=body, headers=account.headers)
        if response.status_code != 200:
            error = response.get_json()["error"]
            return error.get("param"), f"{response.status_code} {error.get('param')}: {error['message']}"
        problem = schema_errors("CreateChatCompletionResponse", response.get_json())
        return None if problem is None else (None, problem)

    with ThreadPoolExecutor(WORKERS) as pool:
        return [problem for problem in pool.map(send, bodies) if problem is not None]


def _summary(problems: list[tuple[str | None, str]], sent: int) -> str:
    counts = Counter(text for _, text in problems)
    return f"{len(problems)} of {sent}: " + "; ".join(f"{n}x {text}" for text, n in counts.most_common(10))


def test_generated_requests_at_null_or_default_are_accepted(local, conformance, accounts) -> None:
    """500 requests from CreateChatCompletionRequest (without the :data:`KNOWN_REFUSED` fields): every one a 200 in OpenAI's shape."""
    bodies = [without(body, KNOWN_REFUSED)[0] for body in generated()]
    problems = _send_all(local, accounts["user"], bodies)
    assert not problems, _summary(problems, len(bodies))


PER_KNOWN = 10
"""Generated requests sent per :data:`KNOWN_REFUSED` field (those that have it, without the other known ones)."""


class Unrelated(Exception):
    """A known field's requests failed for another reason than that field: a real failure, not the expected one."""


def _about(known: Known, param: str | None) -> bool:
    """``param`` names the known field, a part of it, or its container (a content part for the part's field)."""
    if param is None:
        return False
    for length in range(max(1, len(known.path) - 1), len(known.path) + 1):
        pattern = r"\.".join(r"\d+" if step == "*" else re.escape(step) for step in known.path[:length])
        if re.fullmatch(pattern, param) or (length == len(known.path) and re.match(pattern + r"\.", param)):
            return True
    return False


@pytest.mark.parametrize(
    "known", [pytest.param(k, id=k.name, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=k.reason)) for k in KNOWN_REFUSED]
)
def test_known_refusals(local, conformance, accounts, known: Known) -> None:
    """The generated requests with one field today's gateway still refuses: an xfail (strict) naming it until it is accepted.

    Once the gateway accepts the field this passes, and strict xfail turns that into a failure: remove the field from
    :data:`KNOWN_REFUSED`. A refusal naming another field is :class:`Unrelated`, a real failure.
    """
    others = tuple(k for k in KNOWN_REFUSED if k is not known)
    bodies = [body for body in (without(b, others)[0] for b in generated()) if known.strip(body)[1]][:PER_KNOWN]
    if not bodies:
        raise Unrelated("the generator makes no request with this field")
    problems = _send_all(local, accounts["user"], bodies)
    if unrelated := [p for p in problems if not _about(known, p[0])]:
        raise Unrelated(_summary(unrelated, len(bodies)))
    assert not problems, _summary(problems, len(bodies))


def test_assistant_refusal_parts_in_a_history_are_its_text(local, conformance, accounts) -> None:
    """An assistant turn's ``refusal`` content part (the description allows it in histories) is that turn's text."""
    turn = {"role": "assistant", "content": [{"type": "text", "text": "Sorry, "}, {"type": "refusal", "refusal": "I can't help with that."}]}
    body = {"model": "openai-chat", "messages": [{"role": "user", "content": "hi"}, turn, {"role": "user", "content": "why?"}]}
    assert _chat(local, accounts["user"], body).status_code == 200
    sent = conformance["openai"].state["requests"][-1]["body"]["messages"]
    assert sent[1] == {**sent[1], "role": "assistant", "content": "Sorry, I can't help with that."}
    elsewhere = {"model": "openai-chat", "messages": [{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}]}
    refused = _chat(local, accounts["user"], elsewhere)
    assert refused.status_code == 400 and refused.get_json()["error"]["param"] == "messages.0.content.0"


# -- (b) every answer is the description's ----------------------------------------------

ASK = [{"role": "user", "content": "Weather in Paris?"}]
LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}


@pytest.mark.parametrize("model", MODELS)
def test_completions_match_the_description(local, conformance, accounts, model: str) -> None:
    """A plain answer and a tool call, non-streamed: CreateChatCompletionResponse."""
    plain = _chat(local, accounts["user"], {"model": model, "messages": ASK})
    assert plain.status_code == 200
    assert_valid("CreateChatCompletionResponse", plain.get_json())
    conformance[model.removesuffix("-chat")].state["tool_call"] = {"name": "lookup", "arguments": {"q": "Paris"}}
    called = _chat(local, accounts["user"], {"model": model, "messages": ASK, "tools": [LOOKUP]})
    assert called.status_code == 200 and called.get_json()["choices"][0]["message"]["tool_calls"]
    assert_valid("CreateChatCompletionResponse", called.get_json())


@pytest.mark.parametrize("model", MODELS)
def test_stream_chunks_match_the_description(local, conformance, accounts, model: str) -> None:
    """Every chunk of a streamed answer and of a streamed tool call, the include_usage chunk too: CreateChatCompletionStreamResponse."""
    body = {"model": model, "messages": ASK, "stream": True, "stream_options": {"include_usage": True}}
    chunks = _data(_chat(local, accounts["user"], body))
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    conformance[model.removesuffix("-chat")].state["tool_call"] = {"name": "lookup", "arguments": {"q": "Paris"}}
    called = _data(_chat(local, accounts["user"], {**body, "tools": [LOOKUP]}))
    assert any(c["choices"] and c["choices"][0]["delta"].get("tool_calls") for c in called)
    for chunk in chunks + called:
        assert_valid("CreateChatCompletionStreamResponse", chunk)


def test_models_match_the_description(local, conformance, accounts) -> None:
    listing = local("openai").get("/v1/models", headers=accounts["viewer"].headers)
    assert listing.status_code == 200 and listing.get_json()["data"]
    assert_valid("ListModelsResponse", listing.get_json())
    one = local("openai").get("/v1/models/openai-chat", headers=accounts["viewer"].headers)
    assert one.status_code == 200
    assert_valid("Model", one.get_json())


def test_errors_match_the_description(local, conformance, accounts) -> None:
    """400, 401, 403, 404 and 429 (a provider's and the gateway's own limit), and an error inside a stream: ErrorResponse."""
    from gateway import firebase, limits

    user, ask = accounts["user"], {"model": "openai-chat", "messages": ASK}
    answers = {
        400: _chat(local, user, {**ask, "temperature": 5}),
        401: local("openai").post("/v1/chat/completions", json=ask),
        403: _chat(local, accounts["viewer"], ask),
        404: _chat(local, user, {**ask, "model": "nope"}),
    }
    answers[404.1] = local("openai").get("/v1/models/nope", headers=user.headers)
    conformance["openai"].state["faults"] = [{"status": 429, "retry_after": "60"}]
    answers[429] = _chat(local, user, ask)
    firebase.db().collection("config").document("limits").set({"perMinute": {"openai": 1}})
    limits.forget()
    _chat(local, user, ask)
    answers[429.1] = _chat(local, user, ask)
    for status, response in answers.items():
        assert response.status_code == int(status), (status, response.get_data(as_text=True))
        assert_valid("ErrorResponse", response.get_json())


def test_error_inside_a_stream_matches_the_description(local, conformance, accounts) -> None:
    conformance["openai"].state["faults"] = [{"stream_error": True}]
    chunks = _data(_chat(local, accounts["user"], {"model": "openai-chat", "messages": ASK, "stream": True}))
    assert "error" in chunks[-1]
    assert_valid("ErrorResponse", chunks[-1])
    for chunk in chunks[:-1]:
        assert_valid("CreateChatCompletionStreamResponse", chunk)


# -- the other endpoint families (Responses, embeddings, images) --------------------------


def _events(response: Any) -> list[dict[str, Any]]:
    """The payloads of a typed event stream (``event:`` then ``data:``), each checked to carry its event's name."""
    out = []
    for block in response.get_data(as_text=True).split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if not lines or lines == ["data: [DONE]"]:
            continue
        event = next((line[7:] for line in lines if line.startswith("event: ")), None)
        payload = json.loads(next(line[6:] for line in lines if line.startswith("data: ")))
        assert event is None or payload.get("type") == event, block
        out.append(payload)
    return out


def test_responses_match_the_description(local, conformance, accounts) -> None:
    """``POST /v1/responses``: a text answer, a function call and every streamed event: Response, ResponseStreamEvent."""
    user = accounts["user"]
    tool = {"type": "function", "name": "lookup", "parameters": LOOKUP["function"]["parameters"]}
    text = local("openai").post("/v1/responses", json={"model": "openai-chat", "input": "hi"}, headers=user.headers)
    assert text.status_code == 200, text.get_data(as_text=True)
    assert_valid("Response", text.get_json())
    stored = local("openai").get(f"/v1/responses/{text.get_json()['id']}", headers=user.headers)
    assert stored.status_code == 200
    assert_valid("Response", stored.get_json())
    streamed = local("openai").post("/v1/responses", json={"model": "anthropic-chat", "input": "hi", "stream": True}, headers=user.headers)
    events = _events(streamed)
    assert events and events[-1]["type"] == "response.completed"
    conformance["openai"].state["tool_call"] = {"name": "lookup", "arguments": {"q": "Paris"}}
    called = local("openai").post("/v1/responses", json={"model": "openai-chat", "input": "hi", "tools": [tool]}, headers=user.headers)
    assert called.status_code == 200 and any(item["type"] == "function_call" for item in called.get_json()["output"])
    assert_valid("Response", called.get_json())
    streamed_call = local("openai").post("/v1/responses", json={"model": "openai-chat", "input": "hi", "tools": [tool], "stream": True}, headers=user.headers)
    for event in events + _events(streamed_call):
        assert_valid("ResponseStreamEvent", event)
    missing = local("openai").get("/v1/responses/resp_nope", headers=user.headers)
    assert missing.status_code == 404
    assert_valid("ErrorResponse", missing.get_json())


def test_embeddings_match_the_description(local, conformance, accounts) -> None:
    """``POST /v1/embeddings``, floats and base64: CreateEmbeddingResponse; a refusal: ErrorResponse."""
    from gateway import firebase
    from gateway.registry import registry

    doc = {"name": "openai-embedder", "provider": "openai", "type": "embedding", "enabled": True, "pricing": {"inputPer1M": 1.0}}
    firebase.db().collection("models").document("openai-embed").set(doc)
    registry().invalidate()
    for extra in ({}, {"encoding_format": "float"}, {"encoding_format": "base64"}):
        body = {"model": "openai-embed", "input": ["hello world", "second"], **extra}
        response = local("openai").post("/v1/embeddings", json=body, headers=accounts["user"].headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        answer = response.get_json()
        if extra.get("encoding_format") == "base64":  # the schema knows floats only: base64 is little-endian float32s, as OpenAI sends
            for item in answer["data"]:
                raw = base64.b64decode(item["embedding"], validate=True)
                item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        assert_valid("CreateEmbeddingResponse", answer)
    refused = local("openai").post("/v1/embeddings", json={"model": "openai-embed", "input": []}, headers=accounts["user"].headers)
    assert refused.status_code == 400
    assert_valid("ErrorResponse", refused.get_json())


def test_images_match_the_description(local, conformance, accounts) -> None:
    """``POST /v1/images/generations``, as ``url`` and ``b64_json``: ImagesResponse."""
    from gateway import firebase
    from gateway.registry import registry

    doc = {"type": "image", "enabled": True, "name": "gpt-image-1", "provider": "openai", "pricing": {"perImage": 0.04},
           "config": {"width": 64, "height": 64, "timeoutSeconds": 5}}
    firebase.db().collection("models").document("openai-image").set(doc)
    registry().invalidate()
    for extra in ({}, {"response_format": "b64_json"}):
        body = {"model": "openai-image", "prompt": "a red fox in the snow", **extra}
        response = local("openai").post("/v1/images/generations", json=body, headers=accounts["user"].headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert_valid("ImagesResponse", response.get_json())


def test_generated_responses_requests_at_null_or_default_are_accepted(local, conformance, accounts) -> None:
    """200 requests from ``CreateResponse`` (valid against it, every optional field absent, null or at its default): each a 200 ``Response``."""
    bodies = json.loads(_responses_generated())
    for body in bodies:
        assert_valid("CreateResponse", body)
    app, user = local("openai").application, accounts["user"]
    clients = threading.local()

    def send(body: dict[str, Any]) -> str | None:
        if not hasattr(clients, "client"):
            clients.client = app.test_client()
        response = clients.client.post("/v1/responses", json=body, headers=user.headers)
        if response.status_code != 200:
            error = response.get_json()["error"]
            return f"{response.status_code} {error.get('param')}: {error['message']}"
        return schema_errors("Response", response.get_json())

    with ThreadPoolExecutor(WORKERS) as pool:
        problems = [p for p in pool.map(send, bodies) if p is not None]
    assert not problems, f"{len(problems)} of {len(bodies)}: " + "; ".join(f"{n}x {p}" for p, n in Counter(problems).most_common(10))
