"""What every Python client script of the client matrix shares: the stack's address from the environment, and the report.

Each script runs its client against the running stack (tests/test_client_matrix.py starts it) and prints one JSON line
per feature: ``{"client", "feature", "ok", "detail", "seconds"}``. A feature is a function that raises when the client does not
get what a user expects; what it returns is the detail of a pass.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

BASE_URL = os.environ["GW_BASE_URL"]  # the openai function's /v1
TOKEN = os.environ["GW_TOKEN"]  # a Firebase ID token (role user)
MODEL = os.environ["GW_MODEL"]  # a chat model with tools and vision, on the fake provider
LIMITED_MODEL = os.environ["GW_LIMITED_MODEL"]  # a model whose provider answers every request 429
EMBED_MODEL = os.environ["GW_EMBED_MODEL"]
IMAGE_B64 = os.environ["GW_IMAGE_B64"]  # a small PNG
IMAGE_BYTES = base64.b64decode(IMAGE_B64)
IMAGE_URL = f"data:image/png;base64,{IMAGE_B64}"
REPLY = os.environ["GW_REPLY"]  # what the fake provider answers
CITY = json.loads(os.environ["GW_CITY"])  # the structured answer the fake gives
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False},
    },
}
TOOL_RESULT = "sunny"
TOOL_ANSWER = f"Tool said: {TOOL_RESULT}"  # the fake's answer once the tool's result comes back


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status a client's exception carries, whatever the client calls it."""
    for name in ("status_code", "status", "code"):
        value = getattr(exc, name, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def expect_status(call: Callable[[], Any], status: int) -> str:
    """``call`` must fail with ``status`` (the client's own error type, as its users catch it)."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - each client has its own error classes
        got = status_of(exc)
        if got is None and exc.__cause__ is not None:
            got = status_of(exc.__cause__)
        expect(got == status, f"expected HTTP {status}, got {type(exc).__name__} {got}: {str(exc)[:200]}")
        return type(exc).__name__
    raise AssertionError(f"expected HTTP {status}, the call succeeded")


def run(client: str, features: dict[str, Callable[[], Any]]) -> None:
    """Run each feature; one JSON line each, whatever happens (a crash is that feature's failure)."""
    for feature, check in features.items():
        started = time.monotonic()
        try:
            detail = check()
            line = {"client": client, "feature": feature, "ok": True, "detail": str(detail or "")[:300]}
        except BaseException as exc:  # noqa: BLE001 - every failure is a cell of the matrix
            if isinstance(exc, KeyboardInterrupt):
                raise
            where = traceback.extract_tb(exc.__traceback__)[-1]
            line = {"client": client, "feature": feature, "ok": False, "detail": f"{type(exc).__name__}: {str(exc)[:400]} (at {os.path.basename(where.filename)}:{where.lineno})"}
        print(json.dumps({**line, "seconds": round(time.monotonic() - started, 2)}), flush=True)
    sys.stdout.flush()
