"""Gemini's Generative Language API: ``generateContent``, ``streamGenerateContent?alt=sse``, ``x-goog-api-key``."""

from __future__ import annotations

import json
from typing import Any

from fakes.upstream import FakeUpstream, limited, sse, vector


class GeminiServer(FakeUpstream):
    def key_of(self) -> str | None:
        return self.headers.get("x-goog-api-key")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": "UNAUTHENTICATED" if status == 401 else "UNAVAILABLE"}}

    def route(self, method: str, path: str, body: dict[str, Any], fault: dict[str, Any]) -> None:
        if method == "GET" and path.startswith("/v1beta/models"):
            self.send_json(200, {"models": [{"name": "models/gemini-fake", "displayName": "Gemini Fake"}]})
        elif method == "POST" and path.endswith(":batchEmbedContents"):
            self.embed(path, body)
        elif method == "POST" and (":generateContent" in path or (":streamGenerateContent" in path and "alt=sse" in path)):
            self.generate(body, fault, stream=":streamGenerateContent" in path)
        else:
            self.not_found()

    def embed(self, path: str, body: dict[str, Any]) -> None:
        """``models/{m}:batchEmbedContents``: every request names the same model; at most 100; no token counts."""
        model = path.split("/")[-1].split(":")[0]
        requests = body.get("requests") or []
        if len(requests) > 100 or any(r.get("model") != f"models/{model}" for r in requests):
            self.send_json(400, self.error_body(400, "requests: at most 100, each for the model in the URL"))
            return
        out = []
        for request in requests:
            text = "".join(p.get("text", "") for p in (request.get("content") or {}).get("parts") or [])
            out.append({"values": vector(text, self.embed_size(request.get("outputDimensionality")))})
        self.send_json(200, {"embeddings": out})

    def generate(self, body: dict[str, Any], fault: dict[str, Any], stream: bool) -> None:
        parts = ((body.get("contents") or [{}])[-1]).get("parts") or []
        results = [p["functionResponse"] for p in parts if "functionResponse" in p]
        answered = json.dumps(results[-1]["response"]) if results else None
        if (call := self.tool_to_call(body, answered)) is not None:
            # Gemini sends a call whole, in one chunk, and finishes with STOP.
            answer = self.answer("", "STOP", body, 7)
            answer["candidates"][0]["content"]["parts"] = [{"functionCall": {"name": call["name"], "args": call["arguments"]}}]
            if stream:
                self.send_stream(iter([sse(answer)]))
            else:
                self.send_json(200, answer)
            return
        asked = (body.get("generationConfig") or {}).get("responseMimeType") == "application/json"
        words = self.reply_words(f"Tool said: {answered}" if answered is not None else self.json_text(asked))
        if not stream:
            self.send_json(200, self.answer("".join(words), "STOP", body, len(words)))
        else:
            chunks = [sse(self.answer(w, None, body, i + 1)) for i, w in enumerate(words[:-1])]
            chunks.append(sse(self.answer(words[-1], "STOP", body, len(words))))
            self.send_stream(limited(chunks, fault))

    def answer(self, text: str, finish: str | None, body: dict[str, Any], completion: int) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        cached, thoughts, _ = self.details()
        prompt = self.prompt_tokens(body) + cached  # the cached content is part of the prompt's count
        meta: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion + thoughts}
        if self.state.get("details"):  # thoughts are billed as output but counted beside the candidates
            meta.update({"cachedContentTokenCount": cached, "thoughtsTokenCount": thoughts})
        return {"candidates": [candidate], "usageMetadata": meta}
