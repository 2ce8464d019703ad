"""Structured logs for Cloud Logging: one JSON object per line on stdout (stderr for errors).

Secret values registered with :func:`redact` are masked in every entry, so a
key that slips into a message or a field never reaches the log.

Each entry carries the request's trace (``logging.googleapis.com/trace`` and
``spanId``, from the ``X-Cloud-Trace-Context`` or ``traceparent`` header Cloud
Run passes on), so Logs Explorer groups an instance's lines under the request
that caused them. :func:`bind` is called once per request, in the thread that
serves it; a stream's generator runs in that same thread after the handler
returned (and after Flask's request context is gone), so a context variable,
not ``flask.request``, carries the trace there.

An entry is written with one ``write`` call, its newline included, under a
lock: ``print`` writes the text and the newline separately, and with up to
``THREADS`` threads logging at once two entries could share a line, which
Cloud Logging then keeps as one unparsed text line.
"""

from __future__ import annotations

import contextvars
import json
import re
import sys
import threading
from typing import Any, TextIO

PROMPT_PREFIX_CHARS = 32
TRACE = "logging.googleapis.com/trace"
SPAN = "logging.googleapis.com/spanId"
SAMPLED = "logging.googleapis.com/trace_sampled"
_secrets: set[str] = set()
_lock = threading.Lock()
_write_lock = threading.Lock()
_trace: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("gateway_trace", default=None)
_CLOUD = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([01]))?$")
_W3C = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


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


def trace_fields(headers: Any, project: str) -> dict[str, Any]:
    """Cloud Logging's trace fields for a request's headers; empty without a (valid) trace header or project."""
    if not project:
        return {}
    cloud = _CLOUD.match((headers.get("X-Cloud-Trace-Context") or "").strip())
    if cloud:
        trace, span, sampled = cloud.groups()
        span_hex = format(int(span), "016x") if span and int(span) < 1 << 64 else None  # Cloud Logging wants 16 hex digits
        fields: dict[str, Any] = {TRACE: f"projects/{project}/traces/{trace.lower()}"}
        if span_hex:
            fields[SPAN] = span_hex
        if sampled is not None:
            fields[SAMPLED] = sampled == "1"
        return fields
    w3c = _W3C.match((headers.get("traceparent") or "").strip())
    if w3c:
        trace, span, flags = w3c.groups()
        return {TRACE: f"projects/{project}/traces/{trace}", SPAN: span, SAMPLED: bool(int(flags, 16) & 1)}
    return {}


def bind(headers: Any) -> None:
    """Attach the trace of the request being served (its headers) to every entry this thread writes until the next."""
    from gateway import firebase

    _trace.set(trace_fields(headers, firebase.project_id()) or None)


def _stream(severity: str) -> TextIO:
    return sys.stderr if severity == "ERROR" else sys.stdout


def _write(severity: str, message: str, fields: dict[str, Any]) -> None:
    entry: dict[str, Any] = {"severity": severity, "message": message, **fields, **(_trace.get() or {})}
    line = json.dumps(entry, default=str)  # ASCII: whatever encoding the stream has
    if _secrets:
        line = scrub(line)
    stream = _stream(severity)
    with _write_lock:
        stream.write(line + "\n")  # one call: an entry and its newline never part
        stream.flush()


def info(message: str, **fields: Any) -> None:
    _write("INFO", message, fields)


def warn(message: str, **fields: Any) -> None:
    _write("WARNING", message, fields)


def error(message: str, **fields: Any) -> None:
    _write("ERROR", message, fields)
