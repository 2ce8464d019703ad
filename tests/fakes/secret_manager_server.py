"""Secret Manager's REST API as it answers when something is wrong (and, in mode ``ok``, when it is not).

``state["mode"]``:

- ``disabled``: 403 ``PERMISSION_DENIED`` with an ``ErrorInfo`` detail whose
  reason is ``SERVICE_DISABLED``, as Google answers when the API is off;
- ``denied``: a plain 403 ``PERMISSION_DENIED`` (the service account lacks the role);
- ``unusable``: 400 ``FAILED_PRECONDITION`` (the latest version is disabled);
- ``unavailable``: 503 ``UNAVAILABLE``;
- ``ok``: ``versions/*:access`` answers ``state["value"]``.

Every request is appended to ``state["requests"]`` as ``(method, path)``.
"""

from __future__ import annotations

import base64
from typing import Any

from fakes.server import JsonHandler

PROJECT_NUMBER = "123456789012"


def _error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def failure(mode: str, resource: str) -> tuple[int, dict[str, Any]]:
    if mode == "disabled":
        message = (
            f"Secret Manager API has not been used in project {PROJECT_NUMBER} before or it is disabled. Enable it by visiting "
            f"https://console.developers.google.com/apis/api/secretmanager.googleapis.com/overview?project={PROJECT_NUMBER} then retry. "
            "If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
        )
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {"consumer": f"projects/{PROJECT_NUMBER}", "service": "secretmanager.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": "https://console.developers.google.com/apis/api/secretmanager.googleapis.com/overview"}],
            },
        ]
        return 403, _error(403, "PERMISSION_DENIED", message, details)
    if mode == "denied":
        return 403, _error(403, "PERMISSION_DENIED", f"Permission 'secretmanager.versions.access' denied for resource '{resource}' (or it may not exist).")
    if mode == "unusable":
        return 400, _error(400, "FAILED_PRECONDITION", f"{resource} is in DISABLED state.")
    return 503, _error(503, "UNAVAILABLE", "The service is currently unavailable.")


class SecretManagerServer(JsonHandler):
    content_type = "application/json; charset=UTF-8"

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        self.state.setdefault("requests", []).append((method, path))
        resource = path.removeprefix("/v1/").removesuffix(":access")
        mode = self.state.get("mode", "unavailable")
        if mode == "ok" and method == "GET" and path.endswith(":access"):
            data = base64.b64encode(str(self.state["value"]).encode()).decode()
            self.send_json(200, {"name": resource, "payload": {"data": data}})
            return
        self.send_json(*failure(mode, resource))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")
