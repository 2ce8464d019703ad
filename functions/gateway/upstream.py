"""The one pooled ``httpx.Client`` every outbound call of an instance shares.

Its connections go through :mod:`gateway.dialer` (:mod:`gateway.outbound`'s checks), which refuses metadata,
link-local, loopback and private addresses after resolving the host; it
never follows redirects and ignores proxy environment variables (a proxy
would resolve the host where the check cannot see it).

The pool is sized to the instance's request threads (:func:`gateway.deploy.threads`,
``THREADS`` = the function's concurrency): each thread holds at most one
upstream connection at a time, and every one of them may stay open between
requests for :data:`KEEPALIVE_SECONDS`, so a busy instance reuses its TLS
connections instead of redoing DNS, TCP and TLS per request (httpx's defaults,
20 kept for 5 s, would make most of 80 threads reconnect). ``health``'s probe
threads (:data:`EXTRA_CONNECTIONS`) come on top.
"""

from __future__ import annotations

import threading

import httpx

CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 60.0
KEEPALIVE_SECONDS = 60.0
"""Longer than a quiet minute between requests; shorter than the idle timeouts of providers' front ends we know of (90 s and more)."""
EXTRA_CONNECTIONS = 16
"""``gateway.health``'s probe threads, which call out beside the request threads."""

_lock = threading.Lock()
_client: httpx.Client | None = None


def limits() -> httpx.Limits:
    """The pool's size, from the instance's threads."""
    from gateway import deploy

    threads = deploy.threads()
    return httpx.Limits(max_connections=threads + EXTRA_CONNECTIONS, max_keepalive_connections=threads + EXTRA_CONNECTIONS, keepalive_expiry=KEEPALIVE_SECONDS)


def client() -> httpx.Client:
    """Keep-alive connections are reused across requests on a warm instance."""
    global _client
    if _client is None:
        from gateway import dialer  # httpcore: only instances that call out import it

        with _lock:
            if _client is None:
                _client = httpx.Client(
                    timeout=httpx.Timeout(DEFAULT_READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
                    transport=dialer.transport(limits()),
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
