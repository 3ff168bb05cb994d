"""The address policy's table (only global unicast addresses pass), its single lookup, and how the
connectors bind and hide a token."""

from __future__ import annotations

import base64
import ipaddress

import pytest

from sources.addresses import AddressPolicy, Refused, special
from sources.egress import bind, remaining, scrub
from sources.types import BoundToken

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),  # where some clouds put their metadata service
        ("100.127.255.254", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this-network"),
        ("192.0.0.9", "IETF protocol"),  # Python 3.11 calls this one global
        ("192.0.0.170", "IETF protocol"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.1", "benchmarking"),
        ("192.0.2.1", "private"),  # documentation
        ("224.0.0.1", "multicast"),  # Python 3.11 calls multicast global
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "broadcast"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "site-local"),  # Python 3.11 calls this one global
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:8.8.8.8", "IPv4-mapped"),  # refused whatever it embeds
        ("::127.0.0.1", "IPv4-compatible"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("2002:7f00:1::1", "6to4"),  # embeds 127.0.0.1
        ("2002:808:808::1", "6to4"),  # embeds 8.8.8.8: refused all the same
        ("2001:0:4136:e378::1", "Teredo"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("64:ff9b::6440:1", "carrier-grade NAT"),  # NAT64 of 100.64.0.1
        ("64:ff9b:1::808:808", "local-use NAT64"),
        ("2001:db8::1", "private"),  # documentation
        ("100::1", "private"),  # discard-only
    ],
)
def test_special_addresses_are_refused(address: str, why: str) -> None:
    what = special(ipaddress.ip_address(address))
    assert what is not None and why in what
    with pytest.raises(Refused, match=why):
        AddressPolicy([]).addresses(address, 80)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"]
)
def test_global_addresses_pass(address: str) -> None:
    assert special(ipaddress.ip_address(address)) is None
    assert AddressPolicy([]).addresses(address, 443) == [address]


def test_one_lookup_every_answer_checked_and_the_operator_list() -> None:
    calls: list[str] = []

    def resolve(host: str, _port: int) -> list[str]:
        calls.append(host)
        return {"docs.example": ["93.184.216.34"], "mixed.example": ["8.8.8.8", "100.64.1.1"]}[host]

    policy = AddressPolicy(["100.64.0.0/10"], resolve=resolve)
    assert policy.addresses("docs.example", 443) == ["93.184.216.34"]
    assert policy.addresses("mixed.example", 443) == ["8.8.8.8", "100.64.1.1"]  # listed net
    with pytest.raises(Refused, match="carrier-grade NAT"):
        AddressPolicy([], resolve=resolve).addresses("mixed.example", 443)
    assert calls == ["docs.example", "mixed.example", "mixed.example"]  # once per call, no more
    assert AddressPolicy(["::1"], resolve=resolve).addresses("[::1]", 80) == ["::1"]
    assert calls == ["docs.example", "mixed.example", "mixed.example"]  # a literal: no lookup


def test_a_string_token_binds_to_an_https_url_only() -> None:
    bound = bind("t0ken", "https://Docs.Example:8443/start")
    assert bound == BoundToken("t0ken", "https://docs.example:8443")
    assert bind("t0ken", "http://docs.example/") is None
    assert bind("", "https://docs.example/") is None
    assert bind(None, "https://docs.example/") is None
    assert bind(bound, "http://elsewhere/") is bound  # already bound: kept as it is
    assert "t0ken" not in repr(bound)


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://docs.example:8443/a", True),
        ("https://DOCS.example:8443/b?x=1", True),
        ("http://docs.example:8443/a", False),  # plain http
        ("https://docs.example/a", False),  # another port
        ("https://other.example:8443/a", False),  # another host
        ("https://docs.example.evil:8443/a", False),
    ],
)
def test_a_bound_token_goes_to_its_origin_only(url: str, sent: bool) -> None:
    assert BoundToken("t", "https://docs.example:8443").sent_to(url) is sent


def test_scrub_hides_the_token_and_url_credentials() -> None:
    token = BoundToken("s3cr3t-value", "https://docs.example")
    basic = base64.b64encode(b"x-access-token:s3cr3t-value").decode()
    text = scrub(
        f"cannot fetch https://u:pw@docs.example/r.git: 401 for ?t=s3cr3t-value, Basic {basic}",
        token,
    )
    assert "s3cr3t-value" not in text and basic not in text and "pw@" not in text
    assert text.startswith("cannot fetch https://***@docs.example/r.git")


def test_remaining_time() -> None:
    assert remaining(None, 30.0) == 30.0
    assert remaining(0.0, 30.0) == 0.0  # long past
