"""``POST /v1/images/generations``: OpenAI's image generation over :mod:`gateway.images`.

The same core as the native ``generate_image``: roles, limits, budgets (the
worst case reserved before the provider call), Cloud Storage objects, gallery
records and ledger entries are the same. ``b64_json`` answers are stored too,
so both formats leave the same records; only the answer differs.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any, Literal

from pydantic import Field, model_validator

from gateway import http, openapi
from gateway import images as core
from gateway.errors import invalid
from gateway.openai.fields import Strict, at_default

IGNORED_FIELDS = frozenset({"user"})
"""Accepted and ignored: it changes nothing an answer says."""

AT_DEFAULT: dict[str, tuple[Any, ...]] = {
    "quality": (None, "auto"),
    "style": (None, "vivid"),
    "background": (None, "auto"),
    "moderation": (None, "auto"),
    "output_format": (None, "png"),
    "output_compression": (None, 100),
    "partial_images": (None, 0),
    "stream": (None, False),
}
"""Documented fields no image adapter can honour, accepted at OpenAI's defaults or null; another value is a 400 naming the field."""

_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


class ImageGenerationRequest(Strict):
    """OpenAI's ``CreateImageRequest``: the fields below are honoured, the others of :data:`AT_DEFAULT` accepted at their defaults."""

    prompt: str = Field(min_length=1, max_length=core.MAX_PROMPT)
    model: str | None = Field(None, max_length=64, description="A gateway image model id. Required: the gateway has no default image model.")
    n: int | None = Field(None, ge=1, le=core.MAX_IMAGES, description=f"1 to {core.MAX_IMAGES} (default 1).")
    size: str | None = Field(
        None, max_length=16, description=f'"auto" or null: the model\'s configured size; or "WIDTHxHEIGHT", each a multiple of 8 from {core.MIN_SIZE} to {core.MAX_SIZE}.'
    )
    response_format: Literal["url", "b64_json"] | None = Field(None, description="url (default): a Firebase Storage download URL; b64_json: the bytes.")

    @model_validator(mode="before")
    @classmethod
    def _drop_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return at_default({k: v for k, v in data.items() if k not in IGNORED_FIELDS}, AT_DEFAULT)


def _size(size: str | None) -> tuple[int | None, int | None]:
    """Width and height asked for (None: the model's configured size); a 400 naming ``size`` for one the gateway cannot ask for."""
    if size is None or size == "auto":
        return None, None
    match = _SIZE.match(size)
    if match is None:
        raise invalid("size", 'must be "auto" or "WIDTHxHEIGHT"')
    try:
        return core.check_side(int(match[1])), core.check_side(int(match[2]))
    except ValueError as exc:
        raise invalid("size", f"each side {exc}") from None


def create(ctx: http.Context, body: ImageGenerationRequest) -> dict[str, Any]:
    if body.model is None:
        raise invalid("model", "required: a gateway image model id (this gateway has no default image model)")
    width, height = _size(body.size)
    params = core.ImageParams(prompt=body.prompt, width=width, height=height, num_images=body.n or 1)
    batch = core.create(ctx, body.model, params, field_name="model")
    if body.response_format == "b64_json":
        data = [{"b64_json": base64.b64encode(s.image.data).decode("ascii")} for s in batch.stored]
    else:
        data = [{"url": s.url} for s in batch.stored]
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    formats = {FORMATS[s.image.content_type] for s in batch.stored}
    if len(formats) == 1:
        answer["output_format"] = formats.pop()  # what the provider made: the gateway does not convert
    return answer


API = (
    openapi.Op(
        "POST", "/openai/v1/images/generations", "Create images (OpenAI's API)", {200: "OpenAIImagesResponse"},
        body=ImageGenerationRequest, errors=(403, 404, 429, 502, 503, 504),
        examples=({"model": "hf-flux-schnell", "prompt": "a red fox in the snow", "size": "512x512"},
                  {"model": "hf-flux-schnell", "prompt": "a red fox in the snow", "n": 2, "response_format": "b64_json"}),
        description="model is a gateway image model id (required). The images are stored and recorded as generate_image stores them, "
        "whatever the response_format. Also served without /v1.",
    ),
)
