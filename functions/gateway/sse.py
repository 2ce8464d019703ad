"""Server-sent events for ``generate_text`` and ``openai``: ``data: {...}`` chunks, a final record, ``[DONE]``.

Every payload is one JSON line. JSON is written with ``ensure_ascii=False``
(model text stays readable and small), which leaves U+2028, U+2029 and U+0085
raw inside strings; clients that split lines with ``str.splitlines()`` or
``iter_lines()`` break there, and model output holding ``\\u2028data: [DONE]``
would read as an event of its own. Those three are written as ``\\uXXXX``
escapes (still the same JSON); every other line break is a control character
``json.dumps`` escapes already.
"""

from __future__ import annotations

import json
from typing import Any

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
KEEP_ALIVE = ": keep-alive\n\n"
DONE = "data: [DONE]\n\n"

LINE_BREAKS = ("\u2028", "\u2029", "\x85")
"""The characters ``str.splitlines()`` splits on that ``json.dumps(ensure_ascii=False)`` leaves raw."""


def _escaped(text: str) -> str:
    for char in LINE_BREAKS:
        text = text.replace(char, f"\\u{ord(char):04x}")  # only ever inside a JSON string, so still the same JSON
    return text


def data(payload: Any) -> str:
    """One ``data:`` event: a JSON line no line splitter can cut."""
    return f"data: {_escaped(json.dumps(payload, separators=(',', ':'), ensure_ascii=False))}\n\n"


def event(name: str, payload: Any) -> str:
    return f"event: {name}\n{data(payload)}"
