"""Which network addresses a web or git source may reach: only global unicast addresses (never a
private, loopback, link-local, shared, 6to4, Teredo or otherwise special one: SSRF) unless the admin
listed it in ``sources_private_hosts``; and, where the admin lists ``sources_allowed_hosts`` (an
egress allowlist), only those hosts, refused before any name lookup. ``AddressPolicy.addresses``
resolves a name once and checks every answer: connections go to those checked addresses, never to a
second lookup (DNS rebinding)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]


class Refused(ValueError):
    """A URL a source may not fetch; the message says why."""


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as e:
        raise Refused(f"{host} does not resolve: {e.strerror or e}") from e
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # in the resolver's order


_Net = ipaddress.IPv4Network | ipaddress.IPv6Network

# Refused whatever Python's flags say (3.11 calls several of these global), each with its name.
_SPECIAL_NETS: tuple[tuple[_Net, str], ...] = tuple(
    (ipaddress.ip_network(net), what)
    for net, what in (
        ("0.0.0.0/8", "a this-network"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared)"),
        ("192.0.0.0/24", "an IETF protocol"),
        ("198.18.0.0/15", "a benchmarking"),
        ("224.0.0.0/4", "a multicast"),
        ("255.255.255.255/32", "a broadcast"),
        ("::/96", "an IPv4-compatible"),
        ("64:ff9b:1::/48", "a local-use NAT64"),
        ("2002::/16", "a 6to4"),
        ("2001::/32", "a Teredo"),
        ("fec0::/10", "a site-local"),
        ("ff00::/8", "a multicast"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def special(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of address ``ip`` is when a source may not reach it ("a loopback", ...), or None
    for a global unicast address. An IPv4-mapped address is refused whatever it embeds; a NAT64
    one (64:ff9b::/96) is judged by the IPv4 address it embeds."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _MAPPED:
            inner = special(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
            return f"{inner or 'a'} (IPv4-mapped)"
        if ip in _NAT64:
            inner = special(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
            return None if inner is None else f"{inner} (NAT64)"
    for what, flag in (
        ("a loopback", ip.is_loopback),
        ("an unspecified", ip.is_unspecified),
        ("a link-local", ip.is_link_local),
    ):
        if flag:
            return what
    for net, what in _SPECIAL_NETS:
        if ip.version == net.version and ip in net:
            return what
    for what, flag in (
        ("a private", ip.is_private),
        ("a multicast", ip.is_multicast),
        ("a reserved", ip.is_reserved),
        ("a non-global", not ip.is_global),
    ):
        if flag:
            return what
    return None


class _HostSet:
    """Host names (exact, or ``*.example.org`` for its subdomains), addresses and CIDR networks."""

    def __init__(self, items: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in items:
            item = item.strip().lower()
            if not item:
                continue
            if item.startswith("*."):
                self.suffixes.append(item[1:])
                continue
            try:
                self.nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.names.add(item)

    def __bool__(self) -> bool:
        return bool(self.names or self.suffixes or self.nets)

    def has_name(self, host: str) -> bool:
        return host in self.names or any(host.endswith(s) for s in self.suffixes)

    def has_address(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(ip in net for net in self.nets)


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _setting(text: str) -> list[str]:
    return text.split(",")


class AddressPolicy:
    """``allowed``: hosts, addresses or CIDR networks a source may reach although special.
    ``only``: when not empty, the only hosts a source may reach at all, matched against the URL as
    written, never looked up: a name by a listed name or ``*.domain``, an address literal by a
    listed address or network."""

    def __init__(
        self, allowed: Iterable[str], resolve: Resolver = _resolve, only: Iterable[str] = ()
    ) -> None:
        self._private = _HostSet(allowed)
        self._only = _HostSet(only)
        self._resolve = resolve

    @classmethod
    def from_setting(cls, private_hosts: str, allowed_hosts: str = "") -> AddressPolicy:
        return cls(_setting(private_hosts), only=_setting(allowed_hosts))

    def check_listed(self, url: str) -> None:
        """What can be said of ``url`` without a lookup: its scheme, and whether the egress
        allowlist admits its host (the API checks this when a source is added)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise Refused(f"{url[:200]}: only http and https URLs are fetched")
        host = (parts.hostname or "").lower()
        if not host:
            raise Refused(f"{url[:200]}: no host")
        if not self._only or self._only.has_name(host):
            return
        ip = _literal(host)
        if ip is not None and self._only.has_address(ip):
            return
        raise Refused(
            f"{host} is not among the hosts sources may reach (ASKDOCS_SOURCES_ALLOWED_HOSTS)"
        )

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``: looked up once, every answer checked (one
        refused answer refuses the host). A connection goes to one of these, never to a second
        lookup, so a name cannot answer a public address to the check and an inside one later."""
        host = host.strip("[]").lower()
        ip = _literal(host)
        found = [str(ip)] if ip is not None else self._resolve(host, port)
        if not found:
            raise Refused(f"{host} does not resolve")
        if self._private.has_name(host):
            return found
        for addr in found:
            ip = ipaddress.ip_address(addr.split("%", 1)[0])
            what = special(ip)
            if what is None or self._private.has_address(ip):
                continue
            raise Refused(
                f"{host} is {what} address ({ip}); sources may not reach it unless an admin "
                "lists it in ASKDOCS_SOURCES_PRIVATE_HOSTS"
            )
        return found

    def check(self, url: str) -> list[str]:
        """Refused unless ``url`` is http(s) to a public address (or one the admin allowed), and,
        where an egress allowlist is set, to a host on it; returns the checked addresses."""
        self.check_listed(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return self.addresses(host, port)
