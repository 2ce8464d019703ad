"""A provider endpoint for health probes: answers, fails with 5xx, or hangs."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler


class ProbeTarget(BaseHTTPRequestHandler):
    """``state['mode']``: ``ok`` (200 model list), ``error`` (503) or ``hang`` (sleeps ``hang_seconds``)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        state["hits"] = state.get("hits", 0) + 1
        mode = state.get("mode", "ok")
        if mode == "hang":
            time.sleep(state.get("hang_seconds", 10))
        status = 503 if mode == "error" else 200
        body = json.dumps({"object": "list", "data": []} if status == 200 else {"error": "down"}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
