"""Which network addresses a web or git source may reach: never a private, loopback, link-local or
otherwise special address (SSRF) unless the admin listed it in ``sources_private_hosts``; and, where
the admin lists ``sources_allowed_hosts`` (an egress allowlist), only those hosts, refused before any
name lookup."""

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
    except socket.gaierror as e:
        raise Refused(f"{host} does not resolve: {e.strerror or e}") from e
    return sorted({str(info[4][0]) for info in infos})


def _special(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for what, flag in (
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a private", ip.is_private),
        ("a multicast", ip.is_multicast),
        ("an unspecified", ip.is_unspecified),
        ("a reserved", ip.is_reserved),
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

    def check(self, url: str) -> None:
        """Refused unless ``url`` is http(s) to a public address (or one the admin allowed), and,
        where an egress allowlist is set, to a host on it."""
        self.check_listed(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if self._private.has_name(host):
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        for addr in self._resolve(host, port):
            ip = ipaddress.ip_address(addr.split("%", 1)[0])
            what = _special(ip)
            if what is None or self._private.has_address(ip):
                continue
            raise Refused(
                f"{host} is {what} address ({ip}); sources may not reach it unless an admin "
                "lists it in ASKDOCS_SOURCES_PRIVATE_HOSTS"
            )
