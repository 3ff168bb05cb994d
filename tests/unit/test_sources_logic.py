"""Pure logic of sources: schedules, globs, the address policy, links, sitemaps, notebooks."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from sources import schedule
from sources.addresses import AddressPolicy, Refused
from sources.gitrepo import notebook_text
from sources.types import wanted
from sources.web import BrokenLinks, links_of, sitemap_urls

pytestmark = pytest.mark.unit


def test_schedules_parse_and_fire() -> None:
    assert schedule.parse("every 30m") == (1800, None)
    assert schedule.parse("6h") == (21600, None)
    assert schedule.parse("3600") == (3600, None)
    assert schedule.parse("") == (None, None)
    assert schedule.parse("0 3 * * *") == (None, "0 3 * * *")
    with pytest.raises(schedule.BadSchedule):
        schedule.parse("now and then")
    # what the API's pattern admits parses, and what would overflow a date is refused by both
    for text in ("999999999", "9999999m", "99999h", "9999d"):
        assert re.fullmatch(schedule.PATTERN, text)
        assert schedule.parse(text)[0] <= schedule.MAX_INTERVAL
    for text in ("999999999d", "20000d", "0"):
        assert not re.fullmatch(schedule.PATTERN, text)
        with pytest.raises(schedule.BadSchedule):
            schedule.parse(text)
    at = datetime(2026, 12, 3, 10, 15, tzinfo=UTC)
    assert schedule.next_run(None, "0 3 * * *", at) == datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    assert schedule.next_run(90, None, at) == datetime(2026, 12, 3, 10, 16, 30, tzinfo=UTC)
    assert schedule.next_run(None, None, at) is None
    assert schedule.describe(7200, None) == "every 2h"


def test_globs() -> None:
    assert wanted("docs/a.md", ["*.md"], [])
    assert not wanted("docs/a.png", ["*.md"], [])
    assert not wanted("drafts/a.md", ["*.md"], ["drafts/*"])
    assert wanted("anything", [], [])


def fake_dns(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    return lambda host, _port: table[host]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://localhost/", "loopback"),
        ("http://10.0.0.5/", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://rebind.example/", "private"),
        ("file:///etc/passwd", "only http"),
        ("gopher://x/", "only http"),
    ],
)
def test_private_targets_are_refused(url: str, why: str) -> None:
    dns = {
        "localhost": ["127.0.0.1"],
        "10.0.0.5": ["10.0.0.5"],
        "169.254.169.254": ["169.254.169.254"],
        "::1": ["::1"],
        "::ffff:127.0.0.1": ["::ffff:127.0.0.1"],
        "rebind.example": ["93.184.216.34", "192.168.1.1"],  # any private answer refuses
    }
    with pytest.raises(Refused, match=why):
        AddressPolicy([], resolve=fake_dns(dns)).check(url)


def test_public_and_allowed_targets_pass() -> None:
    dns = {"docs.example": ["93.184.216.34"], "wiki.lan": ["10.1.2.3"], "127.0.0.1": ["127.0.0.1"]}
    policy = AddressPolicy(["10.1.0.0/16", "127.0.0.1"], resolve=fake_dns(dns))
    policy.check("https://docs.example/a")
    policy.check("http://wiki.lan/page")
    policy.check("http://127.0.0.1:8080/")
    with pytest.raises(Refused):
        AddressPolicy(["10.9.0.0/16"], resolve=fake_dns(dns)).check("http://wiki.lan/")


def test_egress_allowlist_refuses_before_any_lookup() -> None:
    looked_up: list[str] = []
    dns = {
        "docs.example": ["93.184.216.34"],
        "wiki.corp.example": ["93.184.216.35"],
        "93.184.216.34": ["93.184.216.34"],
    }

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return fake_dns(dns)(host, port)

    policy = AddressPolicy([], resolve=resolve, only=["docs.example", "*.corp.example"])
    policy.check("https://docs.example/a")
    policy.check("https://wiki.corp.example/b")
    for url in (
        "https://elsewhere.example/",
        "http://93.184.216.34/",
        "https://corp.example.evil/",
    ):
        with pytest.raises(Refused, match="ASKDOCS_SOURCES_ALLOWED_HOSTS"):
            policy.check(url)
    assert looked_up == ["docs.example", "wiki.corp.example"]
    # an address or network admits address literals; a name is never looked up to match one
    nets = AddressPolicy([], resolve=resolve, only=["93.184.216.0/24"])
    nets.check("http://93.184.216.34/")
    with pytest.raises(Refused, match="ASKDOCS_SOURCES_ALLOWED_HOSTS"):
        nets.check("http://docs.example/")
    assert looked_up == ["docs.example", "wiki.corp.example"]  # an address is not looked up
    # the allowlist does not open private addresses: that stays ASKDOCS_SOURCES_PRIVATE_HOSTS' job
    with pytest.raises(Refused, match="loopback"):
        AddressPolicy([], resolve=fake_dns({"127.0.0.1": ["127.0.0.1"]}), only=["127.0.0.1"]).check(
            "http://127.0.0.1:8080/"
        )


def test_links_of_a_page() -> None:
    html = b"""<html><head><base href="/docs/"></head><body>
    <a href="a.html#part">A</a><a href="https://other.example/x">X</a>
    <a href="mailto:me@example.org">mail</a><a href="a.html">again</a></body></html>"""
    assert links_of(html, "http://site.example/index.html") == [
        "http://site.example/docs/a.html",
        "https://other.example/x",
    ]
    nofollow = b'<meta name="robots" content="noindex, nofollow"><a href="/x">x</a>'
    assert links_of(nofollow, "http://site.example/") == []
    # a page the parser gives up on: the links read so far are not its links
    with pytest.raises(BrokenLinks, match="site.example/broken"):
        links_of(
            b'<a href="/a">a</a><![bogus[ x ]]><a href="/b">b</a>', "http://site.example/broken"
        )


def test_sitemap_reads_locs_and_never_expands_entities() -> None:
    plain = b"""<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <url><loc>https://s.example/a</loc></url><url><loc> https://s.example/b </loc></url></urlset>"""
    assert sitemap_urls(plain) == (["https://s.example/a", "https://s.example/b"], [])
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <sitemap><loc>https://s.example/more.xml</loc></sitemap></sitemapindex>"""
    assert sitemap_urls(index) == ([], ["https://s.example/more.xml"])
    bomb = b"""<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaaaaaaaa">
    <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
    <!ENTITY x SYSTEM "file:///etc/passwd">]>
    <urlset><url><loc>&c;</loc></url><url><loc>&x;</loc></url></urlset>"""
    pages, _ = sitemap_urls(bomb)
    assert all("aaaa" not in p and "root:" not in p for p in pages)


def test_notebook_as_text() -> None:
    nb = b"""{"cells": [{"cell_type": "markdown", "source": ["# Title\\n", "Some prose."]},
    {"cell_type": "code", "source": "x = 1", "outputs": [{"text": "noise"}]}], "nbformat": 4}"""
    text = notebook_text(nb).decode()
    assert "# Title\nSome prose." in text and "```\nx = 1\n```" in text and "noise" not in text


def test_ingest_sync_leaves_a_sources_documents_alone() -> None:
    from askdocs.bulk import not_among

    docs = [
        {"name": "a.txt", "source_id": None},
        {"name": "gone.txt", "source_id": None},
        {"name": "share/x.md", "source_id": "s1"},
    ]
    assert [d["name"] for d in not_among(docs, {"a.txt"})] == ["gone.txt"]


@pytest.mark.parametrize(
    "text",
    ["every 30m", "6h", "3600", "0 3 * * *", "*/15 * * * 1,3,5", "59 23 28 12 6", ""],
)
def test_every_schedule_the_schema_admits_parses(text: str) -> None:
    import re

    assert re.fullmatch(schedule.PATTERN, text)
    interval, cron = schedule.parse(text)
    assert schedule.next_run(interval, cron, datetime(2026, 1, 1, tzinfo=UTC)) or text == ""


def test_the_schema_refuses_what_the_parser_would() -> None:
    import re

    for text in ("sometimes", "0 3 31 2 *", "0", "every 0s", "61 * * * *"):
        assert not re.fullmatch(schedule.PATTERN, text)
