"""The field path of a pydantic error: its ``loc`` without the tags pydantic adds for union members.

Pydantic puts a member's tag in ``loc`` when a value may be one of several
types (``tool_choice.literal['auto','none','required']``,
``response_format.json_schema.json_schema.name``, ``stop.list[str]``). A
caller, and OpenAI's ``param``, needs the path of the field in the request it
sent, so the model's own types are walked along ``loc`` and every tag is dropped.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Tag

_UNKNOWN = object()
"""A type this walk cannot follow: the rest of ``loc`` is kept as it is."""


def field_path(model: type[BaseModel], loc: Sequence[int | str]) -> list[int | str]:
    """``loc`` as the path of the field in the request body (union member tags dropped); ``loc`` itself if the walk fails."""
    try:
        return _walk(model, loc)
    except Exception:  # a type this walk does not know must not turn a 400 into a 500
        return list(loc)


def _walk(model: type[BaseModel], loc: Sequence[int | str]) -> list[int | str]:
    path: list[int | str] = []
    current: Any = model
    for item in loc:
        current = _unwrapped(current)
        members = _union_members(current)
        if members is not None and len(members) > 1:  # this item is the tag of the member that failed
            current = _member(members, item)
            continue
        path.append(item)
        current = _child(current, item)
    return path


def _unwrapped(tp: Any) -> Any:
    """``tp`` without ``Annotated`` metadata and without ``None`` in a union (pydantic treats that as nullable, with no tag)."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    members = _union_members(tp)
    if members is not None:
        kept = [m for m in members if m is not type(None)]
        if len(kept) == 1:
            return _unwrapped(kept[0])
    return tp


def _union_members(tp: Any) -> list[Any] | None:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for m in typing.get_args(tp) if m is not type(None)]
    return None


def _tags(member: Any) -> set[str]:
    """What pydantic may call ``member`` in ``loc``: its ``Tag``, its discriminator values, or its type's name."""
    tags: set[str] = set()
    if typing.get_origin(member) is typing.Annotated:
        tags |= {m.tag for m in typing.get_args(member)[1:] if isinstance(m, Tag)}
    inner = _unwrapped(member)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        tags.add(inner.__name__)
        for field in inner.model_fields.values():
            if typing.get_origin(field.annotation) is typing.Literal:
                tags |= {str(v) for v in typing.get_args(field.annotation)}
    elif isinstance(inner, type):
        tags.add(inner.__name__)
    else:
        origin = typing.get_origin(inner)
        name = getattr(origin, "__name__", None) or getattr(inner, "__name__", None)
        if origin is typing.Literal:
            name = "literal"
        if name:
            tags.add(name.lower())
    return tags


def _member(members: list[Any], tag: Any) -> Any:
    """The member ``tag`` names; unknown when none is sure."""
    text = str(tag)
    named = [m for m in members if text in _tags(m)]
    if len(named) == 1:
        return named[0]
    prefixed = [m for m in members if any(text.startswith(f"{t}[") for t in _tags(m))]
    if len(prefixed) == 1:
        return prefixed[0]
    if text.startswith("tagged-union[") or text.startswith("function-"):
        return typing.Union[tuple(members)]  # noqa: UP007 - a nested union: its own tag comes next
    return _UNKNOWN


def _child(tp: Any, item: int | str) -> Any:
    """The type at ``item`` inside ``tp``: a model's field (by name or alias), a list's items, a dict's values."""
    if tp is _UNKNOWN:
        return _UNKNOWN
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if item in (name, field.alias):
                return field.annotation
        return _UNKNOWN
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple, set, frozenset) and isinstance(item, int) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return _UNKNOWN
