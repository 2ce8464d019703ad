"""Google's Generative Language API: ``generateContent`` and ``streamGenerateContent?alt=sse``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.providers.base import Adapter, ChatRequest, Completion, Delta, Final, UpstreamError, Usage, decode_json, ended_early, iter_sse


def _usage(data: dict[str, Any]) -> Usage:
    meta = data.get("usageMetadata") or {}
    return Usage(meta.get("promptTokenCount"), meta.get("candidatesTokenCount"))


def _text_and_finish(data: dict[str, Any]) -> tuple[str, str | None]:
    candidates = data.get("candidates") or []
    if not candidates:
        return "", None
    parts = (candidates[0].get("content") or {}).get("parts") or []
    return "".join(p.get("text", "") for p in parts), candidates[0].get("finishReason")


class Gemini(Adapter):
    type = "gemini"

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.key} if self.key else {}

    def body(self, request: ChatRequest) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for key, value in (("temperature", request.temperature), ("maxOutputTokens", request.max_tokens), ("topP", request.top_p), ("stopSequences", request.stop)):
            if value is not None:
                config[key] = value
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]} for m in request.turns
            ],
            "generationConfig": config,
        }
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        return body

    def _model_url(self, request: ChatRequest, verb: str) -> str:
        name = request.model if request.model.startswith("models/") else f"models/{request.model}"
        return f"{self.base(request)}/{name}:{verb}"

    def generate(self, request: ChatRequest) -> Completion:
        data = self.post_json(self._model_url(request, "generateContent"), self.body(request), request.timeout)
        if not isinstance(data, dict) or "candidates" not in data:
            raise UpstreamError("provider answer has no candidates", kind="protocol")
        text, finish = _text_and_finish(data)
        return Completion(text, finish, _usage(data))

    def stream(self, request: ChatRequest) -> Iterator[Delta | Final]:
        response = self.open_stream(self._model_url(request, "streamGenerateContent?alt=sse"), self.body(request), request.timeout)
        usage, finish = Usage(), None
        try:
            for _, raw in iter_sse(response):
                data = decode_json(raw.encode())
                if "error" in data:
                    raise UpstreamError(str((data["error"] or {}).get("message") or "provider stream error"), status=502)
                text, finish_now = _text_and_finish(data)
                if text:
                    yield Delta(text)
                if data.get("usageMetadata"):
                    usage = _usage(data)
                finish = finish_now or finish
            if finish is None:
                raise ended_early()
            yield Final(finish, usage)
        finally:
            response.close()

    def list_models(self) -> list[dict[str, Any]]:
        data = self.get_json(f"{self.base()}/models")
        return [{"id": m.get("name", "").removeprefix("models/"), **m} for m in (data.get("models") or [])] if isinstance(data, dict) else []
