"""A website: a start page and the pages it links to (same host unless allowed, to a depth and a
page limit), or the pages a sitemap lists; HTML pages and the documents they link to. robots.txt
is honoured; a re-sync asks with ETag/Last-Modified and a 304 keeps what was there. Every URL,
redirects included, goes through the address policy first (no private targets, no other scheme).
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx
from lxml import etree

from sources.addresses import AddressPolicy, Refused
from sources.config import WebConfig
from sources.types import Entry, Known, Scan, SourceUnavailable, wanted

log = logging.getLogger(__name__)

USER_AGENT = "askdocs-sync/1.0"
MAX_REDIRECTS = 5
MAX_SITEMAPS = 50
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Linked files worth ingesting (by the URL's extension); the parser reads the bytes to be sure.
DOCUMENT_EXTENSIONS = {
    ".pdf", ".docx", ".doc", ".pptx", ".ppt", ".xlsx", ".xls", ".odt", ".ods", ".odp", ".txt",
    ".md", ".markdown", ".rst", ".csv", ".tsv", ".epub", ".rtf", ".eml", ".msg", ".org",
}  # fmt: skip


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.base: str | None = None
        self.nofollow = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        elif tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag == "meta" and (a.get("name") or "").lower() == "robots":
            self.nofollow = "nofollow" in (a.get("content") or "").lower()


def links_of(html: bytes, url: str) -> list[str]:
    """The absolute http(s) links of a page, without fragments, in order, once each."""
    p = _Links()
    try:
        p.feed(html.decode("utf-8", "replace"))
        p.close()
    except Exception:  # noqa: BLE001 - a broken page still gives the links read so far
        pass
    if p.nofollow:
        return []
    base = urljoin(url, p.base) if p.base else url
    out: dict[str, None] = {}
    for href in p.links:
        target = urldefrag(urljoin(base, href.strip()))[0]
        if urlsplit(target).scheme in ("http", "https"):
            out[target] = None
    return list(out)


def sitemap_urls(data: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of a sitemap or sitemap index; no entities, no network."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    root = etree.fromstring(data, parser)
    locs = [(el.text or "").strip() for el in root.iter("{*}loc")]
    locs = [u for u in locs if u]
    if etree.QName(root).localname == "sitemapindex":
        return [], locs
    return locs, []


def _fingerprint(resp: httpx.Response, body: bytes) -> str:
    etag, modified = resp.headers.get("etag"), resp.headers.get("last-modified")
    if etag or modified:
        return f"etag={etag or ''}|lm={modified or ''}"
    return "sha256=" + hashlib.sha256(body).hexdigest()


def _conditional(fingerprint: str | None) -> dict[str, str]:
    if not fingerprint or not fingerprint.startswith("etag="):
        return {}
    etag, _, modified = fingerprint.removeprefix("etag=").partition("|lm=")
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    return headers


def _host(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc or "").lower()


@dataclass
class _Fetched:
    status: int
    url: str  # after redirects
    body: bytes
    content_type: str
    fingerprint: str | None


class FetchError(Exception):
    pass


class WebConnector:
    def __init__(
        self,
        config: WebConfig,
        policy: AddressPolicy,
        max_bytes: int,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._config = config
        self._policy = policy
        self._max_bytes = max_bytes
        self._hosts = {_host(config.url)} | {h.lower() for h in config.allowed_hosts}
        headers = {"User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, headers=headers)
        self._robots: dict[str, RobotFileParser] = {}

    # -- fetching ------------------------------------------------------------------------------

    def _allowed_host(self, url: str) -> bool:
        host = _host(url)
        bare = (urlsplit(url).hostname or "").lower()
        return host in self._hosts or bare in self._hosts

    def _get(self, url: str, headers: Mapping[str, str] | None = None) -> _Fetched:
        """GET with redirects followed by hand: every hop is checked against the address policy
        and the allowed hosts before it is requested."""
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                self._policy.check(url)
            except Refused as e:
                raise FetchError(f"refused: {e}") from e
            if not self._allowed_host(url):
                raise FetchError(f"refused: {url[:200]} is on a host this source may not crawl")
            try:
                with self._client.stream("GET", url, headers=dict(headers or {})) as resp:
                    if resp.status_code in (301, 302, 303, 307, 308) and "location" in resp.headers:
                        url = urldefrag(urljoin(url, resp.headers["location"]))[0]
                        continue
                    body = b""
                    if resp.status_code == 200:
                        declared = int(resp.headers.get("content-length") or 0)
                        if declared > self._max_bytes:
                            raise FetchError(
                                f"{url[:200]} is {declared} bytes, over the limit of "
                                f"{self._max_bytes}"
                            )
                        parts = []
                        size = 0
                        for chunk in resp.iter_bytes():
                            size += len(chunk)
                            if size > self._max_bytes:
                                raise FetchError(
                                    f"{url[:200]} is over the limit of {self._max_bytes} bytes"
                                )
                            parts.append(chunk)
                        body = b"".join(parts)
                    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                    fp = _fingerprint(resp, body) if resp.status_code == 200 else None
                    return _Fetched(resp.status_code, url, body, ctype, fp)
            except httpx.HTTPError as e:
                raise FetchError(f"{url[:200]}: {type(e).__name__}: {e}") from e
        raise FetchError(f"{url[:200]}: more than {MAX_REDIRECTS} redirects")

    def _robots_for(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._robots:
            rp = RobotFileParser()
            try:
                got = self._get(key + "/robots.txt")
            except FetchError:
                got = None
            if got is not None and got.status == 200:
                rp.parse(got.body.decode("utf-8", "replace").splitlines())
            elif got is not None and got.status in (401, 403):
                rp.disallow_all = True
            else:
                rp.allow_all = True
            self._robots[key] = rp
        return self._robots[key]

    def _robots_allow(self, url: str) -> bool:
        return self._robots_for(url).can_fetch(USER_AGENT, url)

    # -- listing -------------------------------------------------------------------------------

    def _sitemap(self) -> list[str]:
        pages: list[str] = []
        todo, seen = [self._config.url], 0
        while todo and seen < MAX_SITEMAPS:
            url = todo.pop(0)
            seen += 1
            try:
                got = self._get(url)
            except FetchError as e:
                raise SourceUnavailable(f"cannot read the sitemap: {e}") from e
            if got.status != 200:
                raise SourceUnavailable(f"the sitemap {url[:200]} answered {got.status}")
            try:
                found, children = sitemap_urls(got.body)
            except etree.XMLSyntaxError as e:
                raise SourceUnavailable(f"{url[:200]} is not a sitemap: {e}") from e
            pages += found
            todo += children
        return pages

    def scan(self, previous: Mapping[str, Known]) -> Scan:
        cfg = self._config
        is_sitemap = urlsplit(cfg.url).path.lower().endswith(".xml")
        if is_sitemap:
            start = [(u, cfg.max_depth) for u in self._sitemap()]
        else:
            start = [(urldefrag(cfg.url)[0], 0)]
        scan = Scan(iter(()), close=self._client.close)
        scan.entries = self._crawl(start, previous, scan)
        return scan

    def _crawl(
        self, start: list[tuple[str, int]], previous: Mapping[str, Known], scan: Scan
    ) -> Iterator[Entry]:
        cfg = self._config
        queue: deque[tuple[str, int]] = deque(start)
        queued = {u for u, _d in start}
        # the start page must answer, or the run fails without deleting anything
        start_url = start[0][0] if len(start) == 1 and start[0][1] == 0 else None
        fetched = 0
        while queue and fetched < cfg.max_pages:
            url, depth = queue.popleft()
            if not self._allowed_host(url):
                continue
            try:
                self._policy.check(url)
            except Refused as e:
                scan.complete = False
                yield Entry(url, url, None, error=f"refused: {e}")
                continue
            if not self._robots_allow(url):
                scan.skipped += 1
                continue
            path = urlsplit(url).path or "/"
            ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
            is_document = ext in DOCUMENT_EXTENSIONS
            known = previous.get(url)
            fetched += 1
            try:
                got = self._get(url, _conditional(known.fingerprint if known else None))
            except FetchError as e:
                if url == start_url and fetched == 1:
                    raise SourceUnavailable(f"cannot reach {url}: {e}") from e
                scan.complete = False
                yield Entry(url, url, None, error=str(e))
                continue
            if got.status >= 400 and url == start_url and fetched == 1:
                raise SourceUnavailable(f"{url} answered {got.status}")
            links: list[str] = []
            take = wanted(path, cfg.include, cfg.exclude)
            if got.status == 304 and known is not None:
                links = list(known.meta.get("links", []))
                if take:
                    yield Entry(url, url, known.fingerprint, read=None, meta=dict(known.meta))
            elif got.status in (404, 410):
                continue  # not there: gone, if it was
            elif got.status != 200:
                scan.complete = False
                yield Entry(url, url, None, error=f"{url[:200]} answered {got.status}")
                continue
            elif got.content_type in HTML_TYPES and not is_document:
                links = links_of(got.body, got.url) if depth < cfg.max_depth else []
                if take:
                    yield Entry(
                        url,
                        url,
                        got.fingerprint,
                        read=lambda b=got.body: b,
                        content_type=got.content_type,
                        meta={"links": links},
                    )
            elif take and (is_document or got.content_type.startswith(("application/", "text/"))):
                yield Entry(
                    url,
                    url,
                    got.fingerprint,
                    read=lambda b=got.body: b,
                    content_type=got.content_type or None,
                )
            else:
                scan.skipped += 1
            for link in links if depth < cfg.max_depth else []:
                if link not in queued and self._allowed_host(link):
                    queued.add(link)
                    queue.append((link, depth + 1))
        if queue:  # the page limit stopped it: what was not reached is not gone
            scan.complete = False
            log.info("web source stopped at its limit of %d pages", cfg.max_pages)
