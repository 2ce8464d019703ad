"""Hugging Face: the router's OpenAI-compatible chat endpoint, with HF's "model loading" 503."""

from __future__ import annotations

import json

import httpx

from gateway.providers.base import UpstreamError, parse_retry_after
from gateway.providers.openai_compat import OpenAICompatible


class HuggingFace(OpenAICompatible):
    """Chat through ``router.huggingface.co/v1``; a loading model's ``estimated_time`` is a retry hint."""

    type = "huggingface"

    def check(self, response: httpx.Response) -> None:
        if response.status_code != 503:
            return super().check(response)
        body = response.read()
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        wait = parse_retry_after(response.headers)
        if isinstance(data, dict) and isinstance(data.get("estimated_time"), int | float):
            wait = max(wait or 0.0, float(data["estimated_time"]))
        message = data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), str) else "model is loading"
        raise UpstreamError(message, status=503, retry_after=wait)
