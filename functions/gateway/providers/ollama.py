"""Ollama's native API: ``/api/chat`` (newline-delimited JSON stream), ``/api/tags``, ``/api/version``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gateway.providers.base import (
    Adapter,
    ChatRequest,
    Completion,
    Delta,
    Embeddings,
    EmbedRequest,
    Final,
    Message,
    ToolCall,
    ToolCallDelta,
    UpstreamError,
    Usage,
    ended_early,
    iter_ndjson,
    new_call_id,
    vectors_of,
)
from gateway.providers.openai_compat import tools_json


def _message(request: ChatRequest, m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.images:
        out["images"] = [image.b64 for image in m.images]
    if m.tool_calls:
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": c.input}} for c in m.tool_calls]
    if m.role == "tool":
        out["tool_name"] = request.tool_name(m.tool_call_id)
    return out


def _calls(message: dict[str, Any]) -> list[ToolCall]:
    """Ollama's calls carry structured arguments and no id."""
    return [
        ToolCall(new_call_id(), str(f.get("name")), json.dumps(f.get("arguments") or {}, separators=(",", ":")))
        for f in ((c.get("function") or {}) for c in message.get("tool_calls") or [])
    ]


class Ollama(Adapter):
    type = "ollama"
    needs_key = False
    tool_choices = frozenset({"auto", "none"})
    """Ollama has no tool_choice: ``auto`` is its behaviour, ``none`` is sending no tools."""
    serial_tool_calls = False

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for key, value in (("temperature", request.temperature), ("num_predict", request.max_tokens), ("top_p", request.top_p), ("stop", request.stop)):
            if value is not None:
                options[key] = value
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(request, m) for m in request.messages],
            "stream": stream,
            "options": options,
        }
        if (fmt := request.response_format) is not None:
            body["format"] = fmt.schema if fmt.schema is not None else "json"
        if request.tools and not (request.tool_choice and request.tool_choice.mode == "none"):
            body["tools"] = tools_json(request)  # Ollama takes OpenAI's tool format
        return body

    @staticmethod
    def _finish(data: dict[str, Any], calls: int) -> str | None:
        reason = data.get("done_reason")
        return "tool_calls" if calls and reason in (None, "stop") else reason

    @staticmethod
    def _usage(data: dict[str, Any]) -> Usage:
        return Usage(data.get("prompt_eval_count"), data.get("eval_count"))

    def generate(self, request: ChatRequest) -> Completion:
        data = self.post_json(f"{self.base(request)}/api/chat", self.body(request, stream=False), request.timeout)
        if not isinstance(data, dict) or "message" not in data:
            raise UpstreamError(str((data or {}).get("error") or "provider answer has no message"), kind="protocol")
        message = data.get("message") or {}
        calls = _calls(message)
        return Completion(message.get("content") or "", self._finish(data, len(calls)), self._usage(data), tool_calls=calls)

    def stream(self, request: ChatRequest) -> Iterator[Delta | ToolCallDelta | Final]:
        response = self.open_stream(f"{self.base(request)}/api/chat", self.body(request, stream=True), request.timeout)
        calls = 0
        try:
            for data in iter_ndjson(response):
                if "error" in data:
                    raise UpstreamError(str(data["error"]), status=502)
                message = data.get("message") or {}
                if message.get("content"):
                    yield Delta(message["content"])
                for call in _calls(message):  # whole calls, in one chunk
                    yield ToolCallDelta(calls, call.id, call.name, call.arguments)
                    calls += 1
                if data.get("done"):
                    yield Final(self._finish(data, calls), self._usage(data))
                    return
            raise ended_early()
        finally:
            response.close()

    embeddings = True

    def embed(self, request: EmbedRequest) -> Embeddings:
        """``POST /api/embed``: ``embeddings`` in input order, ``prompt_eval_count`` the tokens."""
        body: dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        data = self.post_json(f"{self.base(request)}/api/embed", body, request.timeout)
        if not isinstance(data, dict) or "embeddings" not in data:
            raise UpstreamError(str((data or {}).get("error") if isinstance(data, dict) else "") or "provider answer has no embeddings", kind="protocol")
        return Embeddings(vectors_of(data["embeddings"], len(request.inputs)), Usage(data.get("prompt_eval_count"), 0))

    def list_models(self) -> list[dict[str, Any]]:
        data = self.get_json(f"{self.base()}/api/tags")
        return [{"id": m.get("name"), **m} for m in (data.get("models") or [])] if isinstance(data, dict) else []

    def health_check(self) -> None:
        self.get_json(f"{self.base()}/api/version")
