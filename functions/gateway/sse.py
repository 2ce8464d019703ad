"""Server-sent events for ``generate_text``: ``data: {"content"}`` chunks, a final record, ``[DONE]``."""

from __future__ import annotations

import json
from typing import Any

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
KEEP_ALIVE = ": keep-alive\n\n"
DONE = "data: [DONE]\n\n"


def data(payload: Any) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n"


def event(name: str, payload: Any) -> str:
    return f"event: {name}\n{data(payload)}"
