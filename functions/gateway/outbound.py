"""Where the gateway may send a request: the one place that decides.

Provider URLs come from Firestore documents an admin (or anyone who got
console access) typed, so they are untrusted. In production the obvious
target is the metadata server (``169.254.169.254``), which hands out the
service account's tokens; close behind are loopback and the VPC's private
ranges. Two checks, both here:

- :func:`check_url` when a URL is written through the admin API and again
  when a stored document is read: http(s) only, no ``user:pass@``, no
  metadata host names, no literal address of a refused class. The admin sees
  a 400 naming the field.
- :class:`gateway.dialer.GuardedBackend` on every connection the shared client opens: the
  host is resolved *once*, every address it resolves to is checked, and the
  socket is opened to the checked address itself. A name that resolves to a
  public address at write time and to ``10.0.0.1`` later (DNS rebinding) is
  refused at connect time; TLS still verifies the name (httpcore sends SNI
  for the original host).

Redirects are never followed (``follow_redirects=False`` on the client and a
3xx is an error in :meth:`Adapter.check`), so a provider cannot bounce a
request, with its key, to another host.

Allowed beyond public addresses: loopback under the emulator (the fakes and
the demo provider live there), and the hosts or CIDR ranges listed in the
``OUTBOUND_PRIVATE_HOSTS`` param (a self-hosted Ollama or LM Studio on the
VPC). Link-local addresses and metadata host names are refused whatever the
param says.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from gateway import firebase, settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.goog", "instance-data"})
"""Names of cloud metadata servers (GCE/Cloud Run, and the common aliases)."""

SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; Python calls it neither private nor global
NAT64 = ipaddress.ip_network("64:ff9b::/96")
"""RFC 6052's well-known NAT64 prefix: the last 32 bits are the IPv4 address the translator connects to."""
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
"""RFC 8215's local-use NAT64 prefix (the IPv4 address sits where the operator chose; the /96 form is checked)."""
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
"""Deprecated IPv4-compatible addresses (``::127.0.0.1``); ``::`` and ``::1`` are themselves."""


class Refused(ValueError):
    """A URL or address the gateway will not call; the message says why (it names no secret)."""


def _emulated() -> bool:
    """Loopback is allowed only where the emulators stand in for production (the fakes live there)."""
    return firebase.emulated()


def _allow_list() -> tuple[frozenset[str], tuple[Network, ...]]:
    """``OUTBOUND_PRIVATE_HOSTS`` split into host names and networks."""
    names: set[str] = set()
    networks: list[Network] = []
    for item in settings.OUTBOUND_PRIVATE_HOSTS.value.split(","):
        item = item.strip().lower()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item.rstrip("."))
    return frozenset(names), tuple(networks)


def embedded(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, where packets to it end up: IPv4-mapped,
    IPv4-compatible, 6to4 (``2002:7f00:1::`` is 127.0.0.1's), NAT64, and Teredo's server and
    (de-obfuscated) client. Empty for any other address."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if address in NAT64 or address in LOCAL_NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def judge(address: IPAddress) -> tuple[str | None, IPAddress]:
    """Why ``address`` may not be called (None: it may), and the address that decided: an embedded IPv4 address refused
    refuses the IPv6 one. Mapped, 6to4 and well-known NAT64 addresses lead to their IPv4 address and are judged by it alone."""
    inner = embedded(address)
    for ipv4 in inner:
        if (kind := _own_class(ipv4)) is not None:
            return kind, ipv4
    if inner and (address.ipv4_mapped is not None or address.sixtofour is not None or address in NAT64):  # type: ignore[union-attr]
        return None, inner[0]
    return _own_class(address), address


def address_class(address: IPAddress) -> str | None:
    """Why ``address`` is not a public internet address (None when it is), embedded IPv4 addresses included."""
    return judge(address)[0]


def _own_class(address: IPAddress) -> str | None:
    if address.is_link_local or address == ipaddress.ip_address("fd00:ec2::254"):
        return "link-local"
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private or address in SHARED_ADDRESS_SPACE:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def check_address(host: str, address: IPAddress) -> None:
    """Raise :class:`Refused` unless ``host`` may be reached at ``address``."""
    kind, decided = judge(address)
    if kind is None:
        return
    if kind != "link-local":
        if kind == "loopback" and _emulated():
            return
        names, networks = _allow_list()
        if host.lower().rstrip(".") in names or any(a in network for a in {address, decided} for network in networks):
            return
    shown = address if decided == address else f"{address}, which carries {decided}"
    raise Refused(
        f"{host} resolves to a {kind} address ({shown}); "
        + ("never allowed" if kind == "link-local" else "list it in OUTBOUND_PRIVATE_HOSTS to allow it")
    )


def check_syntax(url: str) -> str:
    """``url`` when it is an absolute http(s) URL without credentials or whitespace; :class:`Refused` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused("must be an http(s) URL")
    if "@" in parts.netloc:
        raise Refused("must not contain user:password@")
    if not parts.hostname:
        raise Refused("has no host")
    if any(c.isspace() for c in url):
        raise Refused("must not contain whitespace")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise Refused("has an invalid port") from None
    return url


def canonical_host(host: str) -> str:
    """``host`` as the checks must see it: lower case, no trailing dot, and a non-ASCII name mapped by UTS-46 to ASCII.

    ``ｍｅｔａｄａｔａ.google.internal`` (fullwidth letters) or ``１２７．０．０．１`` must be judged as
    ``metadata.google.internal`` and ``127.0.0.1``, the names they stand for. ``idna`` is httpx's own
    dependency; only a non-ASCII name pays for its import.
    """
    name = host.rstrip(".")
    if name.isascii():
        return name.lower()
    import idna

    try:
        return idna.encode(name, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        raise Refused(f"{host} is not a valid internationalised host name") from None


def is_metadata(host: str) -> bool:
    """Whether ``host`` names a cloud metadata server (in any spelling UTS-46 maps to one)."""
    try:
        name = canonical_host(host)
    except Refused:
        return False
    return name in METADATA_HOSTS or name.endswith(".metadata.google.internal")


def _sendable(url: str) -> None:
    """Refuse what httpx cannot send (a non-ASCII host IDNA 2008 refuses unmapped, ``256.1.1.1``, a control
    character): every call would fail. httpx is loaded already wherever a URL is checked (the models listing imports it)."""
    import httpx

    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise Refused(f"is not a URL the gateway can call ({exc})") from None


def check_url(url: str) -> str:
    """``url`` unless the gateway must never call it (:class:`Refused`); no DNS lookup: that happens at connect time."""
    host = urlsplit(check_syntax(url)).hostname or ""
    name = canonical_host(host)
    if is_metadata(name):
        raise Refused(f"{host} is a metadata server")
    try:
        literal = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(host, literal)
    _sendable(url)
    return url


def same_host(url: str, hosts: Iterable[str]) -> bool:
    """Whether ``url``'s host is one of ``hosts`` (names compared case-insensitively)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return bool(host) and host in {h.lower().rstrip(".") for h in hosts}


def host_of(url: str | None) -> str | None:
    return (urlsplit(url).hostname or None) if url else None
