"""Embeddings: model -> provider -> adapter, counted, limited and booked like text.

An edge (``openai``'s ``/v1/embeddings``) validates a request into
:class:`EmbedParams`, then :func:`admission` counts it against the rate limit
and reserves its worst case against the budgets (its inputs' bytes, priced at
the model's ``inputPer1M``) before any provider call; :func:`embed` calls the
provider in batches of the adapter's size. What a provider cannot do is a 400
naming the field, decided from the adapter's declared capabilities
(``embeddings``, ``embed_dimensions``, ``embed_tokens``). No fallbacks: a
vector space belongs to one model, so another model's vectors would not be
comparable with those already stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway import budgets, generation, providers_store
from gateway.errors import ErrorCode, GatewayError, invalid
from gateway.providers import adapter_class
from gateway.providers.base import Adapter, EmbedRequest, Usage
from gateway.registry import usable_model
from gateway.schemas import Model

EMBEDDING_TYPES = ("embedding",)
MAX_INPUTS = 2048
"""Inputs per request, OpenAI's limit (the adapter may split them into smaller provider calls)."""
MAX_TOTAL_TOKENS = 300_000
"""Estimated tokens of all inputs together, OpenAI's limit; the body size limit (``MAX_BODY_BYTES``) usually binds first."""


@dataclass(frozen=True)
class EmbedParams:
    """A validated embeddings request: texts, or token arrays, and the vector size asked for (None: the model's)."""

    inputs: tuple[str, ...] | tuple[tuple[int, ...], ...]
    dimensions: int | None = None

    @property
    def tokens(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], tuple)


@dataclass
class Result:
    model: Model
    vectors: list[list[float]]
    usage: Usage
    latency_ms: float


def embedding_model(model_id: str, field_name: str = "model", org: str | None = None) -> Model:
    """An enabled model of type ``embedding`` a request in ``org`` may call; 404, or 400 naming the field for a model of another type."""
    return usable_model(model_id, EMBEDDING_TYPES, field_name, org)


def _estimate(item: str | tuple[int, ...]) -> int:
    return len(item) if isinstance(item, tuple) else budgets.estimate(item)


def check_inputs(params: EmbedParams, field_name: str = "input") -> None:
    """At most :data:`MAX_INPUTS` non-empty inputs, :data:`MAX_TOTAL_TOKENS` together: a 400 naming the input otherwise."""
    if not params.inputs:
        raise invalid(field_name, "must not be empty")
    if len(params.inputs) > MAX_INPUTS:
        raise invalid(field_name, f"at most {MAX_INPUTS} inputs per request")
    for index, item in enumerate(params.inputs):
        if not item:
            raise invalid(f"{field_name}.{index}" if len(params.inputs) > 1 else field_name, "must not be empty")
    if sum(_estimate(i) for i in params.inputs) > MAX_TOTAL_TOKENS:
        raise invalid(field_name, f"at most about {MAX_TOTAL_TOKENS} tokens in all inputs together; send fewer per request")


def check_provider(model: Model, params: EmbedParams, fields: dict[str, str]) -> None:
    """What the model's provider cannot do is refused before anything is counted (from the adapter class: no key read)."""
    provider = providers_store.of(model)
    cls: type[Adapter] | None = adapter_class(provider.type) if provider is not None else None
    if cls is None:
        return  # no provider, or a disabled one: adapter_for answers 503 after admission, as for text
    if not cls.embeddings:
        raise invalid(fields["model"], f"model '{model.id}': provider type '{cls.type}' has no embeddings API")
    if params.dimensions is not None and not cls.embed_dimensions:
        raise invalid(fields["dimensions"], f"provider type '{cls.type}' cannot be asked for a vector size; leave dimensions out")
    if params.tokens and not cls.embed_tokens:
        raise invalid(fields["input"], f"provider type '{cls.type}' takes text, not token arrays; send the inputs as strings")


def ask(params: EmbedParams, model: Model) -> budgets.Ask:
    """The worst case (a token per byte, as for a chat prompt; a token array counts its tokens) and the estimate."""
    worst = sum(len(i) if isinstance(i, tuple) else len(i.encode("utf-8")) for i in params.inputs)
    typical = sum(_estimate(i) for i in params.inputs)
    prices = budgets.text_prices(model)
    cost = worst * prices[0] / 1e6 if prices is not None else 0.0
    return budgets.Ask(worst, round(cost, 10), typical, completion_limit=0)


def admission(ctx: Any, model: Model, params: EmbedParams, field_name: str = "model") -> None:
    """Count and reserve the request before any provider call (``http.Context.admit``); unpriced under a cost budget is a 400."""
    caps = budgets.caps_for(ctx.caller.profile, ctx.caller.role, ctx.caller)
    if caps.costed and budgets.text_prices(model) is None:
        raise budgets.unpriced(model, field_name, "inputPer1M")
    ctx.admit(model, ask(params, model), caps=caps)


def embed(model: Model, params: EmbedParams, fields: dict[str, str]) -> Result:
    """One vector per input, in order; a provider that ignores ``dimensions`` is a 502 naming it, never passed on."""
    started = time.perf_counter()
    adapter = generation.adapter_for(model)
    check_provider(model, params, fields)
    vectors: list[list[float]] = []
    counts: list[int | None] = []
    size = max(1, adapter.embed_batch)
    for start in range(0, len(params.inputs), size):
        request = EmbedRequest(
            model=model.name,
            inputs=params.inputs[start : start + size],  # type: ignore[arg-type]
            dimensions=params.dimensions,
            timeout=model.config.timeoutSeconds or generation.DEFAULT_TIMEOUT_SECONDS,
            base_url=str(model.endpointURL) if model.endpointURL else None,
        )
        answer = generation.call_provider(model, adapter, lambda request=request: adapter.embed(request))  # type: ignore[misc]
        vectors += answer.vectors
        counts.append(answer.usage.prompt_tokens)
    if params.dimensions is not None and any(len(v) != params.dimensions for v in vectors):
        raise GatewayError(
            ErrorCode.PROVIDER_ERROR,
            f"The provider answered vectors of {len(vectors[0])} numbers, not the {params.dimensions} asked (dimensions)",
            {"field": fields["dimensions"]},
        )
    counted = all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
    prompt = sum(c for c in counts if isinstance(c, int)) if counted else None  # any batch uncounted: the whole is estimated
    return Result(model, vectors, Usage(prompt, 0), round((time.perf_counter() - started) * 1000, 1))
