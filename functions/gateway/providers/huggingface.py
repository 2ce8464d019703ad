"""Hugging Face: the router's OpenAI-compatible chat endpoint, hf-inference images and embeddings, HF's "model loading" 503."""

from __future__ import annotations

from typing import Any

import httpx

from gateway import jsonload
from gateway.providers.base import (
    ERROR_BODY_BYTES,
    Embeddings,
    EmbedRequest,
    Image,
    ImageRequest,
    UpstreamError,
    Usage,
    error_message,
    image_from_bytes,
    parse_retry_after,
    read_bounded,
    vectors_of,
)
from gateway.providers.openai_compat import OpenAICompatible

DEFAULT_IMAGE_BASE = "https://router.huggingface.co/hf-inference"


class HuggingFace(OpenAICompatible):
    """Chat through ``router.huggingface.co/v1``; images through hf-inference's text-to-image.

    A loading model's 503 ``estimated_time`` is a retry hint.
    """

    type = "huggingface"
    images_per_call = 1
    default_hosts = ("router.huggingface.co",)

    embed_dimensions = False
    """hf-inference's feature extraction has no output size."""
    embed_tokens = False

    def embed(self, request: EmbedRequest) -> Embeddings:
        """``POST {imageBaseUrl}/models/{model}/pipeline/feature-extraction`` (hf-inference, like images): one vector per input.

        The router's OpenAI-compatible ``/v1`` serves chat only; a model's ``endpointURL`` (an Inference Endpoint) replaces the base.
        HF counts no tokens: the gateway estimates them.
        """
        base = (request.base_url or self.config.image_base_url or DEFAULT_IMAGE_BASE).rstrip("/")
        url = f"{base}/models/{request.model}/pipeline/feature-extraction"
        data = self.post_json(url, {"inputs": list(request.inputs)}, request.timeout)
        return Embeddings(vectors_of(data, len(request.inputs)), Usage(None, 0))

    def generate_images(self, request: ImageRequest) -> list[Image]:
        """``POST {imageBaseUrl}/models/{model}``: raw image bytes back, or a JSON error (even with 200)."""
        parameters: dict[str, Any] = {"width": request.width, "height": request.height}
        for key, value in (
            ("negative_prompt", request.negative_prompt),
            ("guidance_scale", request.guidance_scale),
            ("num_inference_steps", request.steps),
            ("seed", request.seed),
        ):
            if value is not None:
                parameters[key] = value
        base = (request.base_url or self.config.image_base_url or DEFAULT_IMAGE_BASE).rstrip("/")
        url = f"{base}/models/{request.model}"
        response, body = self.send(
            self.build(
                "POST",
                url,
                json={"inputs": request.prompt, "parameters": parameters},
                headers={**self.headers(url), "Accept": "image/png"},
                timeout=httpx.Timeout(request.timeout, connect=5.0),
            )
        )
        if response.headers.get("content-type", "").startswith("application/json"):
            raise UpstreamError(error_message(body, "provider answered JSON instead of an image"), status=502)
        return [image_from_bytes(body)]

    def check(self, response: httpx.Response) -> None:
        if response.status_code != 503:
            return super().check(response)
        body = read_bounded(response, ERROR_BODY_BYTES, truncate=True)
        try:
            data = jsonload.loads(body)
        except ValueError:
            data = {}
        wait = parse_retry_after(response.headers)
        if isinstance(data, dict) and isinstance(data.get("estimated_time"), int | float):
            wait = max(wait or 0.0, float(data["estimated_time"]))
        message = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), str) else "model is loading"
        raise UpstreamError(message, status=503, retry_after=wait)
