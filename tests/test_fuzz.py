"""Schema-driven fuzzing: Schemathesis sends requests generated from the OpenAPI document to the emulator stack.

Every operation of the document (``gateway.openapi.build()``, what every
function serves) is called over HTTP through the Functions emulator as each
role (admin, user, viewer, and no token), with requests Schemathesis
generates from its schemas: valid ones (the handlers' own paths, successes
included) and, for operations that take input, invalid ones (validation). A
run fails on any 5xx, any status the operation does not document, a content
type, header or body that does not match what is documented for that status
(SSE events included, each ``data:`` payload against its schema), invalid
input that is not refused, and any error body not in the one error shape
(OpenAI's for ``openai``).

Bounded: at most :data:`EXAMPLES` requests per operation and role that may
call it (fewer when the operation has fewer distinct inputs), :data:`REFUSED`
per operation and role that may not (all 401/403). Generated requests mix
Schemathesis' valid data, the document's request examples and invalid data;
ids are often pointed at seeded ones (:func:`_steer`) so that successes are
checked too, and :func:`test_generation_successes_match_the_document` checks
one JSON and one streamed success of each generation route every run.

Isolated from the rest of the suite: its own accounts and its own fake
provider (an OpenAI-format server on loopback), a Firestore it clears before
and restores after (the seed providers, as the ``clean`` fixture leaves it),
and the seeded provider, models and limits written again before each
operation, so admin fuzzing (deletes, replacements) cannot leak into the next
operation or another test. No request leaves loopback: the document given to
Schemathesis allows only the fake's URL in every URL field (``baseUrl``,
``endpointURL``, ...), and a guard refuses to send any generated body that
names another one.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hypothesis import strategies as st

from conftest import ROOT, reset

ROLES = ("admin", "user", "viewer", "anonymous")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
"""Generated requests per operation for a role that may call it (``FUZZ_EXAMPLES=200`` for a deeper run by hand)."""
REFUSED = 3
"""Generated requests per operation for a role that may not (every one is a 401 or 403)."""
URL_FIELDS = frozenset({"baseUrl", "healthCheckUrl", "imageBaseUrl", "appUrl", "endpointURL"})
PROVIDER = "fuzz"
MODELS = ("fuzz-chat", "fuzz-image", "fuzz-off")
LIMITS = {"perMinute": {"generate_text": 10_000, "generate_image": 10_000, "openai": 10_000}}
REPLY = "Hello\u2028data:[DONE]\u2029from\u0085the fuzz provider"
"""The fake's answer: line separators ``str.splitlines()`` breaks on, and a forged ``[DONE]`` between them."""


def _document() -> dict[str, Any]:
    from gateway import openapi

    return openapi.build()


def _operations() -> list[tuple[str, str]]:
    """The operations to fuzz, read at collection from the committed document (``test_openapi`` keeps it equal to the code's)."""
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    return [(method.upper(), path) for path, item in committed["paths"].items() for method in item]


def _allowed(operation: dict[str, Any], role: str) -> bool:
    roles = operation["x-roles"]
    return roles == ["public"] or role in roles


# -- the world the fuzzer runs in ---------------------------------------------------


@dataclass
class World:
    base_url: str
    fake_url: str
    headers: dict[str, dict[str, str]]
    conversations: list[str]
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The seeded conversations' documents (and messages) by path, written again before each operation."""
    schema: Any = None
    stats: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    requests: int = 0
    seconds: float = 0.0


def _seed(fake_url: str) -> None:
    """The fuzz provider (no key: LM Studio's type), its models and generous rate limits, written again before each operation."""
    from gateway import firebase

    db = firebase.db()
    db.collection("providers").document(PROVIDER).set({"type": "lmstudio", "baseUrl": f"{fake_url}/v1", "enabled": True})
    chat = {
        "name": "fake-model", "provider": PROVIDER, "type": "text", "enabled": True,
        "config": {"maxTokens": 64, "maxTokensLimit": 4096, "timeoutSeconds": 5},
        "pricing": {"inputPer1M": 1.0, "outputPer1M": 2.0}, "capabilities": ["chat", "streaming", "tools", "vision"],
    }
    db.collection("models").document("fuzz-chat").set(chat)
    db.collection("models").document("fuzz-image").set(
        {"name": "fake-image", "provider": PROVIDER, "type": "image", "enabled": True, "pricing": {"perImage": 0.01}, "config": {"width": 64, "height": 64, "timeoutSeconds": 5}}
    )
    db.collection("models").document("fuzz-off").set({**chat, "enabled": False})
    db.collection("config").document("limits").set(LIMITS)


def _loopback_only(schema: dict[str, Any], fake_url: str) -> dict[str, Any]:
    nullable = any(option == {"type": "null"} for option in schema.get("anyOf", []))
    only = {"type": "string", "enum": [f"{fake_url}/v1", f"{fake_url}/v1/models"]}
    return {"anyOf": [only, {"type": "null"}]} if nullable else only


def fuzz_document(document: dict[str, Any], world: World) -> dict[str, Any]:
    """The served document, narrowed for fuzzing: the one server is the emulator, URL fields name only the fake."""
    doc = copy.deepcopy(document)
    doc["servers"] = [{"url": world.base_url}]
    for schema in doc["components"]["schemas"].values():
        properties = schema.get("properties", {})
        for name in URL_FIELDS & set(properties):
            properties[name] = _loopback_only(properties[name], world.fake_url)
    for item in doc["paths"].values():
        for operation in item.values():
            for example in operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("examples", {}).values():
                for name in URL_FIELDS & set(example["value"]):
                    example["value"][name] = f"{world.fake_url}/v1"
    return doc


STEERED_BODY = {"modelId": MODELS, "model": MODELS, "provider": (PROVIDER,)}
"""Body fields that name something which must exist for a request to get past 404/400: often set to a seeded id."""


def _steer(case: Any, draw: Any, world: World) -> None:
    """Two times in three, point an id of the generated case at a seeded provider, model or conversation.

    (Schemathesis merges an ``enum`` of known ids into a string pattern that
    already admits them, so ids are steered here instead of in the schema.)
    Only valid cases: an invalid one must stay invalid for the check that it is refused.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if "id" in (case.path_parameters or {}):
        path = case.operation.path
        ids = world.conversations if path.startswith("/conversations/") else [PROVIDER] if path.startswith("/providers/") else list(MODELS)
        case.path_parameters["id"] = draw(st.sampled_from([case.path_parameters["id"], *ids]))
    if isinstance(case.body, dict) and not case.operation.path.startswith("/providers"):
        for name, ids in STEERED_BODY.items():
            if name in case.body:
                case.body[name] = draw(st.sampled_from([case.body[name], *ids]))
    if case.operation.path.endswith("/models/import") and isinstance(case.body, dict) and isinstance(case.body.get("models"), list):
        for item in case.body["models"]:
            if isinstance(item, dict) and "name" in item:
                item["name"] = draw(st.sampled_from([item["name"], "fake-model", "fake-model-large"]))


def _conversation(base_url: str, headers: dict[str, str]) -> str:
    response = requests.post(
        f"{base_url}/generate_text", json={"modelId": "fuzz-chat", "prompt": "hello", "saveHistory": True}, headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    return str(response.json()["conversationId"])


@pytest.fixture(scope="module")
def world(stack, emulators) -> Iterator[World]:
    import schemathesis

    from fakes.openai_server import OpenAIServer
    from fakes.server import FakeServer

    fake = FakeServer(OpenAIServer, key=None, faults=[], requests=[], json_reply={"ok": True}, reply=REPLY)
    fake.__enter__()
    emulators.clear_firestore()
    _seed(fake.url)
    accounts = {role: emulators.sign_up(role) for role in ("admin", "user", "viewer")}
    headers = {role: account.headers for role, account in accounts.items()} | {"anonymous": {}}
    base_url = stack.functions_base
    time.sleep(0.5)  # the emulator's workers learn the seeded registry through their listeners
    conversations = [_conversation(base_url, headers[role]) for role in ("user", "admin")]
    world = World(base_url, fake.url, headers, conversations, _conversation_documents(accounts, conversations))
    config = schemathesis.Config.from_dict(
        {
            "generation": {"with-security-parameters": False},
            # invalid input may be refused for its size too (the body limit, 413)
            "checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 409, 413, 415, 422, 429, "5xx"]}},
        }
    )
    world.schema = schemathesis.openapi.from_dict(fuzz_document(_document(), world), config=config)
    try:
        yield world
    finally:
        fake.__exit__(None, None, None)
        reset(emulators)
        print(f"\nfuzz: {world.requests} requests in {world.seconds:.1f} s over {len(world.stats)} operation x role runs")
        for run, statuses in world.stats.items():
            print(f"  {run}: {dict(sorted(statuses.items()))}")


def _conversation_documents(accounts: dict[str, Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    from gateway import firebase

    documents = {}
    for account, conversation_id in zip((accounts["user"], accounts["admin"]), ids, strict=True):
        ref = firebase.db().collection("users").document(account.uid).collection("conversations").document(conversation_id)
        documents[ref.path] = ref.get().to_dict() or {}
        for message in ref.collection("messages").stream():
            documents[message.reference.path] = message.to_dict() or {}
    return documents


@pytest.fixture
def seeded(world) -> World:
    from gateway import firebase

    _seed(world.fake_url)
    batch = firebase.db().batch()
    for path, data in world.documents.items():  # fuzzed deletes and renames of the seeded conversations undone
        batch.set(firebase.db().document(path), data)
    batch.commit()
    return world


# -- checks beyond Schemathesis' own ------------------------------------------------


def _error_model(case: Any) -> str:
    return "OpenAIErrorBody" if case.operation.path.startswith("/openai/") else "ErrorBody"


JSON_REPLY_WORDS = 2
"""Words (the fakes' tokens) of the fake's JSON answer, ``{"ok": true}``."""


def _schema_output_mismatch(case: Any, body: Any) -> bool:
    """A 502 the gateway must answer here: the fake's one JSON answer cannot satisfy every schema a request may give,
    and like any provider it stops at the request's max tokens, which may cut the JSON short."""
    request = case.body if isinstance(case.body, dict) else {}
    text = request.get("text")
    fmt = request.get("responseFormat") or request.get("response_format") or (text.get("format") if isinstance(text, dict) else None)
    error = (body if body.get("type") == "error" else body.get("error")) if isinstance(body, dict) else None  # a typed stream's error event
    code = str((error or {}).get("code", "")).upper()
    if not isinstance(fmt, dict) or code != "PROVIDER_ERROR":
        return False
    asked = next((request[k] for k in ("maxTokens", "max_completion_tokens", "max_tokens", "max_output_tokens") if request.get(k)), None)  # as each edge reads them
    cut = isinstance(asked, int | float) and not isinstance(asked, bool) and asked < JSON_REPLY_WORDS  # 1.0 is a valid 1
    return fmt.get("type") in ("jsonSchema", "json_schema") or (fmt.get("type") in ("json", "json_object") and cut)


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except a documented answer that is not an error (health's 503 report) and :func:`_schema_output_mismatch`."""
    if response.status_code < 500:
        return None
    documented = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    if "$ref" not in documented and documented:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if _schema_output_mismatch(case, body):
        return None
    raise AssertionError(f"{response.status_code} from {case.method} {case.formatted_path}: {response.content[:500]!r}")


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx is JSON in the one error shape (OpenAI's for ``openai``), whether or not its status is documented."""
    from gateway import answers

    if response.status_code < 400:
        return None
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.headers
    getattr(answers, _error_model(case)).model_validate_json(response.content)
    return None


def stream_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """A stream ends with [DONE] (a typed one with its final ``response.*`` event), and a failure inside a 200 stream is an error event of a 4xx-class code, never a server error.

    Lines are split as ``str.splitlines()`` splits them (so do ``iter_lines()`` clients): the fake's answer holds
    U+2028, U+2029 and U+0085 around a forged ``[DONE]``, which must stay inside their JSON strings.
    """
    if not response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
        return None
    from gateway.errors import STATUS, ErrorCode

    events = [line[6:] for line in response.content.decode().splitlines() if line.startswith("data: ")]
    typed = bool(events) and "sequence_number" in json.loads(events[0])  # the Responses API: typed events, no [DONE]
    if typed:
        payloads = [json.loads(data) for data in events]
        assert payloads[-1]["type"] in TYPED_ENDS, [p["type"] for p in payloads[-3:]]
        failures = [(p["code"], p) for p in payloads if p["type"] == "error"]
    else:
        assert events and events[-1] == "[DONE]", events[-3:]
        failures = [(p["error"]["code"], p) for p in map(json.loads, events[:-1]) if "error" in p]
    for raw, payload in failures:
        code = ErrorCode(str(raw).upper())
        if STATUS[code] >= 500 and not _schema_output_mismatch(case, payload):
            raise AssertionError(f"stream failed with {code.value}: {payload}")
    return None


TYPED_ENDS = ("response.completed", "response.incomplete", "response.failed")
"""How a typed (Responses API) stream ends: the whole response, in its final state."""


def _checks() -> list[Any]:
    """Schemathesis' own checks of a response against the document (and of invalid input being refused), then ours."""
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        no_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        negative_data_rejection,
        error_shape,
        stream_errors,
    ]


def _leaves_loopback(value: Any, fake_url: str) -> bool:
    """Whether a generated body names a URL other than the fake's in a URL field (the request is then not sent)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in URL_FIELDS and isinstance(item, str) and any(c in item for c in ":/.\\") and not item.startswith(f"{fake_url}/"):
                return True
            if _leaves_loopback(item, fake_url):
                return True
    elif isinstance(value, list):
        return any(_leaves_loopback(item, fake_url) for item in value)
    return False


# -- the fuzz run ---------------------------------------------------------------------------


def _has_input(operation: dict[str, Any]) -> bool:
    return bool(operation.get("parameters") or operation.get("requestBody"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: v)
def test_fuzz(seeded: World, method: str, path: str, role: str) -> None:
    from hypothesis import HealthCheck, Phase, given, reject, settings
    from schemathesis import GenerationMode

    world = seeded
    raw = world.schema.raw_schema["paths"][path][method.lower()]
    operation = world.schema[path][method]
    allowed = _allowed(raw, role)
    strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE), *operation.get_strategies_from_examples()]
    if _has_input(raw):
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    strategy = st.one_of(strategies)
    checks = _checks()
    statuses = world.stats[f"{method} {path} as {role}"]

    @settings(
        max_examples=EXAMPLES if allowed else REFUSED,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        print_blob=True,
    )
    @given(case=strategy, data=st.data())
    def run(case: Any, data: Any) -> None:
        _steer(case, data.draw, world)
        if _leaves_loopback(case.body, world.fake_url):
            reject()
        started = time.perf_counter()
        response = case.call_and_validate(base_url=world.base_url, headers=world.headers[role], checks=checks, timeout=60)
        world.seconds += time.perf_counter() - started
        world.requests += 1
        statuses[response.status_code] += 1
        if not allowed:
            assert response.status_code in (401, 403), response.status_code

    run()


def _json_operations() -> list[tuple[str, str]]:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    return [(m.upper(), p) for p, item in committed["paths"].items() for m, op in item.items() if "application/json" in op.get("requestBody", {}).get("content", {})]


@pytest.mark.parametrize(("method", "path"), _json_operations(), ids=lambda v: v)
def test_deep_nesting_is_a_400_naming_the_body(seeded: World, method: str, path: str) -> None:
    """Every operation that takes JSON refuses nesting past 64 levels, as the whole body or inside a field of its example,
    with up to 50,000 levels (RecursionError, a 500, before the limit): through the emulator, on a worker thread."""
    from hypothesis import HealthCheck, given, settings

    raw = seeded.schema.raw_schema["paths"][path][method.lower()]
    role = next(r for r in ROLES if _allowed(raw, r))
    examples = [e["value"] for e in raw["requestBody"]["content"]["application/json"].get("examples", {}).values() if isinstance(e.get("value"), dict)]
    url = seeded.base_url + path.replace("{id}", PROVIDER if path.startswith("/providers/") else MODELS[0]).replace("{uid}", "some-uid")

    @settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(depth=st.integers(65, 50_000), opener=st.sampled_from(['[', '{"a":']), example=st.sampled_from(examples or [{}]), data=st.data())
    def run(depth: int, opener: str, example: dict[str, Any], data: Any) -> None:
        closer = "]" if opener == "[" else "}"
        deep = opener * depth + "0" + closer * depth
        field = data.draw(st.sampled_from([None, *example]))
        body = deep if field is None else json.dumps({**example, field: "DEEP"}).replace('"DEEP"', deep)
        response = requests.request(
            method, url, data=body, headers={**seeded.headers[role], "Content-Type": "application/json"}, timeout=60
        )
        assert response.status_code == 400, (response.status_code, response.content[:300])
        error = json.loads(response.content)["error"]
        assert error["message"] == "body: nested deeper than 64 levels", error
        if not path.startswith("/openai/"):
            assert error["details"]["fields"][0]["field"] == "body"

    run()


LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""Every character ``str.splitlines()`` splits on."""


def test_an_sse_event_is_one_line_whatever_the_text() -> None:
    """Any model text (weighted towards line breaks and ``data:``/``[DONE]``) makes one ``data:`` line that decodes back to it."""
    from hypothesis import given, settings

    from gateway import sse

    pieces = st.one_of(st.sampled_from([*LINE_BREAKS, "data:", " [DONE]", "event: error", "\\", '"']), st.text(max_size=5))

    @settings(max_examples=500, deadline=None, database=None)
    @given(st.lists(pieces, max_size=12).map("".join))
    def run(text: str) -> None:
        frame = sse.data({"content": text})
        lines = frame.splitlines()
        assert lines == [lines[0], ""] and lines[0].startswith("data: "), lines
        assert json.loads(lines[0][6:]) == {"content": text}

    run()


SUCCESSES = [
    ("POST", "/generate_text", {"modelId": "fuzz-chat", "prompt": "Hello"}, "application/json"),
    ("POST", "/generate_text", {"modelId": "fuzz-chat", "prompt": "Hello", "stream": True}, "text/event-stream"),
    ("POST", "/generate_image", {"modelId": "fuzz-image", "prompt": "a red fox"}, "application/json"),
    ("POST", "/openai/v1/images/generations", {"model": "fuzz-image", "prompt": "a red fox"}, "application/json"),
    ("POST", "/openai/v1/images/generations", {"model": "fuzz-image", "prompt": "a red fox", "n": 2, "response_format": "b64_json"}, "application/json"),
    ("POST", "/openai/v1/chat/completions", {"model": "fuzz-chat", "messages": [{"role": "user", "content": "Hi"}]}, "application/json"),
    (
        "POST", "/openai/v1/chat/completions",
        {"model": "fuzz-chat", "messages": [{"role": "user", "content": "Hi"}], "stream": True, "stream_options": {"include_usage": True}},
        "text/event-stream",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "media"), SUCCESSES, ids=lambda v: v if isinstance(v, str) else "")
def test_generation_successes_match_the_document(seeded: World, method: str, path: str, body: dict[str, Any], media: str) -> None:
    """Whatever the random run reached, each generation route's success (JSON and stream) through the fake is validated every run."""
    case = seeded.schema[path][method].Case(body=body, media_type="application/json")
    response = case.call_and_validate(base_url=seeded.base_url, headers=seeded.headers["user"], checks=_checks(), timeout=60)
    assert response.status_code == 200 and response.headers["content-type"][0].startswith(media), response.content[:300]


RESERVED_IDS = ("__x__", "__", "_a", "a" * 65)
"""Ids a path may carry that Firestore refuses as document ids (``__...__``) or that no gateway id can be: a 400 naming ``id``."""


@pytest.mark.parametrize("value", RESERVED_IDS)
@pytest.mark.parametrize(
    ("method", "path"), [(m, p) for m, p in _operations() if "{id}" in p and not p.startswith("/openai/")], ids=lambda v: v
)
def test_ids_firestore_refuses_are_named_not_crashed(seeded: World, method: str, path: str, value: str) -> None:
    operation = seeded.schema[path][method]
    body = {"body": {}, "media_type": "application/json"} if "requestBody" in seeded.schema.raw_schema["paths"][path][method.lower()] else {}
    case = operation.Case(path_parameters={"id": value, **({"uid": "some-uid"} if "{uid}" in path else {})}, **body)
    response = case.call_and_validate(base_url=seeded.base_url, headers=seeded.headers["admin"], checks=_checks(), timeout=60)
    assert response.status_code in (400, 404), response.content
    if response.status_code == 400:
        assert json.loads(response.content)["error"]["details"]["fields"][0]["field"] == "id"


@pytest.mark.parametrize(("method", "path"), [("GET", "/openai/v1/models/{id}"), ("GET", "/models/{id}"), ("DELETE", "/conversations/{id}")], ids=lambda v: v)
def test_a_newline_in_the_path_is_answered_by_the_function(seeded: World, method: str, path: str) -> None:
    """Found by the fuzz run: functions-framework's ``/<path:path>`` misses ``%0A``; Flask answered an HTML 404 (main.py routes it on)."""
    case = seeded.schema[path][method].Case(path_parameters={"id": "a\nb"})
    response = case.call_and_validate(base_url=seeded.base_url, headers=seeded.headers["admin"], checks=_checks(), timeout=60)
    assert response.status_code in (400, 404) and response.headers["content-type"][0] == "application/json"
