"""Input that used to crash or mislead: JSON nested past any sane depth, line separators inside SSE
events, and a provider dropping the connection before it answers (retried like a refused connect)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from test_generate_text import _post

DEEP = "[" * 50_000 + "]" * 50_000
"""300 KB of nesting would be 50,000 levels deep: Python's decoder raised RecursionError (a 500)."""


def _nested(depth: int) -> Any:
    value: Any = {"type": "string"}
    for _ in range(depth):
        value = {"type": "array", "items": value}
    return value


def _tools(depth: int) -> list[dict[str, Any]]:
    """A tool whose request body nests exactly ``depth`` levels (body, tools, tool, parameters, properties, then the schema)."""
    return [{"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"a": _nested(depth - 6)}}}]


@pytest.mark.parametrize(
    ("function", "role", "body"),
    [
        ("generate_text", "user", DEEP),
        ("generate_text", "user", '{"modelId": "openai-chat", "prompt": ' + DEEP + "}"),
        ("openai", "user", '{"model": "openai-chat", "messages": ' + DEEP + "}"),
        ("models", "admin", '{"id": "deep", "name": "x", "provider": "ollama", "pricing": ' + DEEP + "}"),
        ("providers", "admin", DEEP),
    ],
    ids=["generate_text", "generate_text-field", "openai", "models", "providers"],
)
def test_deep_json_is_a_400_naming_the_body(emulators, accounts, function: str, role: str, body: str) -> None:
    """Through the emulator: the body is parsed on a gunicorn worker thread, as in production."""
    path = "/v1/chat/completions" if function == "openai" else ""
    response = requests.post(
        emulators.url(function, path), data=body, headers={**accounts[role].headers, "Content-Type": "application/json"}, timeout=60
    )
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["message"] == "body: nested deeper than 64 levels"
    if function != "openai":
        assert error["code"] == "INVALID_ARGUMENT" and error["details"]["fields"][0]["field"] == "body"
    else:
        assert error["param"] == "body" and error["type"] == "invalid_request_error"


def test_depth_limit_is_exact(local, providers, accounts) -> None:
    """A tool schema inside the limit is served; one level past it is refused before any provider call."""
    from gateway import firebase, jsonload
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-chat").update({"capabilities": ["chat", "tools"]})
    registry().invalidate()
    assert jsonload.depth(json.dumps({"modelId": "openai-chat", "tools": _tools(64)})) == 64
    inside = _post(local, accounts["user"], modelId="openai-chat", prompt="hi", tools=_tools(64))
    assert inside.status_code == 200, inside.get_data(as_text=True)[:300]
    body: dict[str, Any] = {"modelId": "openai-chat", "prompt": "hi", "tools": _tools(65)}
    assert _too_deep(local, accounts, body)["error"]["message"] == "body: nested deeper than 64 levels"
    assert len(providers["openai"].state["requests"]) == 1


def _too_deep(local: Any, accounts: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = local("generate_text").post("/", json=body, headers=accounts["user"].headers)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    return dict(response.get_json())


def test_deep_json_from_a_provider_is_a_502(local, providers, accounts) -> None:
    providers["openai"].state["faults"] = [{"raw": DEEP}]
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == "PROVIDER_ERROR" and "nested deeper than 64 levels" in error["message"]


FORGED = "Hi\u2028data:[DONE]\u2029\u0085event:error\u2028tail"
"""Model output that, split with ``str.splitlines()``, would read as a ``[DONE]`` and an error event."""


def _split_events(text: str) -> list[str]:
    """The ``data:`` values of an SSE body as a client splitting with ``str.splitlines()`` (``iter_lines()``) reads them."""
    lines = text.splitlines()
    assert not [line for line in lines if line.startswith("event:")], lines
    return [line[5:].lstrip(" ") for line in lines if line.startswith("data:")]


@pytest.mark.parametrize("route", ["generate_text", "openai"])
def test_line_separators_in_model_text_do_not_forge_events(local, providers, accounts, route: str) -> None:
    providers["openai"].state["reply"] = FORGED
    if route == "openai":
        body = {"model": "openai-chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        response = local("openai").post("/v1/chat/completions", json=body, headers=accounts["user"].headers)
    else:
        response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi", stream=True)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.endswith("\n") and text.splitlines() == text.split("\n")[:-1]  # no line break but the stream's own
    events = _split_events(text)
    assert events[-1] == "[DONE]" and "[DONE]" not in events[:-1]
    payloads = [json.loads(data) for data in events[:-1]]
    if route == "openai":
        said = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads if p.get("choices"))
    else:
        said = "".join(p.get("content", "") for p in payloads)
    assert said == FORGED


@pytest.mark.parametrize("stream", [False, True])
def test_connection_closed_before_the_answer_is_retried(local, providers, accounts, stream: bool) -> None:
    providers["openai"].state["faults"] = [{"drop": True}]
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi", stream=stream)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "Hello" in response.get_data(as_text=True)
    assert len(providers["openai"].state["requests"]) == 2


def test_connection_closed_every_time_is_a_502(local, providers, accounts) -> None:
    providers["openai"].state["faults"] = [{"drop": True}] * 3
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502
    error = response.get_json()["error"]
    assert error["code"] == "PROVIDER_ERROR" and "closed the connection before answering" in error["message"]
    assert len(providers["openai"].state["requests"]) == 3


def test_a_key_httpx_cannot_send_is_a_502_not_a_500(local, providers, accounts) -> None:
    """A header httpx refuses to encode (a non-ASCII key stored past the API's check, by seed/set_secret.py) fails the call, in the gateway's shape."""
    from gateway import providers_store, secrets
    from seed import set_secret

    set_secret.store("openai", "sk-ключ")
    secrets.forget()
    providers_store.invalidate()
    response = _post(local, accounts["user"], modelId="openai-chat", prompt="hi")
    assert response.status_code == 502, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"]["code"] in ("PROVIDER_ERROR", "PROVIDER_AUTH")
