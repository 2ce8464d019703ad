"""Anthropic's Messages API: ``x-api-key``, ``anthropic-version``, typed SSE events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gateway.providers.base import (
    Adapter,
    ChatRequest,
    Completion,
    Delta,
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
)

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
JSON_TOOL = "json_answer"
"""Structured output is emulated: the model is made to call this tool, whose input schema is the asked one."""


def _usage(usage: dict[str, Any]) -> Usage:
    """Anthropic's counts as OpenAI's: ``input_tokens`` excludes cache reads and writes, so the prompt is the sum
    (every token billed is booked); cache reads are its cached tokens, cache writes are priced as input."""
    read, written = count(usage.get("cache_read_input_tokens")), count(usage.get("cache_creation_input_tokens"))
    return Usage(
        add_counts(usage.get("input_tokens"), read, written),
        usage.get("output_tokens"),
        cached_tokens=read,
        cache_write_tokens=written,
    )


class Anthropic(Adapter):
    type = "anthropic"
    json_with_tools = False

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": VERSION}
        if self.key:
            headers["x-api-key"] = self.key
        return headers

    @staticmethod
    def messages(request: ChatRequest) -> list[dict[str, Any]]:
        """Turns as Anthropic wants them: tool calls as ``tool_use`` blocks, results as ``tool_result``
        blocks in a user turn (consecutive results share one turn)."""
        out: list[dict[str, Any]] = []
        for m in request.turns:
            if m.role == "tool":
                block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
                if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list) and out[-1]["content"][-1]["type"] == "tool_result":
                    out[-1]["content"].append(block)
                else:
                    out.append({"role": "user", "content": [block]})
            elif m.tool_calls:
                blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
                blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in m.tool_calls]
                out.append({"role": "assistant", "content": blocks})
            elif m.images:
                images = [{"type": "image", "source": {"type": "base64", "media_type": i.media_type, "data": i.b64}} for i in m.images]
                out.append({"role": m.role, "content": images + ([{"type": "text", "text": m.content}] if m.content else [])})
            else:
                out.append({"role": m.role, "content": m.content})
        return out

    @staticmethod
    def tool_fields(request: ChatRequest) -> dict[str, Any]:
        if not request.tools:
            return {}
        fields: dict[str, Any] = {
            "tools": [{"name": t.name, **({"description": t.description} if t.description else {}), "input_schema": t.parameters} for t in request.tools]
        }
        choice = request.tool_choice
        kind = {"auto": "auto", "none": "none", "required": "any", "function": "tool"}[choice.mode] if choice else "auto"
        tool_choice: dict[str, Any] = {"type": kind}
        if choice is not None and choice.mode == "function":
            tool_choice["name"] = choice.name
        if request.parallel_tool_calls is False and kind != "none":
            tool_choice["disable_parallel_tool_use"] = True
        if choice is not None or "disable_parallel_tool_use" in tool_choice:
            fields["tool_choice"] = tool_choice
        return fields

    @staticmethod
    def json_fields(request: ChatRequest) -> dict[str, Any]:
        """``response_format`` as one forced tool: its input is the JSON answer."""
        fmt = request.response_format
        assert fmt is not None
        description = "Give your whole answer as this tool's input." + (f" {fmt.description}" if fmt.description else "")
        tool = {"name": JSON_TOOL, "description": description, "input_schema": fmt.schema or {"type": "object"}}
        return {"tools": [tool], "tool_choice": {"type": "tool", "name": JSON_TOOL}}

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": self.messages(request),
            **(self.json_fields(request) if request.response_format else self.tool_fields(request)),
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
        blocks = data.get("content") or []
        text = "".join(block.get("text", "") for block in blocks if block.get("type") == "text")
        calls = [
            ToolCall(str(b.get("id")), str(b.get("name")), json.dumps(b.get("input") or {}, separators=(",", ":")))
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        usage = data.get("usage") or {}
        finish = data.get("stop_reason")
        if request.response_format is not None:  # the forced tool's input is the answer
            text = next((c.arguments for c in calls if c.name == JSON_TOOL), text)
            calls, finish = [], "end_turn" if finish == "tool_use" else finish
        return Completion(text, finish, _usage(usage), tool_calls=calls)

    def stream(self, request: ChatRequest) -> Iterator[Delta | ToolCallDelta | Final]:
        response = self.open_stream(f"{self.base(request)}/v1/messages", self.body(request, stream=True), request.timeout)
        reported: dict[str, Any] = {}
        finish: str | None = None
        tool_index: dict[int, int] = {}  # Anthropic's content block index -> OpenAI's tool call index
        json_mode = request.response_format is not None
        try:
            for event, raw in iter_sse(response):
                data = decode_json(raw.encode())
                kind = data.get("type", event)
                if kind == "message_start":
                    reported.update((data.get("message") or {}).get("usage") or {})
                elif kind == "content_block_start":
                    block = data.get("content_block") or {}
                    if block.get("type") == "tool_use" and not json_mode:
                        tool_index[int(data.get("index") or 0)] = len(tool_index)
                        yield ToolCallDelta(tool_index[int(data.get("index") or 0)], str(block.get("id")), str(block.get("name")), "")
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text") and not json_mode:
                        yield Delta(delta["text"])
                    elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                        if json_mode:  # the forced tool's input is the answer's text
                            yield Delta(delta["partial_json"])
                        else:
                            yield ToolCallDelta(tool_index.get(int(data.get("index") or 0), 0), arguments=delta["partial_json"])
                elif kind == "message_delta":
                    finish = (data.get("delta") or {}).get("stop_reason") or finish
                    if json_mode and finish == "tool_use":
                        finish = "end_turn"
                    # Cumulative counts: output_tokens, and in newer streams the prompt's counts again.
                    reported.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
                elif kind == "message_stop":
                    yield Final(finish, _usage(reported))
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
