"""The one pooled ``httpx.Client`` every outbound call of an instance shares.

Its connections go through :mod:`gateway.dialer` (:mod:`gateway.outbound`'s checks), which refuses metadata,
link-local, loopback and private addresses after resolving the host; it
never follows redirects and ignores proxy environment variables (a proxy
would resolve the host where the check cannot see it).
"""

from __future__ import annotations

import threading

import httpx

CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 60.0

_lock = threading.Lock()
_client: httpx.Client | None = None


def client() -> httpx.Client:
    """Keep-alive connections are reused across requests on a warm instance."""
    global _client
    if _client is None:
        from gateway import dialer  # httpcore: only instances that call out import it

        with _lock:
            if _client is None:
                _client = httpx.Client(
                    timeout=httpx.Timeout(DEFAULT_READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
                    transport=dialer.transport(httpx.Limits(max_connections=100, max_keepalive_connections=20)),
                    follow_redirects=False,
                    trust_env=False,
                )
    return _client


def close() -> None:
    """Close the pooled connections (tests, shutdown)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
            _client = None
