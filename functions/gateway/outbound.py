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


def address_class(address: IPAddress) -> str | None:
    """Why ``address`` is not a public internet address (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_class(address.ipv4_mapped)
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
    kind = address_class(address)
    if kind is None:
        return
    if kind != "link-local":
        if kind == "loopback" and _emulated():
            return
        names, networks = _allow_list()
        if host.lower().rstrip(".") in names or any(address in network for network in networks):
            return
    raise Refused(
        f"{host} resolves to a {kind} address ({address}); "
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


def is_metadata(host: str) -> bool:
    """Whether ``host`` names a cloud metadata server."""
    name = host.rstrip(".").lower()
    return name in METADATA_HOSTS or name.endswith(".metadata.google.internal")


def check_url(url: str) -> str:
    """``url`` unless the gateway must never call it (:class:`Refused`); no DNS lookup: that happens at connect time."""
    host = urlsplit(check_syntax(url)).hostname or ""
    if is_metadata(host):
        raise Refused(f"{host} is a metadata server")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return url
    check_address(host, literal)
    return url


def same_host(url: str, hosts: Iterable[str]) -> bool:
    """Whether ``url``'s host is one of ``hosts`` (names compared case-insensitively)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return bool(host) and host in {h.lower().rstrip(".") for h in hosts}


def host_of(url: str | None) -> str | None:
    return (urlsplit(url).hostname or None) if url else None
