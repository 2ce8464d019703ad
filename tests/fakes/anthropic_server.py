"""Anthropic's Messages API: ``x-api-key``, ``anthropic-version``, typed SSE events, 529 overloaded."""

from __future__ import annotations

import json
from typing import Any

from fakes.upstream import FakeUpstream, limited, sse


class AnthropicServer(FakeUpstream):
    def key_of(self) -> str | None:
        return self.headers.get("x-api-key")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def route(self, method: str, path: str, body: dict[str, Any], fault: dict[str, Any]) -> None:
        if self.headers.get("anthropic-version") != "2023-06-01":
            self.send_json(400, self.error_body(400, "anthropic-version header is required"))
        elif method == "GET" and path == "/v1/models":
            self.send_json(200, {"data": [{"id": "claude-fake", "type": "model", "display_name": "Claude Fake"}], "has_more": False})
        elif method == "POST" and path == "/v1/messages":
            self.messages(body, fault)
        else:
            self.not_found()

    def counted(self, prompt: int, output: int) -> dict[str, Any]:
        """Anthropic's usage: cache reads and writes (``state["details"]``) beside ``input_tokens``, not in it."""
        cached, _, written = self.details()
        usage: dict[str, Any] = {"input_tokens": prompt, "output_tokens": output}
        if self.state.get("details"):
            usage.update({"cache_read_input_tokens": cached, "cache_creation_input_tokens": written})
        return usage

    def messages(self, body: dict[str, Any], fault: dict[str, Any]) -> None:
        if "max_tokens" not in body or any(m.get("role") == "system" for m in body.get("messages", [])):
            self.send_json(400, self.error_body(400, "max_tokens is required; system goes in the top-level field"))
            return
        last = (body.get("messages") or [{}])[-1]
        results = [b for b in last.get("content") or [] if isinstance(b, dict) and b.get("type") == "tool_result"] if isinstance(last.get("content"), list) else []
        answered = str(results[-1].get("content")) if results else None
        forced = body.get("tool_choice") or {}
        if forced.get("type") == "tool" and "json_reply" in self.state:  # structured output, as a forced tool
            self.tool_use(body, {"name": forced["name"], "arguments": self.state["json_reply"]})
            return
        if (call := self.tool_to_call(body, answered)) is not None:
            self.tool_use(body, call)
            return
        words = self.reply_words(f"Tool said: {answered}" if answered is not None else None)
        prompt = self.prompt_tokens(body)
        if not body.get("stream"):
            self.send_json(200, {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": "".join(words)}], "stop_reason": "end_turn",
                "usage": self.counted(prompt, len(words)),
            })
            return
        chunks = [
            sse({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "content": [], "usage": self.counted(prompt, 1)}}, "message_start"),
            sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start"),
            sse({"type": "ping"}, "ping"),
        ]
        for word in words:
            chunks.append(sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}, "content_block_delta"))
            if fault.get("stream_error") and len(chunks) == 5:
                chunks.append(sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error"))
                break
        else:
            chunks += [
                sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(words)}}, "message_delta"),
                sse({"type": "message_stop"}, "message_stop"),
            ]
        self.send_stream(limited(chunks, fault))

    def tool_use(self, body: dict[str, Any], call: dict[str, Any]) -> None:
        """A ``tool_use`` block after a little text; streamed as ``input_json_delta`` fragments."""
        prompt, arguments = self.prompt_tokens(body), json.dumps(call["arguments"])
        block = {"type": "tool_use", "id": "toolu_fake1", "name": call["name"], "input": call["arguments"]}
        if not body.get("stream"):
            self.send_json(200, {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": "Let me check."}, block], "stop_reason": "tool_use",
                "usage": self.counted(prompt, 7),
            })
            return
        chunks = [
            sse({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "content": [], "usage": self.counted(prompt, 1)}}, "message_start"),
            sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start"),
            sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}}, "content_block_delta"),
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse({"type": "content_block_start", "index": 1, "content_block": {**block, "input": {}}}, "content_block_start"),
        ]
        for piece in self.fragments(arguments):
            chunks.append(sse({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": piece}}, "content_block_delta"))
        chunks += [
            sse({"type": "content_block_stop", "index": 1}, "content_block_stop"),
            sse({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}, "message_delta"),
            sse({"type": "message_stop"}, "message_stop"),
        ]
        self.send_stream(iter(chunks))
