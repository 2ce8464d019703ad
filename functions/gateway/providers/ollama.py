"""Ollama's native API: ``/api/chat`` (newline-delimited JSON stream), ``/api/tags``, ``/api/version``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.providers.base import Adapter, ChatRequest, Completion, Delta, Final, UpstreamError, Usage, ended_early, iter_ndjson


class Ollama(Adapter):
    type = "ollama"
    needs_key = False

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for key, value in (("temperature", request.temperature), ("num_predict", request.max_tokens), ("top_p", request.top_p), ("stop", request.stop)):
            if value is not None:
                options[key] = value
        return {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": stream,
            "options": options,
        }

    @staticmethod
    def _usage(data: dict[str, Any]) -> Usage:
        return Usage(data.get("prompt_eval_count"), data.get("eval_count"))

    def generate(self, request: ChatRequest) -> Completion:
        data = self.post_json(f"{self.base(request)}/api/chat", self.body(request, stream=False), request.timeout)
        if not isinstance(data, dict) or "message" not in data:
            raise UpstreamError(str((data or {}).get("error") or "provider answer has no message"), kind="protocol")
        return Completion((data.get("message") or {}).get("content") or "", data.get("done_reason"), self._usage(data))

    def stream(self, request: ChatRequest) -> Iterator[Delta | Final]:
        response = self.open_stream(f"{self.base(request)}/api/chat", self.body(request, stream=True), request.timeout)
        try:
            for data in iter_ndjson(response):
                if "error" in data:
                    raise UpstreamError(str(data["error"]), status=502)
                text = (data.get("message") or {}).get("content")
                if text:
                    yield Delta(text)
                if data.get("done"):
                    yield Final(data.get("done_reason"), self._usage(data))
                    return
            raise ended_early()
        finally:
            response.close()

    def list_models(self) -> list[dict[str, Any]]:
        data = self.get_json(f"{self.base()}/api/tags")
        return [{"id": m.get("name"), **m} for m in (data.get("models") or [])] if isinstance(data, dict) else []

    def health_check(self) -> None:
        self.get_json(f"{self.base()}/api/version")
