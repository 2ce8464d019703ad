"""``POST /v1/embeddings``: OpenAI's embeddings over :mod:`gateway.embedding`.

``input`` is a string, an array of strings, or token ids (an array of
integers, or of arrays of them: passed through to the OpenAI family, refused
elsewhere). ``dimensions`` is passed to the provider (OpenAI, Gemini's
``outputDimensionality``, Ollama) or refused with a 400 where it has none.
``encoding_format: base64`` answers each vector as little-endian float32
bytes in base64, as OpenAI does (the official SDKs ask for it by default).
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

from pydantic import Field, model_validator

from gateway import embedding, http, openapi, usage
from gateway.errors import invalid
from gateway.openai.fields import Strict

IGNORED_FIELDS = frozenset({"user"})
"""Accepted and ignored: it changes nothing an answer says."""
FIELDS = {"model": "model", "input": "input", "dimensions": "dimensions"}


class EmbeddingRequest(Strict):
    """OpenAI's request: every field it documents is honoured, ``user`` ignored."""

    model: str = Field(min_length=1, max_length=64)
    input: Any = Field(description="A string, an array of strings, or token ids (an array of integers, or of arrays of integers); at most 2048 inputs.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, le=65536)

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kept = {k: v for k, v in data.items() if k not in IGNORED_FIELDS}
        if "encoding_format" in kept and kept["encoding_format"] is None:
            del kept["encoding_format"]  # null: the default
        return kept


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def inputs_of(value: Any, field_name: str = "input") -> tuple[str, ...] | tuple[tuple[int, ...], ...]:
    """OpenAI's four shapes of ``input`` as a tuple of texts or of token arrays; anything else is a 400 naming the part."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not value:
        raise invalid(field_name, "a string, or a non-empty array of strings or of token ids")
    if all(isinstance(v, str) for v in value):
        return tuple(value)
    if all(_is_int(v) for v in value):
        return (tuple(value),)
    for index, item in enumerate(value):
        if not isinstance(item, list) or not all(_is_int(v) for v in item):
            raise invalid(f"{field_name}.{index}", "every input must be of one kind: all strings, or all arrays of token ids")
    return tuple(tuple(item) for item in value)


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def create(ctx: http.Context, body: EmbeddingRequest) -> dict[str, Any]:
    params = embedding.EmbedParams(inputs_of(body.input), body.dimensions)
    embedding.check_inputs(params)
    assert ctx.caller is not None
    model = embedding.embedding_model(body.model, "model", ctx.caller.org)
    embedding.check_provider(model, params, FIELDS)
    embedding.admission(ctx, model, params, "model")
    tracker = ctx.tracker()
    result = embedding.embed(model, params, FIELDS)
    tracker.ok(result.model, result.usage, None, later=True)  # priced by the tracker (inputPer1M), estimated when uncounted
    prompt = tracker.entry.prompt_tokens if tracker.entry is not None else usage.checked(result.usage, tracker.ask, 0)[0]  # as booked
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)} for i, v in enumerate(result.vectors)],
        "model": body.model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }


API = (
    openapi.Op(
        "POST", "/openai/v1/embeddings", "Create embeddings (OpenAI's API)",
        {200: "CreateEmbeddingResponse"},
        body=EmbeddingRequest, errors=(403, 404, 429, 502, 503, 504),
        examples=(
            {"model": "openai-text-embedding-3-small", "input": "The food was delicious"},
            {"model": "openai-text-embedding-3-small", "input": ["first", "second"], "dimensions": 256, "encoding_format": "base64"},
        ),
        description="model is a gateway model of type embedding. Also served without /v1. usage counts what the provider "
        "reported; where it reports nothing (Gemini, Hugging Face) the gateway's estimate (characters / 4), booked as estimated.",
    ),
)
"""The operation in the API description (``gateway/openapi.py``)."""
