"""OpenAI's chat completions API (also OpenRouter and Hugging Face's router, by switches).

``state["flavor"]``: ``openai`` (default), ``openrouter`` (keep-alive comments,
``usage.cost``, errors inside a 200 stream) or ``huggingface``.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

from fakes.images import make, noise
from fakes.upstream import FakeUpstream, limited, sse, vector


class OpenAIServer(FakeUpstream):
    def route(self, method: str, path: str, body: dict[str, Any], fault: dict[str, Any]) -> None:
        path = path.split("?")[0]
        if method == "GET" and path.endswith("/models"):
            models: list[dict[str, Any]] = [{"id": "fake-model", "object": "model", "owned_by": "fake"}, {"id": "fake-model-large", "object": "model", "owned_by": "fake"}]
            if self.state.get("flavor") == "openrouter":
                for model in models:
                    model.update({"name": model["id"].title(), "context_length": 128000, "pricing": {"prompt": "0.00000015", "completion": "0.0000006"}})
            self.send_json(200, {"object": "list", "data": models})
        elif method == "POST" and path.endswith("/chat/completions") and body.get("modalities"):
            self.image_chat(body, fault)
        elif method == "POST" and path.endswith("/chat/completions"):
            self.chat(body, fault)
        elif method == "POST" and path.endswith("/images/generations"):
            self.images(body, fault)
        elif method == "POST" and path.endswith("/embeddings"):
            self.embeddings(body)
        else:
            self.not_found()

    def embeddings(self, body: dict[str, Any]) -> None:
        """``/embeddings``: ``input`` a string, strings or token ids; ``dimensions``; float or base64 (little-endian float32)."""
        given = body.get("input")
        inputs = [given] if isinstance(given, str) or (isinstance(given, list) and given and isinstance(given[0], int)) else given
        if not isinstance(inputs, list) or not inputs:
            self.send_json(400, self.error_body(400, "'input' is required"))
            return
        size = self.embed_size(body.get("dimensions"))
        data = []
        for index, item in enumerate(inputs):
            values = vector(item, size)
            encoded: Any = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode() if body.get("encoding_format") == "base64" else values
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(i) if isinstance(i, list) else len(str(i).split()) for i in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self.send_json(200, {"object": "list", "data": data[::-1], "model": body.get("model"), "usage": usage})  # out of order: clients sort by index

    def usage(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The answer's usage; ``state["usage"]``: ``"none"`` (a provider that says nothing) or the object to send instead."""
        override = self.state.get("usage")
        if override == "none":
            return None
        if isinstance(override, dict):
            return override
        return self.counted(self.prompt_tokens(body), len(self.reply_words()))

    def counted(self, prompt: int, completion: int) -> dict[str, Any]:
        """OpenAI's usage object; cache hits and reasoning (``state["details"]``) are parts of its two counts."""
        cached, reasoning, _ = self.details()
        prompt, completion = prompt + cached, completion + reasoning
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        if self.state.get("details"):
            usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        if self.state.get("flavor") == "openrouter":
            usage["cost"] = 0.000123
        return usage

    def finish(self) -> str:
        """``state["finish_reason"]``, else ``stop`` (``length`` says the answer was cut at max_tokens)."""
        return str(self.state.get("finish_reason", "stop"))

    def chat(self, body: dict[str, Any], fault: dict[str, Any]) -> None:
        messages = body.get("messages") or []
        answered = messages[-1].get("content") if messages and messages[-1].get("role") == "tool" else None
        if (call := self.tool_to_call(body, answered)) is not None:
            self.tool_chat(body, call)
            return
        self.reply_override = f"Tool said: {answered}" if answered is not None else self.json_text("response_format" in body)
        created = int(time.time())
        if not body.get("stream"):
            self.send_json(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": created,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(self.reply_words())}, "finish_reason": self.finish()}],
                    **({"usage": usage} if (usage := self.usage(body)) is not None else {}),
                },
            )
            return
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": body.get("model")}
        chunks: list[bytes] = []
        if self.state.get("flavor") == "openrouter":
            chunks.append(b": OPENROUTER PROCESSING\n\n")
        chunks.append(sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}))
        for word in self.reply_words():
            chunks.append(sse({**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}))
            if fault.get("stream_error") and len(chunks) == 3:
                chunks.append(sse({"error": {"code": 502, "message": "upstream model crashed"}}))
                break
        else:
            chunks.append(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": self.finish()}]}))
            asked = (body.get("stream_options") or {}).get("include_usage") or self.state.get("flavor") == "openrouter"
            if asked and (usage := self.usage(body)) is not None:
                chunks.append(sse({**base, "choices": [], "usage": usage}))
            chunks.append(sse("[DONE]"))
        self.send_stream(limited(chunks, fault))

    def tool_chat(self, body: dict[str, Any], call: dict[str, Any]) -> None:
        """A tool call in OpenAI's shape; streamed with the arguments in fragments."""
        arguments = call["arguments"] if isinstance(call["arguments"], str) else json.dumps(call["arguments"])  # text: sent as is (cut short)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": body.get("model")}
        usage = self.counted(self.prompt_tokens(body), 7)
        usage.pop("cost", None)
        if not body.get("stream"):
            message = {"role": "assistant", "content": None, "tool_calls": [{"id": "call_fake1", "type": "function", "function": {"name": call["name"], "arguments": arguments}}]}
            self.send_json(200, {**base, "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}], "usage": usage})
            return
        first = {"index": 0, "id": "call_fake1", "type": "function", "function": {"name": call["name"], "arguments": ""}}
        chunks = [sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": None, "tool_calls": [first]}, "finish_reason": None}]})]
        for piece in self.fragments(arguments):
            chunks.append(sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, "finish_reason": None}]}))
        chunks.append(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}))
        chunks.append(sse({**base, "choices": [], "usage": usage}))
        chunks.append(sse("[DONE]"))
        self.send_stream(iter(chunks))

    def _image(self, width: int, height: int, fault: dict[str, Any]) -> bytes:
        data = (noise if self.state.get("noise") else make)(width, height, self.state.get("format", "png"))
        if fault.get("truncated"):
            data = data[: len(data) // 2]
        if fault.get("not_image"):
            data = b"not an image at all"
        self.state.setdefault("sent", []).append(data)
        return data

    def images(self, body: dict[str, Any], fault: dict[str, Any]) -> None:
        """OpenAI's ``/images/generations`` with ``response_format: b64_json``."""
        width, height = (int(v) for v in str(body.get("size", "512x512")).split("x"))
        count = int(body.get("n", 1))
        items = [{"b64_json": base64.b64encode(self._image(width, height, fault)).decode()} for _ in range(count)]
        self.send_json(200, {"created": int(time.time()), "data": items})

    def image_chat(self, body: dict[str, Any], fault: dict[str, Any]) -> None:
        """OpenRouter's image output: images as data URLs inside the assistant message."""
        url = "data:image/png;base64," + base64.b64encode(self._image(512, 512, fault)).decode()
        message = {"role": "assistant", "content": "", "images": [{"type": "image_url", "image_url": {"url": url}}]}
        self.send_json(200, {"id": "gen-fake", "object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
