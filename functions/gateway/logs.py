"""Structured logs through ``firebase_functions.logger`` (Cloud Logging JSON).

Secret values registered with :func:`redact` are masked in every entry, so a
key that slips into a message or a field never reaches the log.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from firebase_functions import logger

PROMPT_PREFIX_CHARS = 32
_secrets: set[str] = set()
_lock = threading.Lock()


def redact(value: str) -> None:
    """Mask ``value`` in every later log entry (for keys loaded at run time)."""
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """``text`` with every registered secret masked (for error messages quoting a provider)."""
    for secret in tuple(_secrets):
        text = text.replace(secret, "[REDACTED]")
    return text


def prompt_prefix(text: str) -> str:
    """The most of a prompt a log may carry."""
    return text if len(text) <= PROMPT_PREFIX_CHARS else text[:PROMPT_PREFIX_CHARS] + "…"


def _write(severity: str, message: str, fields: dict[str, Any]) -> None:
    entry: dict[str, Any] = {"severity": severity, "message": message, **fields}
    if _secrets:
        entry = json.loads(scrub(json.dumps(entry, default=str, ensure_ascii=False)))
    logger.write(entry)  # type: ignore[arg-type]


def info(message: str, **fields: Any) -> None:
    _write("INFO", message, fields)


def warn(message: str, **fields: Any) -> None:
    _write("WARNING", message, fields)


def error(message: str, **fields: Any) -> None:
    _write("ERROR", message, fields)
