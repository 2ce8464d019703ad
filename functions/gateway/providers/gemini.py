"""Google's Generative Language API: ``generateContent`` and ``streamGenerateContent?alt=sse``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gateway import jsonload
from gateway.providers.base import (
    Adapter,
    ChatRequest,
    Completion,
    Delta,
    Embeddings,
    EmbedRequest,
    Final,
    ToolCall,
    ToolCallDelta,
    UpstreamError,
    Usage,
    add_counts,
    count,
    decode_json,
    ended_early,
    iter_sse,
    new_call_id,
    vectors_of,
)


def _usage(data: dict[str, Any]) -> Usage:
    """Gemini's counts as OpenAI's: thoughts are billed as output but not in ``candidatesTokenCount``, so the
    completion is the sum; ``promptTokenCount`` already holds the cached content's tokens."""
    meta = data.get("usageMetadata") or {}
    thoughts = count(meta.get("thoughtsTokenCount"))
    return Usage(
        meta.get("promptTokenCount"),
        add_counts(meta.get("candidatesTokenCount", 0 if thoughts is not None else None), thoughts),  # all thoughts, no text
        cached_tokens=count(meta.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def _parts(data: dict[str, Any]) -> tuple[str, list[ToolCall], str | None]:
    """Text, function calls (Gemini sends each whole, without an id) and finish reason of a candidate."""
    candidates = data.get("candidates") or []
    if not candidates:
        return "", [], None
    parts = (candidates[0].get("content") or {}).get("parts") or []
    calls = [
        ToolCall(str(call.get("id") or new_call_id()), str(call.get("name")), json.dumps(call.get("args") or {}, separators=(",", ":")))
        for call in (p.get("functionCall") for p in parts)
        if isinstance(call, dict)
    ]
    finish = candidates[0].get("finishReason")
    if calls and finish == "STOP":
        finish = "tool_calls"  # Gemini stops "normally" after a call; OpenAI's clients look for tool_calls
    return "".join(p.get("text", "") for p in parts), calls, finish


def _contents(request: ChatRequest) -> list[dict[str, Any]]:
    """Turns as ``contents``: calls as ``functionCall`` parts, results as ``functionResponse`` parts (keyed by name)."""
    out: list[dict[str, Any]] = []
    for m in request.turns:
        if m.role == "tool":
            try:
                result = jsonload.loads(m.content)
            except ValueError:
                result = m.content
            part = {"functionResponse": {"name": request.tool_name(m.tool_call_id), "response": result if isinstance(result, dict) else {"content": result}}}
            if out and out[-1]["role"] == "user" and "functionResponse" in out[-1]["parts"][-1]:
                out[-1]["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part]})
        elif m.tool_calls:
            parts: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
            parts += [{"functionCall": {"name": c.name, "args": c.input}} for c in m.tool_calls]
            out.append({"role": "model", "parts": parts})
        else:
            images = [{"inlineData": {"mimeType": i.media_type, "data": i.b64}} for i in m.images]
            text = [{"text": m.content}] if m.content or not images else []
            out.append({"role": "model" if m.role == "assistant" else "user", "parts": images + text})
    return out


def _tool_fields(request: ChatRequest) -> dict[str, Any]:
    if not request.tools:
        return {}
    declarations = [{"name": t.name, **({"description": t.description} if t.description else {}), "parameters": t.parameters} for t in request.tools]
    fields: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    choice = request.tool_choice
    if choice is not None:
        config: dict[str, Any] = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY", "function": "ANY"}[choice.mode]}
        if choice.mode == "function":
            config["allowedFunctionNames"] = [choice.name]
        fields["toolConfig"] = {"functionCallingConfig": config}
    return fields


class Gemini(Adapter):
    type = "gemini"
    serial_tool_calls = False

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.key} if self.key else {}

    def body(self, request: ChatRequest) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for key, value in (("temperature", request.temperature), ("maxOutputTokens", request.max_tokens), ("topP", request.top_p), ("stopSequences", request.stop)):
            if value is not None:
                config[key] = value
        if (fmt := request.response_format) is not None:
            config["responseMimeType"] = "application/json"
            if fmt.schema is not None:
                config["responseSchema"] = fmt.schema
        body: dict[str, Any] = {"contents": _contents(request), "generationConfig": config, **_tool_fields(request)}
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        return body

    embeddings = True
    embed_batch = 100
    """``batchEmbedContents`` takes at most 100 requests."""

    def embed(self, request: EmbedRequest) -> Embeddings:
        """``batchEmbedContents``: one request per input; Gemini counts no tokens (the gateway estimates them)."""
        name = request.model if request.model.startswith("models/") else f"models/{request.model}"
        extra = {"outputDimensionality": request.dimensions} if request.dimensions is not None else {}
        body = {"requests": [{"model": name, "content": {"parts": [{"text": text}]}, **extra} for text in request.inputs]}
        data = self.post_json(f"{self.base(request)}/{name}:batchEmbedContents", body, request.timeout)
        items = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise UpstreamError("provider answer has no embeddings", kind="protocol")
        return Embeddings(vectors_of([i.get("values") for i in items], len(request.inputs)), Usage(None, 0))

    def _model_url(self, request: ChatRequest | EmbedRequest, verb: str) -> str:
        name = request.model if request.model.startswith("models/") else f"models/{request.model}"
        return f"{self.base(request)}/{name}:{verb}"

    def generate(self, request: ChatRequest) -> Completion:
        data = self.post_json(self._model_url(request, "generateContent"), self.body(request), request.timeout)
        if not isinstance(data, dict) or "candidates" not in data:
            raise UpstreamError("provider answer has no candidates", kind="protocol")
        text, calls, finish = _parts(data)
        return Completion(text, finish, _usage(data), tool_calls=calls)

    def stream(self, request: ChatRequest) -> Iterator[Delta | ToolCallDelta | Final]:
        response = self.open_stream(self._model_url(request, "streamGenerateContent?alt=sse"), self.body(request), request.timeout)
        usage, finish, calls = Usage(), None, 0
        try:
            for _, raw in iter_sse(response):
                data = decode_json(raw.encode())
                if "error" in data:
                    raise UpstreamError(str((data["error"] or {}).get("message") or "provider stream error"), status=502)
                text, found, finish_now = _parts(data)
                if text:
                    yield Delta(text)
                for call in found:  # whole calls: one piece each
                    yield ToolCallDelta(calls, call.id, call.name, call.arguments)
                    calls += 1
                if calls and finish_now == "STOP":
                    finish_now = "tool_calls"
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
