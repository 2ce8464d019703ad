"""OpenAI's chat completions wire format: OpenAI, LM Studio, OpenRouter and any compatible URL."""

from __future__ import annotations

import base64
import binascii
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
    Image,
    ImageRequest,
    Message,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    UpstreamError,
    Usage,
    count,
    decode_json,
    ended_early,
    image_from_bytes,
    iter_sse,
    new_call_id,
    vectors_of,
)


def decode_b64_image(value: str) -> Image:
    """A base64 image, bare or as a ``data:`` URL, checked against its own bytes."""
    if value.startswith("data:"):
        value = value.split(",", 1)[-1]
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UpstreamError("provider sent an image that is not valid base64", kind="protocol") from None
    return image_from_bytes(data)


def _usage(data: dict[str, Any] | None) -> Usage:
    """OpenAI's usage; its details (cache hits, reasoning) are already parts of the prompt and completion counts."""
    data = data or {}
    prompt_details = data.get("prompt_tokens_details") or {}
    completion_details = data.get("completion_tokens_details") or {}
    return Usage(
        data.get("prompt_tokens"),
        data.get("completion_tokens"),
        cached_tokens=count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else None,
        reasoning_tokens=count(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else None,
        cache_write_tokens=count(prompt_details.get("cache_write_tokens")) if isinstance(prompt_details, dict) else None,
    )


def message_json(message: Message) -> dict[str, Any]:
    """One message in OpenAI's chat format (tool calls and tool results included)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        out["content"] = [{"type": "image_url", "image_url": {"url": image.data_url}} for image in message.images]
        if message.content:
            out["content"].append({"type": "text", "text": message.content})
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def tools_json(request: ChatRequest, strict: bool = False) -> list[dict[str, Any]]:
    """OpenAI's tool definitions; a tool's ``strict`` only where the provider takes it (``strict``)."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "parameters": t.parameters,
                **({"strict": t.strict} if strict and t.strict is not None else {}),
            },
        }
        for t in request.tools
    ]


def tool_choice_json(choice: ToolChoice) -> Any:
    return {"type": "function", "function": {"name": choice.name}} if choice.mode == "function" else choice.mode


def tool_calls_of(message: dict[str, Any]) -> list[ToolCall]:
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        calls.append(
            ToolCall(
                str(call.get("id") or new_call_id()),
                str(function.get("name") or ""),
                arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
            )
        )
    return calls


class OpenAICompatible(Adapter):
    """``POST {base}/chat/completions``, ``GET {base}/models``."""

    type = "openai-compatible"
    strict_tools = True
    zero_top_p = 1e-6
    """Any OpenAI-compatible URL: often vLLM or TGI, which refuse ``top_p: 0``."""
    embeddings = True
    embed_tokens = True

    def embed(self, request: EmbedRequest) -> Embeddings:
        """``POST {base}/embeddings``: floats asked for (not every compatible server has base64), data put in ``index`` order."""
        body: dict[str, Any] = {"model": request.model, "input": [list(i) if isinstance(i, tuple) else i for i in request.inputs], "encoding_format": "float"}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        data = self.post_json(f"{self.base(request)}/embeddings", body, request.timeout)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise UpstreamError(_error_in(data) or "provider answer has no data", kind="protocol")
        ordered = sorted(items, key=lambda i: i.get("index") if isinstance(i.get("index"), int) else 0)
        return Embeddings(vectors_of([i.get("embedding") for i in ordered], len(request.inputs)), Usage(usage.get("prompt_tokens") if isinstance(usage := data.get("usage"), dict) else None, 0))

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [message_json(m) for m in request.messages],
        }
        for key, value in (("temperature", request.temperature), ("max_tokens", request.max_tokens), ("top_p", request.top_p), ("stop", request.stop)):
            if value is not None:
                body[key] = value
        if request.tools:
            body["tools"] = tools_json(request, self.strict_tools)
            if request.tool_choice is not None:
                body["tool_choice"] = tool_choice_json(request.tool_choice)
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        if (fmt := request.response_format) is not None:
            if fmt.type == "json_schema":
                spec: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema}
                if fmt.strict is not None:
                    spec["strict"] = fmt.strict
                if fmt.description:
                    spec["description"] = fmt.description
                body["response_format"] = {"type": "json_schema", "json_schema": spec}
            else:
                body["response_format"] = {"type": "json_object"}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def cost(self, usage: dict[str, Any] | None) -> float | None:
        """What the provider says the call cost; plain OpenAI says nothing."""
        return None

    def generate(self, request: ChatRequest) -> Completion:
        data = self.post_json(f"{self.base(request)}/chat/completions", self.body(request, stream=False), request.timeout)
        if not isinstance(data, dict) or not data.get("choices"):
            raise UpstreamError(_error_in(data) or "provider answer has no choices", kind="protocol")
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content") or ""
        return Completion(text, choice.get("finish_reason"), _usage(data.get("usage")), self.cost(data.get("usage")), tool_calls_of(message))

    def stream(self, request: ChatRequest) -> Iterator[Delta | ToolCallDelta | Final]:
        response = self.open_stream(f"{self.base(request)}/chat/completions", self.body(request, stream=True), request.timeout)
        finish: str | None = None
        usage: dict[str, Any] | None = None
        try:
            for _, data in iter_sse(response):
                if data.strip() == "[DONE]":
                    yield Final(finish, _usage(usage), self.cost(usage))
                    return
                chunk = decode_json(data.encode())
                if isinstance(chunk, dict) and "error" in chunk:
                    raise UpstreamError(_error_in(chunk) or "provider stream error", status=_status_in(chunk), kind="http")
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield Delta(delta["content"])
                    for call in delta.get("tool_calls") or []:
                        function = call.get("function") or {}
                        yield ToolCallDelta(int(call.get("index") or 0), call.get("id"), function.get("name"), function.get("arguments") or "")
                    finish = choice.get("finish_reason") or finish
            raise ended_early()
        finally:
            response.close()

    def list_models(self) -> list[dict[str, Any]]:
        data = self.get_json(f"{self.base()}/models")
        return list(data.get("data") or []) if isinstance(data, dict) else []

    images_per_call = 4

    def generate_images(self, request: ImageRequest) -> list[Image]:
        """``POST {base}/images/generations`` with ``response_format: b64_json``."""
        body = {
            "model": request.model,
            "prompt": request.prompt,
            "n": request.count,
            "size": f"{request.width}x{request.height}",
            "response_format": "b64_json",
        }
        data = self.post_json(f"{self.base(request)}/images/generations", body, request.timeout)
        items = data.get("data") if isinstance(data, dict) else None
        if not items or any(not isinstance(i, dict) or not i.get("b64_json") for i in items):
            raise UpstreamError(_error_in(data) or "provider answer has no b64_json images", kind="protocol")
        return [decode_b64_image(i["b64_json"]) for i in items]


def _error_in(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("message") or "provider error")
    return None


def _status_in(data: dict[str, Any]) -> int | None:
    code = data["error"].get("code") if isinstance(data.get("error"), dict) else None
    return code if isinstance(code, int) and 400 <= code < 600 else 502


class OpenAI(OpenAICompatible):
    type = "openai"
    zero_top_p = 0.0


class LMStudio(OpenAICompatible):
    """LM Studio's local server: OpenAI's format, no key."""

    type = "lmstudio"
    needs_key = False
    zero_top_p = 0.0  # llama.cpp: 0 keeps the likeliest token


class OpenRouter(OpenAICompatible):
    """OpenAI's format plus app attribution headers and the cost OpenRouter reports in ``usage``."""

    type = "openrouter"
    zero_top_p = 0.0

    def headers(self, url: str) -> dict[str, str]:
        headers = super().headers(url)
        if self.config.app_url:
            headers["HTTP-Referer"] = self.config.app_url
        headers["X-Title"] = self.config.app_title or "Firebase AI Gateway"
        return headers

    def cost(self, usage: dict[str, Any] | None) -> float | None:
        value = (usage or {}).get("cost")
        return float(value) if isinstance(value, int | float) else None

    images_per_call = 1

    def generate_images(self, request: ImageRequest) -> list[Image]:
        """Image output through chat completions (``modalities``); images come back as ``data:`` URLs."""
        body = {
            "model": request.model,
            "messages": [{"role": "user", "content": request.prompt}],
            "modalities": ["image", "text"],
        }
        data = self.post_json(f"{self.base(request)}/chat/completions", body, request.timeout)
        message = ((data.get("choices") or [{}])[0].get("message") or {}) if isinstance(data, dict) else {}
        urls = [((i.get("image_url") or {}).get("url") or "") for i in message.get("images") or []]
        if not urls or not all(urls):
            raise UpstreamError(_error_in(data) or "provider answer has no images", kind="protocol")
        return [decode_b64_image(url) for url in urls[: request.count]]


