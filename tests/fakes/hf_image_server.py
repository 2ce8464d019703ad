"""Hugging Face's hf-inference: text-to-image ``POST /hf-inference/models/{model}`` -> raw image bytes;
feature extraction ``POST /hf-inference/models/{model}/pipeline/feature-extraction`` -> one vector per input.

Extra faults: ``{"json_error_200": True}`` (a JSON error with status 200),
``{"truncated": True}`` (half an image), ``{"not_image": True}`` (bytes that
are no image). ``state["format"]``: png (default), jpeg or webp.
"""

from __future__ import annotations

from typing import Any

from fakes.images import make
from fakes.upstream import FakeUpstream, vector

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class HFImageServer(FakeUpstream):
    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}

    def route(self, method: str, path: str, body: dict[str, Any], fault: dict[str, Any]) -> None:
        if method != "POST" or not path.startswith("/hf-inference/models/"):
            self.not_found()
            return
        if path.endswith("/pipeline/feature-extraction"):
            inputs = body.get("inputs")
            if set(body) - {"inputs", "normalize", "truncate", "prompt_name", "truncation_direction"}:
                self.send_json(400, {"error": f"unknown parameters: {sorted(body)}"})
                return
            self.send_json(200, [vector(i) for i in inputs] if isinstance(inputs, list) else vector(inputs))
            return
        if not isinstance(body.get("inputs"), str):
            self.send_json(400, {"error": "inputs must be a string"})
            return
        if fault.get("json_error_200"):
            self.send_json(200, {"error": "CUDA out of memory"})
            return
        params = body.get("parameters") or {}
        fmt = self.state.get("format", "png")
        data = make(int(params.get("width", 512)), int(params.get("height", 512)), fmt, colour=(params.get("seed", 0) % 256, 90, 160))
        content_type = CONTENT_TYPES[fmt]
        if fault.get("truncated"):
            data = data[: len(data) // 2]
        if fault.get("not_image"):
            data, content_type = b"this is definitely not an image", "image/png"
        self.state.setdefault("sent", []).append(data)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
