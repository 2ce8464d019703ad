"""JSON decoding with a nesting limit, for every text a client, a provider or a model sends.

Python's decoder recurses once per level: 50,000 nested brackets (300 KB)
raise ``RecursionError``, which is no ``ValueError`` and so escaped every
``except ValueError`` as a 500. Depth under the interpreter's limit is not
safe either: later code recurses on the value again (the encoder, jsonschema,
Firestore's converter) on a worker thread whose stack is smaller than the main
thread's. So the depth is measured on the text before it is parsed, at C
speed (strings cut out by one regular expression, then ``bytes.translate``
and ``accumulate``: about 0.1 s for the worst megabyte, less than parsing it), and anything deeper than
:data:`MAX_DEPTH` is a :class:`TooDeep`, a ``ValueError`` like any other bad JSON.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted; a request's deepest part (a tool's JSON schema) needs far less."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.S)
"""A JSON string, or an unterminated one up to the end: every match attempt from a quote succeeds, so the scan stays linear."""
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = tuple(1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256))


class TooDeep(ValueError):
    """JSON nested deeper than allowed."""


def depth(text: str) -> int:
    """How deep the arrays and objects of ``text`` nest (brackets inside strings do not count)."""
    brackets = _STRING.sub("", text).encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises :class:`TooDeep` (a ``ValueError``) past ``max_depth``, never ``RecursionError``."""
    text = bytes(data).decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, bytes | bytearray) else data
    if text.count("[") + text.count("{") > max_depth and depth(text) > max_depth:
        raise TooDeep(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:  # unreachable after the scan above; kept so no input can ever turn into a 500
        raise TooDeep(f"nested deeper than {max_depth} levels") from None
