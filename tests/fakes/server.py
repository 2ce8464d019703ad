"""A threaded HTTP server on a free loopback port, started and stopped by fixtures."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # a burst of connections (concurrency tests) must not overflow the listen backlog (5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return  # the client (a worker a test killed) went away mid-answer
        super().handle_error(request, client_address)


class FakeServer:
    """Serves ``handler`` on 127.0.0.1; ``state`` is shared with the handler as ``self.server.state``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], **state: Any) -> None:
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.state = dict(state)  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def state(self) -> dict[str, Any]:
        return self.httpd.state  # type: ignore[attr-defined,no-any-return]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """A fake Google API endpoint: quiet, keep-alive, ``self.state`` shared with the test, JSON answers."""

    protocol_version = "HTTP/1.1"
    content_type = "application/json"

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def state(self) -> dict[str, Any]:
        return self.server.state  # type: ignore[attr-defined,no-any-return]

    def send_json(self, status: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
