"""Ollama's native API: ``/api/chat`` (NDJSON stream), ``/api/tags``, ``/api/version``."""

from __future__ import annotations

import json
from typing import Any

from fakes.upstream import FakeUpstream, limited, vector


class OllamaServer(FakeUpstream):
    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}

    def route(self, method: str, path: str, body: dict[str, Any], fault: dict[str, Any]) -> None:
        if method == "GET" and path == "/api/version":
            self.send_json(200, {"version": "0.12.0"})
        elif method == "GET" and path == "/api/tags":
            self.send_json(200, {"models": [{"name": "llama3.2:latest", "size": 1, "details": {"family": "llama"}}]})
        elif method == "POST" and path == "/api/embed":
            inputs = body.get("input") if isinstance(body.get("input"), list) else [body.get("input")]
            vectors = [vector(i, self.embed_size(body.get("dimensions"))) for i in inputs]
            tokens = sum(len(str(i).split()) for i in inputs)
            self.send_json(200, {"model": body.get("model"), "embeddings": vectors, "total_duration": 123, "prompt_eval_count": tokens})
        elif method == "POST" and path == "/api/chat":
            self.chat(body, fault)
        else:
            self.not_found()

    def chat(self, body: dict[str, Any], fault: dict[str, Any]) -> None:
        messages = body.get("messages") or []
        answered = messages[-1].get("content") if messages and messages[-1].get("role") == "tool" else None
        if (call := self.tool_to_call(body, answered)) is not None:
            # Ollama: structured arguments, no call id, the whole call in one chunk.
            message = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": call["name"], "arguments": call["arguments"]}}]}
            done = {"model": body.get("model"), "done": True, "done_reason": "stop", "prompt_eval_count": self.prompt_tokens(body), "eval_count": 7}
            if body.get("stream") is False:
                self.send_json(200, {**done, "message": message})
            else:
                lines = [json.dumps({"model": body.get("model"), "message": message, "done": False}).encode() + b"\n"]
                lines.append(json.dumps({**done, "message": {"role": "assistant", "content": ""}}).encode() + b"\n")
                self.send_stream(iter(lines), content_type="application/x-ndjson")
            return
        words = self.reply_words(f"Tool said: {answered}" if answered is not None else self.json_text("format" in body))
        final = {"model": body.get("model"), "done": True, "done_reason": "stop", "total_duration": 123, "prompt_eval_count": self.prompt_tokens(body), "eval_count": len(words)}
        if body.get("stream") is False:
            self.send_json(200, {**final, "message": {"role": "assistant", "content": "".join(words)}})
            return
        lines = [json.dumps({"model": body.get("model"), "message": {"role": "assistant", "content": w}, "done": False}).encode() + b"\n" for w in words]
        lines.append(json.dumps({**final, "message": {"role": "assistant", "content": ""}}).encode() + b"\n")
        self.send_stream(limited(lines, fault), content_type="application/x-ndjson")
