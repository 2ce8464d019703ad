"""``POST /v1/embeddings``: every provider family through its fake, both encodings, dimensions, the official SDK, the ledger."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from typing import Any

import openai as openai_sdk
import pytest
from test_budgets import _quota, _settled
from test_usage import _records

from fakes.upstream import EMBED_DIMENSIONS, vector

EMBEDDERS = ("openai", "openrouter", "lmstudio", "ollama", "gemini", "huggingface", "anthropic")
COUNTED = {"openai": True, "openrouter": True, "lmstudio": True, "ollama": True, "gemini": False, "huggingface": False}
"""Whether the provider counts tokens (the fakes count words); the others are estimated (characters / 4)."""


@pytest.fixture
def member(emulators) -> Any:
    return emulators.sign_up("user")


@pytest.fixture
def embedders(providers) -> dict[str, Any]:
    """One embedding model per provider (``<provider>-embed``), priced at $1 per 1M input tokens."""
    from conftest import emulator_retry
    from gateway import firebase
    from gateway.registry import registry

    def write() -> None:
        for name in EMBEDDERS:
            firebase.db().collection("models").document(f"{name}-embed").set(
                {"name": f"{name}-embedder", "provider": name, "type": "embedding", "enabled": True, "pricing": {"inputPer1M": 1.0}}
            )

    emulator_retry(write)
    registry().invalidate()
    return providers


def _embed(local, account, **body: Any) -> Any:
    return local("openai").post("/v1/embeddings", json=body, headers=account.headers)


def _close(got: list[float], want: list[float], tolerance: float = 1e-6) -> bool:
    return len(got) == len(want) and all(math.isclose(a, b, abs_tol=tolerance) for a, b in zip(got, want, strict=True))


def _error(response: Any) -> dict[str, Any]:
    return response.get_json()["error"]


@pytest.mark.parametrize("provider", list(COUNTED))
def test_every_provider_family_embeds_and_books(local, embedders, member, provider: str) -> None:
    texts = ["hello world", "second"]
    response = _embed(local, member, model=f"{provider}-embed", input=texts)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["object"] == "list" and body["model"] == f"{provider}-embed"
    assert [d["index"] for d in body["data"]] == [0, 1] and {d["object"] for d in body["data"]} == {"embedding"}
    assert all(_close(d["embedding"], vector(t)) for d, t in zip(body["data"], texts, strict=True))
    prompt = 3 if COUNTED[provider] else -(-len(texts[0]) // 4) - (-len(texts[1]) // 4)  # words, or characters / 4 per input
    assert body["usage"] == {"prompt_tokens": prompt, "total_tokens": prompt}
    [record] = _settled(member.uid, 1)
    assert record["status"] == "ok" and record["modelId"] == f"{provider}-embed" and record["route"] == "openai"
    assert record["promptTokens"] == prompt and record["completionTokens"] == 0
    assert record["estimated"] is (not COUNTED[provider])
    assert record["cost"] == pytest.approx(prompt * 1.0 / 1e6)


def test_each_provider_gets_its_own_wire_format(local, embedders, member) -> None:
    for provider, path in (("openai", "/v1/embeddings"), ("ollama", "/api/embed"), ("gemini", "/v1beta/models/gemini-embedder:batchEmbedContents")):
        assert _embed(local, member, model=f"{provider}-embed", input="hi", dimensions=4).status_code == 200
        request = embedders[provider].state["requests"][-1]
        assert request["path"] == path
    assert embedders["openai"].state["requests"][-1]["body"] == {"model": "openai-embedder", "input": ["hi"], "encoding_format": "float", "dimensions": 4}
    assert embedders["ollama"].state["requests"][-1]["body"] == {"model": "ollama-embedder", "input": ["hi"], "dimensions": 4}
    assert embedders["gemini"].state["requests"][-1]["body"] == {
        "requests": [{"model": "models/gemini-embedder", "content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 4}]
    }
    assert embedders["gemini"].state["requests"][-1]["headers"]["x-goog-api-key"]
    assert _embed(local, member, model="huggingface-embed", input=["a", "b"]).status_code == 200
    hf = embedders["hf-images"].state["requests"][-1]
    assert hf["path"] == "/hf-inference/models/huggingface-embedder/pipeline/feature-extraction" and hf["body"] == {"inputs": ["a", "b"]}


def test_base64_is_little_endian_float32(local, embedders, member) -> None:
    response = _embed(local, member, model="openai-embed", input="hi", encoding_format="base64")
    encoded = response.get_json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    raw = base64.b64decode(encoded)
    assert _close(list(struct.unpack(f"<{len(raw) // 4}f", raw)), vector("hi"))
    floats = _embed(local, member, model="openai-embed", input="hi", encoding_format=None, user="u-1")  # null: the default; user ignored
    assert floats.status_code == 200 and isinstance(floats.get_json()["data"][0]["embedding"], list)


def test_dimensions_are_honoured_or_refused(local, embedders, member) -> None:
    for provider in ("openai", "ollama", "gemini"):
        body = _embed(local, member, model=f"{provider}-embed", input="hi", dimensions=4).get_json()
        assert _close(body["data"][0]["embedding"], vector("hi", 4))
    hf = _embed(local, member, model="huggingface-embed", input="hi", dimensions=4)
    assert hf.status_code == 400 and _error(hf)["param"] == "dimensions"
    assert embedders["hf-images"].state["requests"] == []
    # A model that ignores the size asked is a 502 naming dimensions: never vectors of another size passed on.
    embedders["ollama"].state["ignore_dimensions"] = True
    ignored = _embed(local, member, model="ollama-embed", input="hi", dimensions=4)
    assert ignored.status_code == 502 and _error(ignored)["param"] == "dimensions"
    assert str(EMBED_DIMENSIONS) in _error(ignored)["message"]


def test_inputs_are_checked_and_token_arrays_go_to_the_openai_family_only(local, embedders, member) -> None:
    tokens = _embed(local, member, model="openai-embed", input=[[1, 2, 3], [4]])
    assert tokens.status_code == 200 and embedders["openai"].state["requests"][-1]["body"]["input"] == [[1, 2, 3], [4]]
    assert tokens.get_json()["usage"]["prompt_tokens"] == 4
    single = _embed(local, member, model="openai-embed", input=[5, 6])
    assert single.status_code == 200 and embedders["openai"].state["requests"][-1]["body"]["input"] == [[5, 6]]
    for model, value, param in (
        ("gemini-embed", [[1, 2]], "input"),
        ("openai-embed", ["a", 3], "input.0"),
        ("openai-embed", ["a", ""], "input.1"),
        ("openai-embed", "", "input"),
        ("openai-embed", [], "input"),
        ("openai-embed", {"text": "a"}, "input"),
        ("openai-embed", ["x"] * 2049, "input"),
    ):
        response = _embed(local, member, model=model, input=value)
        assert response.status_code == 400 and _error(response)["param"] == param, (value, response.get_json())
    missing = _embed(local, member, model="openai-embed")
    assert missing.status_code == 400 and _error(missing)["param"] == "input"
    extra = _embed(local, member, model="openai-embed", input="a", encoding_format="int8")
    assert extra.status_code == 400 and _error(extra)["param"] == "encoding_format"


def test_model_types_and_capabilities_are_kept_apart(local, embedders, member, accounts) -> None:
    text = _embed(local, member, model="openai-chat", input="hi")
    assert text.status_code == 400 and _error(text)["param"] == "model" and "needs embedding" in _error(text)["message"]
    chat = local("openai").post("/v1/chat/completions", json={"model": "openai-embed", "messages": [{"role": "user", "content": "hi"}]}, headers=member.headers)
    assert chat.status_code == 400 and _error(chat)["param"] == "model"
    anthropic = _embed(local, member, model="anthropic-embed", input="hi")
    assert anthropic.status_code == 400 and _error(anthropic)["param"] == "model"
    assert "anthropic-embed" in _error(anthropic)["message"] and "no embeddings API" in _error(anthropic)["message"]
    assert embedders["anthropic"].state["requests"] == []
    assert _embed(local, accounts["viewer"], model="openai-embed", input="hi").status_code == 403
    assert _embed(local, member, model="nope", input="hi").status_code == 404
    assert _records(member.uid) == []  # refused before anything was counted


def test_a_provider_429_is_passed_on(local, embedders, member) -> None:
    embedders["openai"].state["faults"] = [{"status": 429, "retry_after": "60"}]
    limited = _embed(local, member, model="openai-embed", input="hi")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "60"
    assert _error(limited)["type"] == "rate_limit_error"


def test_gemini_inputs_go_in_batches_of_100(local, embedders, member) -> None:
    texts = [f"text {i}" for i in range(150)]
    body = _embed(local, member, model="gemini-embed", input=texts).get_json()
    assert [len(r["body"]["requests"]) for r in embedders["gemini"].state["requests"]] == [100, 50]
    assert _close(body["data"][149]["embedding"], vector("text 149"))


def test_a_budget_reserves_before_the_provider_is_called(local, embedders, member) -> None:
    """The worst case (a token per byte of input) must fit the quota; the provider is never called otherwise."""
    _quota(member.uid, dailyTokens=10)
    refused = _embed(local, member, model="openai-embed", input="x" * 11)
    assert refused.status_code == 429 and _error(refused)["type"] == "rate_limit_error"
    assert embedders["openai"].state["requests"] == []
    assert _embed(local, member, model="openai-embed", input="x" * 5).status_code == 200
    [record] = _settled(member.uid, 1)
    assert record["status"] == "ok" and record["promptTokens"] == 1  # the fake counts one word


def test_an_unpriced_embedding_model_is_refused_under_a_cost_budget(local, embedders, member) -> None:
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("openai-embed").update({"pricing": None})
    registry().invalidate()
    _quota(member.uid, dailyCostUsd=1.0)
    response = _embed(local, member, model="openai-embed", input="hi")
    assert response.status_code == 400 and _error(response)["param"] == "model" and "inputPer1M" in _error(response)["message"]
    assert embedders["openai"].state["requests"] == []
    priced = _embed(local, member, model="gemini-embed", input="hi")  # inputPer1M alone prices an embedding model
    assert priced.status_code == 200


def test_models_lists_embedding_models(local, embedders, accounts) -> None:
    ids = {m["id"] for m in local("openai").get("/v1/models", headers=accounts["viewer"].headers).get_json()["data"]}
    assert {"openai-embed", "gemini-embed", "openai-chat"} <= ids
    native = local("models").get("/?type=embedding", headers=accounts["viewer"].headers).get_json()
    assert {m["id"] for m in native["models"]} == {f"{p}-embed" for p in EMBEDDERS}


def test_admins_create_embedding_models(local, providers, accounts) -> None:
    spec = {"id": "my-embedder", "name": "text-embedding-3-small", "provider": "openai", "type": "embedding", "pricing": {"inputPer1M": 0.02}}
    created = local("models").post("/", json=spec, headers=accounts["admin"].headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["type"] == "embedding"


@pytest.fixture
def sdk(emulators, member) -> Iterator[openai_sdk.OpenAI]:
    with openai_sdk.OpenAI(base_url=emulators.url("openai", "/v1"), api_key=member.token, max_retries=0, timeout=30) as client:
        yield client


def test_the_openai_sdk_embeds_unchanged(sdk, embedders) -> None:
    """The Python SDK asks for base64 unless told otherwise, and decodes it itself."""
    answer = sdk.embeddings.create(model="openai-embed", input=["hi", "there"])
    assert [len(d.embedding) for d in answer.data] == [EMBED_DIMENSIONS, EMBED_DIMENSIONS]
    assert _close(answer.data[1].embedding, vector("there")) and answer.usage.prompt_tokens == 2
    short = sdk.embeddings.create(model="gemini-embed", input="hi", dimensions=4, encoding_format="float")
    assert _close(short.data[0].embedding, vector("hi", 4))
    with pytest.raises(openai_sdk.BadRequestError):
        sdk.embeddings.create(model="openai-chat", input="hi")
    assert "ollama-embed" in {m.id for m in sdk.models.list()}
