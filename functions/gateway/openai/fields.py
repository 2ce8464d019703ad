"""What every OpenAI endpoint family shares about its request fields.

A field OpenAI documents is accepted. At its default or ``null`` it changes
nothing; a value that would change the answer is honoured where the gateway
can, otherwise refused with a 400 naming it. Never dropped silently.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gateway.errors import invalid


class Strict(BaseModel):
    """A request part whose unknown fields are refused (a 400 naming them), never dropped."""

    model_config = ConfigDict(extra="forbid")


def _shown(value: Any) -> str:
    return "null" if value is None else repr(value).replace("False", "false").replace("True", "true").replace("'", '"')


def _same(value: Any, ok: Any) -> bool:
    """Equal and of the same kind: ``0`` is not ``false``, nor ``null`` an empty list."""
    return value == ok and isinstance(value, bool) == isinstance(ok, bool) and (value is None) == (ok is None)


def at_default(data: Any, fields: dict[str, tuple[Any, ...]], prefix: str = "") -> Any:
    """``data`` without the fields of ``fields`` that are at a harmless value; another value is a 400 naming the field."""
    if not isinstance(data, dict):
        return data
    kept = dict(data)
    for name, harmless in fields.items():
        if name not in kept:
            continue
        value = kept.pop(name)
        if not any(_same(value, ok) for ok in harmless):
            raise invalid(f"{prefix}{name}", f"not supported by this gateway except at {' or '.join(_shown(ok) for ok in harmless)}")
    return kept


def top_level(data: Any, ignored: frozenset[str], defaults: dict[str, tuple[Any, ...]]) -> Any:
    """A request body's top level as every streaming family reads it: ``ignored`` fields dropped, ``defaults`` checked
    (:func:`at_default`), ``stream: null`` the default, and ``stream_options`` only with ``stream: true`` (OpenAI's 400)."""
    if not isinstance(data, dict):
        return data
    kept = at_default({k: v for k, v in data.items() if k not in ignored}, defaults)
    if "stream" in kept and kept["stream"] is None:
        del kept["stream"]
    if kept.get("stream_options") is not None and not kept.get("stream"):
        raise invalid("stream_options", "only allowed when stream is true")
    return kept
