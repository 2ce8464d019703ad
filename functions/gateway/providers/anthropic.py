"""Anthropic's Messages API: ``x-api-key``, ``anthropic-version``, typed SSE events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.providers.base import Adapter, ChatRequest, Completion, Delta, Final, UpstreamError, Usage, decode_json, ended_early, iter_sse

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class Anthropic(Adapter):
    type = "anthropic"

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": VERSION}
        if self.key:
            headers["x-api-key"] = self.key
        return headers

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [{"role": m.role, "content": m.content} for m in request.turns],
        }
        if request.system:
            body["system"] = request.system
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = request.stop
        if stream:
            body["stream"] = True
        return body

    def generate(self, request: ChatRequest) -> Completion:
        data = self.post_json(f"{self.base(request)}/v1/messages", self.body(request, stream=False), request.timeout)
        if not isinstance(data, dict) or data.get("type") == "error":
            raise UpstreamError(str(((data or {}).get("error") or {}).get("message") or "provider error"), status=502)
        text = "".join(block.get("text", "") for block in data.get("content") or [] if block.get("type") == "text")
        usage = data.get("usage") or {}
        return Completion(text, data.get("stop_reason"), Usage(usage.get("input_tokens"), usage.get("output_tokens")))

    def stream(self, request: ChatRequest) -> Iterator[Delta | Final]:
        response = self.open_stream(f"{self.base(request)}/v1/messages", self.body(request, stream=True), request.timeout)
        usage = Usage()
        finish: str | None = None
        try:
            for event, raw in iter_sse(response):
                data = decode_json(raw.encode())
                kind = data.get("type", event)
                if kind == "message_start":
                    start_usage = (data.get("message") or {}).get("usage") or {}
                    usage.prompt_tokens = start_usage.get("input_tokens")
                    usage.completion_tokens = start_usage.get("output_tokens")
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield Delta(delta["text"])
                elif kind == "message_delta":
                    finish = (data.get("delta") or {}).get("stop_reason") or finish
                    out = (data.get("usage") or {}).get("output_tokens")
                    if out is not None:
                        usage.completion_tokens = out
                elif kind == "message_stop":
                    yield Final(finish, usage)
                    return
                elif kind == "error":
                    error = data.get("error") or {}
                    status = 529 if error.get("type") == "overloaded_error" else 502
                    raise UpstreamError(str(error.get("message") or "provider stream error"), status=status)
            raise ended_early()
        finally:
            response.close()

    def list_models(self) -> list[dict[str, Any]]:
        data = self.get_json(f"{self.base()}/v1/models")
        return list(data.get("data") or []) if isinstance(data, dict) else []
