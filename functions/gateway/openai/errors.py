"""OpenAI's error shape: ``{"error": {"message", "type", "code", "param"}}``, ``param`` the field at fault."""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}
"""OpenAI's ``type`` per HTTP status; any other status is ``api_error``."""


def openai_error(err: GatewayError) -> dict[str, Any]:
    """``err`` in OpenAI's shape: the first field the gateway names is OpenAI's ``param``."""
    fields = err.details.get("fields") if isinstance(err.details, dict) else None
    param = fields[0]["field"] if fields else err.details.get("field")
    kind = ERROR_TYPES.get(err.status, "api_error")
    return {"error": {"message": err.message, "type": kind, "code": err.code.value.lower(), "param": param}}

ERROR_MODEL = "OpenAIErrorBody"
"""The answer model of these errors in the API description (``gateway.answers``)."""
