"""The connect-time half of :mod:`gateway.outbound`: httpcore's backend with every address checked.

Its own module so that only an instance that calls out pays for importing
httpcore (~18 ms of a cold start): ``models``, ``usage`` and the admin APIs
never build the shared client (:func:`gateway.upstream.client`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from gateway.outbound import IPAddress, Refused, check_address, is_metadata


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, with every connection's addresses checked before the socket opens."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._backend.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} did not resolve")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise BlockedError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class BlockedError(httpcore.ConnectError):
    """A connection refused by policy; httpx re-raises it as ``ConnectError`` ``from`` this."""


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, all checked: one refused address refuses the host."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        if is_metadata(host):
            raise BlockedError(f"{host} is a metadata server")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} did not resolve ({exc})") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    for address in addresses:
        try:
            check_address(host, address)
        except Refused as exc:
            raise BlockedError(str(exc)) from None
    return addresses


def blocked_reason(exc: BaseException) -> str | None:
    """The policy refusal behind an httpx transport error, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BlockedError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose connections go through :class:`GuardedBackend`.

    httpx has no public hook for httpcore's network backend, so the pool
    httpx built is replaced by one with the same settings and our backend
    (tests/test_outbound.py fails if a new httpx changes this).
    """
    ssl_context = httpx.create_ssl_context(trust_env=False)  # one (loading the CA bundle takes ~15 ms), shared
    guarded = httpx.HTTPTransport(verify=ssl_context, limits=limits, trust_env=False)
    guarded._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(),
    )
    return guarded
