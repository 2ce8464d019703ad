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
