"""Which network addresses a web or git source may reach: never a private, loopback, link-local or
otherwise special address (SSRF) unless the admin listed it in ``sources_private_hosts``."""

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


class AddressPolicy:
    """``allowed``: hosts, addresses or CIDR networks a source may reach although special."""

    def __init__(self, allowed: Iterable[str], resolve: Resolver = _resolve) -> None:
        self._names: set[str] = set()
        self._nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in allowed:
            item = item.strip().lower()
            if not item:
                continue
            try:
                self._nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._names.add(item)
        self._resolve = resolve

    @classmethod
    def from_setting(cls, text: str) -> AddressPolicy:
        return cls(text.split(","))

    def check(self, url: str) -> None:
        """Refused unless ``url`` is http(s) to a public address (or one the admin allowed)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise Refused(f"{url[:200]}: only http and https URLs are fetched")
        host = (parts.hostname or "").lower()
        if not host:
            raise Refused(f"{url[:200]}: no host")
        if host in self._names:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        for addr in self._resolve(host, port):
            ip = ipaddress.ip_address(addr.split("%", 1)[0])
            what = _special(ip)
            if what is None or any(ip in net for net in self._nets):
                continue
            raise Refused(
                f"{host} is {what} address ({ip}); sources may not reach it unless an admin "
                "lists it in ASKDOCS_SOURCES_PRIVATE_HOSTS"
            )
