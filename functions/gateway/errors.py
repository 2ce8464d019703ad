"""One error type, one code table, one JSON shape.

Every failure the gateway reports to a client is a :class:`GatewayError`; the
edge (``gateway.http``) turns it into
``{"error": {"code", "message", "details"}}`` with the status from
:data:`STATUS`. What only an admin may read (names of secrets, the project,
IAM roles) goes in ``admin_message``/``admin_details``: the edge shows it to
admins and logs it with the request id; everyone else sees ``message``. Anything else that escapes a handler is logged and answered
``INTERNAL`` so internals never leak.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(str, enum.Enum):
    """The codes a client can see. The HTTP status of each is in :data:`STATUS`."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    PROVIDER_BAD_REQUEST = "PROVIDER_BAD_REQUEST"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    INTERNAL = "INTERNAL"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    PROVIDER_AUTH = "PROVIDER_AUTH"
    UNAVAILABLE = "UNAVAILABLE"
    PROVIDER_TIMEOUT = "PROVIDER_TIMEOUT"


STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.PROVIDER_BAD_REQUEST: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.PROVIDER_ERROR: 502,
    ErrorCode.PROVIDER_AUTH: 502,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.PROVIDER_TIMEOUT: 504,
}


class GatewayError(Exception):
    """A failure the client is meant to see, with its code, message and details."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        admin_message: str | None = None,
        admin_details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        self.admin_message = admin_message
        """The whole story (a secret's name, the project, the IAM role to grant): for admins and the logs only."""
        self.admin_details = admin_details or {}

    def for_caller(self, admin: bool, request_id: str) -> GatewayError:
        """This error as the caller may see it: an admin gets the whole story, anyone else a pointer to the logs."""
        if self.admin_message is None:
            return self
        if admin:
            return GatewayError(self.code, self.admin_message, {**self.details, **self.admin_details}, self.headers)
        message = f"{self.message}; an admin can find why in the logs under request id {request_id}"
        return GatewayError(self.code, message, self.details, self.headers)

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code.value, "message": self.message, "details": self.details}}


def invalid(field: str, message: str) -> GatewayError:
    """A 400 that names the offending field, the shape every validation error takes."""
    return GatewayError(
        ErrorCode.INVALID_ARGUMENT,
        f"{field}: {message}",
        {"fields": [{"field": field, "message": message}]},
    )


def busy(what: str, seconds: int, details: dict[str, Any] | None = None) -> GatewayError:
    """503 for an instance too busy with ``what`` right now: another instance, or this one shortly, has room."""
    return GatewayError(
        ErrorCode.UNAVAILABLE,
        f"This instance is busy with {what}; try again in {seconds} s.",
        {**(details or {}), "retryAfterSeconds": seconds},
        headers={"Retry-After": str(seconds)},
    )


def internal(request_id: str) -> GatewayError:
    """What a client sees of an unexpected failure: a request id to quote, nothing more."""
    return GatewayError(ErrorCode.INTERNAL, f"Internal error; quote request id {request_id}")
