"""Usage details (issue 20): cache hits and reasoning tokens, from each provider family's own fields to OpenAI's
``*_tokens_details``, the native answer, the ledger and the cost (``cachedInputPer1M``, else the input price)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from test_openai_api import _data_lines

DETAILS = {"cached": 4, "reasoning": 3, "cache_write": 2}
WORDS = 5
"""The fakes' default reply is five words, a token each."""

# family -> (model, cached tokens read, reasoning tokens reported, cache writes, completion tokens)
FAMILIES = {
    "openai": ("openai-chat", 4, 3, None, WORDS + 3),  # reasoning is already part of completion_tokens
    "openrouter": ("openrouter-chat", 4, 3, None, WORDS + 3),
    "anthropic": ("anthropic-chat", 4, None, 2, WORDS),  # no reasoning split; cache reads and writes beside input_tokens
    "gemini": ("gemini-chat", 4, 3, None, WORDS + 3),  # thoughts beside candidatesTokenCount, billed as output
}
PRICES = {"inputPer1M": 1.0, "cachedInputPer1M": 0.25, "outputPer1M": 2.0}


def _priced(model: str, pricing: dict[str, Any]) -> None:
    from gateway import firebase
    from gateway.registry import registry

    firebase.db().collection("models").document(model).update({"pricing": pricing})
    registry().invalidate()


def _record(uid: str) -> dict[str, Any]:
    from gateway import firebase

    [snap] = list(firebase.db().collection("usage").document(uid).collection("records").stream())
    return snap.to_dict() or {}


def _today(uid: str) -> dict[str, Any]:
    from gateway import userdays

    return userdays.total(snap.to_dict() or {} for snap in userdays.rows(uid, datetime.now(timezone.utc).strftime("%Y-%m-%d")))


def _cost(prompt: int, cached: int, completion: int, pricing: dict[str, Any]) -> float:
    hit = pricing.get("cachedInputPer1M", pricing["inputPer1M"])
    return ((prompt - cached) * pricing["inputPer1M"] + cached * hit + completion * pricing["outputPer1M"]) / 1e6


@pytest.fixture
def member(emulators) -> Any:
    return emulators.sign_up("user")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_openai_answer_ledger_and_cost_carry_the_details(local, providers, member, family: str, stream: bool) -> None:
    model, cached, reasoning, written, completion = FAMILIES[family]
    providers[family].state["details"] = DETAILS
    _priced(model, PRICES)
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    response = local("openai").post("/v1/chat/completions", json=body, headers=member.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    usage = _data_lines(response)[-2]["usage"] if stream else response.get_json()["usage"]

    prompt_details = {"cached_tokens": cached, **({"cache_write_tokens": written} if written is not None else {})}
    assert usage["prompt_tokens_details"] == prompt_details
    assert usage.get("completion_tokens_details") == ({"reasoning_tokens": reasoning} if reasoning is not None else None)
    assert usage["completion_tokens"] == completion
    fresh = usage["prompt_tokens"] - cached - (written or 0)
    assert fresh > 0  # the prompt counts every token: Anthropic's cache reads and writes are added to input_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + completion

    record = _record(member.uid)
    assert (record["status"], record["estimated"]) == ("ok", False)
    assert (record["promptTokens"], record["completionTokens"]) == (usage["prompt_tokens"], completion)
    assert (record["cachedTokens"], record["reasoningTokens"]) == (cached, reasoning)
    if family != "openrouter":  # OpenRouter's own reported cost wins
        assert record["cost"] == pytest.approx(_cost(usage["prompt_tokens"], cached, completion, PRICES))
    today = _today(member.uid)
    assert (today["cachedTokens"], today["reasoningTokens"]) == (cached, reasoning or 0)


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
def test_without_a_cached_price_cache_hits_cost_the_input_price(local, providers, member, family: str) -> None:
    model, cached, _, _, _ = FAMILIES[family]
    providers[family].state["details"] = DETAILS
    pricing = {"inputPer1M": 1.0, "outputPer1M": 2.0}
    _priced(model, pricing)
    answer = local("generate_text").post("/", json={"modelId": model, "prompt": "hi"}, headers=member.headers).get_json()
    usage = answer["usage"]
    assert usage["cachedTokens"] == cached
    expected = _cost(usage["promptTokens"], cached, usage["completionTokens"], pricing)
    assert expected == (usage["promptTokens"] + 2 * usage["completionTokens"]) / 1e6  # never free
    assert answer["cost"]["total"] == pytest.approx(expected)
    assert _record(member.uid)["cost"] == pytest.approx(expected)


def test_native_answer_carries_the_details_and_their_price(local, providers, member) -> None:
    providers["gemini"].state["details"] = DETAILS
    _priced("gemini-chat", PRICES)
    answer = local("generate_text").post("/", json={"modelId": "gemini-chat", "prompt": "hi"}, headers=member.headers).get_json()
    usage = answer["usage"]
    assert (usage["cachedTokens"], usage["reasoningTokens"], usage["completionTokens"]) == (4, 3, WORDS + 3)
    assert answer["cost"]["input"] == pytest.approx(((usage["promptTokens"] - 4) * 1.0 + 4 * 0.25) / 1e6)
    assert answer["cost"]["output"] == pytest.approx((WORDS + 3) * 2.0 / 1e6)


def test_without_details_nothing_is_made_up(local, providers, member) -> None:
    """A provider that reports no split: no details in OpenAI's answer, none in the native one, null in the record."""
    answer = local("openai").post(
        "/v1/chat/completions", json={"model": "openai-chat", "messages": [{"role": "user", "content": "hi"}]}, headers=member.headers
    ).get_json()
    assert set(answer["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    record = _record(member.uid)
    assert (record["cachedTokens"], record["reasoningTokens"]) == (None, None)
    native = local("generate_text").post("/", json={"modelId": "ollama-chat", "prompt": "hi"}, headers=member.headers).get_json()
    assert set(native["usage"]) == {"promptTokens", "completionTokens", "totalTokens"}


def test_impossible_details_are_not_booked(local, providers, member) -> None:
    """More cache hits than prompt tokens is no count: the record keeps the counts, not the split, and prices all at input."""
    providers["openai"].state["usage"] = {
        "prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8,
        "prompt_tokens_details": {"cached_tokens": 99}, "completion_tokens_details": {"reasoning_tokens": -1},
    }
    _priced("openai-chat", PRICES)
    local("openai").post("/v1/chat/completions", json={"model": "openai-chat", "messages": [{"role": "user", "content": "hi"}]}, headers=member.headers)
    record = _record(member.uid)
    assert (record["promptTokens"], record["cachedTokens"], record["reasoningTokens"]) == (3, None, None)
    assert record["cost"] == pytest.approx((3 * 1.0 + 5 * 2.0) / 1e6)


def test_model_pricing_takes_a_cached_price_not_above_the_input_price(local, providers, accounts) -> None:
    admin = accounts["admin"].headers
    spec = {"id": "cached-price", "name": "m", "provider": "openai", "pricing": {"inputPer1M": 1.0, "cachedInputPer1M": 0.1, "outputPer1M": 2.0}}
    created = local("models").post("/", json=spec, headers=admin)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["pricing"]["cachedInputPer1M"] == 0.1
    dearer = local("models").post("/", json={**spec, "id": "dearer", "pricing": {"inputPer1M": 1.0, "cachedInputPer1M": 1.5}}, headers=admin)
    assert dearer.status_code == 400
    assert dearer.get_json()["error"]["message"].startswith("pricing.cachedInputPer1M:")
