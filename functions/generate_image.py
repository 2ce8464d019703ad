"""``generate_image``: a signed-in user asks an image model for 1-4 images, stored in Cloud Storage.

``POST`` generates (roles ``user`` and ``admin``); ``GET`` describes the request schema.
"""

from __future__ import annotations

from typing import Any

from firebase_functions import https_fn
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway import deploy, generation, http, images, openapi
from gateway.schemas import SLUG


class GenerateImageRequest(BaseModel):
    """Body of ``POST generate_image``."""

    model_config = ConfigDict(extra="forbid")

    modelId: str = Field(pattern=SLUG, description="An enabled image model id.")
    prompt: str = Field(min_length=1, max_length=images.MAX_PROMPT)
    negativePrompt: str | None = Field(None, max_length=2000)
    width: int | None = Field(None, ge=images.MIN_SIZE, le=images.MAX_SIZE, description="Multiple of 8; default from the model.")
    height: int | None = Field(None, ge=images.MIN_SIZE, le=images.MAX_SIZE, description="Multiple of 8; default from the model.")
    guidanceScale: float | None = Field(None, ge=0, le=30)
    steps: int | None = Field(None, ge=1, le=150)
    numImages: int = Field(1, ge=1, le=images.MAX_IMAGES)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int | None) -> int | None:
        return None if value is None else images.check_side(value)


def _generate(ctx: http.Context) -> dict[str, Any]:
    body = ctx.parse(GenerateImageRequest)
    params = images.ImageParams(
        prompt=body.prompt,
        negative_prompt=body.negativePrompt,
        width=body.width,
        height=body.height,
        guidance_scale=body.guidanceScale,
        steps=body.steps,
        num_images=body.numImages,
        seed=body.seed,
    )
    batch = images.create(ctx, body.modelId, params)
    return {
        "images": [
            {"id": s.id, "url": s.url, "path": s.path, "contentType": s.image.content_type, "width": s.image.width, "height": s.image.height}
            for s in batch.stored
        ],
        "modelId": batch.model.id,
        "provider": batch.model.provider,
        "cost": batch.cost,
        "latencyMs": batch.latency_ms,
    }


def _describe(ctx: http.Context) -> dict[str, Any]:
    return {
        "method": "POST",
        "contentType": "application/json",
        "roles": ["user", "admin"],
        "request": GenerateImageRequest.model_json_schema(),
        "response": ["images[{id, url, path, contentType, width, height}]", "modelId", "provider", "cost", "latencyMs"],
    }


ROUTES = {
    "POST": http.Handler(_generate, roles={"user", "admin"}, reads=(generation.start_config,)),
    "GET": http.Handler(_describe, roles=http.ALL_ROLES),
}
API = (
    openapi.Op("POST", "/generate_image", "Generate images", {200: "ImageAnswer"}, body=GenerateImageRequest, errors=(404, 429, 502, 503, 504),
               examples=({"modelId": "hf-flux-schnell", "prompt": "a red fox in the snow", "width": 512, "height": 512, "seed": 42},),
               description="1-4 images, stored in Cloud Storage (all or nothing)."),
    openapi.Op("GET", "/generate_image", "Describe the request", {200: "RequestDescription"}),
)


@https_fn.on_request(timeout_sec=deploy.IMAGE_TIMEOUT_SECONDS, memory=deploy.IMAGE_MEMORY, min_instances=deploy.MIN_INSTANCES)
def generate_image(request: https_fn.Request) -> https_fn.Response:
    return http.serve(request, "generate_image", ROUTES)
