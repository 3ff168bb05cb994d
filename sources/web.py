"""A website: a start page and the pages it links to (same host unless allowed, to a depth and a
page limit), or the pages a sitemap lists; HTML pages and the documents they link to. robots.txt
is honoured; a re-sync asks with ETag/Last-Modified and a 304 keeps what was there. Every URL,
redirects included, goes through the address policy first (no private targets, no other scheme),
and every connection goes to the address that was checked (the name is looked up once, by the
policy). A token goes only to its https origin. What cannot be trusted to list the site (robots.txt
refused or unreadable, a page whose links could not be read, the run's deadline) leaves the scan
in doubt, and a scan in doubt deletes nothing.
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

import httpcore
import httpx
from lxml import etree

from sources.addresses import AddressPolicy, Refused
from sources.config import WebConfig
from sources.egress import DEADLINE_PASSED, Tripwire, bind, passed, remaining, scrub
from sources.types import BoundToken, Entry, Known, Scan, SourceUnavailable, wanted

log = logging.getLogger(__name__)

USER_AGENT = "askdocs-sync/1.0"
MAX_REDIRECTS = 5
MAX_SITEMAPS = 50
MAX_ROBOTS_BYTES = 512 * 1024  # what Google reads of a robots.txt
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


class BrokenLinks(ValueError):
    """A page whose links could not all be read: what it links to is unknown."""


def links_of(html: bytes, url: str) -> list[str]:
    """The absolute http(s) links of a page, without fragments, in order, once each; BrokenLinks
    when the parser gave up part way (the links read so far are not the page's links)."""
    p = _Links()
    try:
        p.feed(html.decode("utf-8", "replace"))
        p.close()
    except Exception as e:  # noqa: BLE001 - html.parser raises AssertionError among others
        raise BrokenLinks(f"the links of {url[:200]} could not be read: {e}") from e
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


class _PastDeadline(FetchError):
    pass


class _RefusedFirst(FetchError):
    """The URL asked for (not a redirect's) is refused by the policy or the allowed hosts."""


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the addresses the policy looked up and checked for the host, never to a lookup
    of its own; TLS still verifies the certificate against the name (httpcore starts TLS with the
    URL's host as server name, whatever address the socket went to)."""

    def __init__(self, policy: AddressPolicy, tripwire: Tripwire | None = None) -> None:
        self._policy = policy
        self._tripwire = tripwire

    def connect_tcp(  # type: ignore[override]
        self, host: str, port: int, timeout: float | None = None, **kwargs: object
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for addr in self._policy.addresses(host, port):  # Refused goes up as it is
            try:
                stream = super().connect_tcp(addr, port, timeout, **kwargs)  # type: ignore[arg-type]
            except httpcore.ConnectError as e:
                last = e
                continue
            if self._tripwire is not None:
                self._tripwire.watch(stream.get_extra_info("socket"))
            return stream
        raise last or httpcore.ConnectError(f"{host} has no address")


def pinned_transport(
    policy: AddressPolicy, tripwire: Tripwire | None = None
) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes to an address ``policy`` checked, and which
    reads no proxy or .netrc from the environment (a proxy would make the lookup elsewhere)."""
    transport = httpx.HTTPTransport(trust_env=False)
    pool = transport._pool  # noqa: SLF001 - httpx has no public way to give httpcore a backend
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpcore keeps its network backend elsewhere: update web.py")
    pool._network_backend = _PinnedBackend(policy, tripwire)  # noqa: SLF001
    return transport


class WebConnector:
    def __init__(
        self,
        config: WebConfig,
        policy: AddressPolicy,
        max_bytes: int,
        token: BoundToken | str | None = None,
        timeout: float = 30.0,
        deadline: float | None = None,
    ) -> None:
        """:param token: sent as a Bearer token only to its https origin.
        :param timeout: seconds a connect or a read may wait.
        :param deadline: a ``time.monotonic()`` value; past it the crawl stops, in doubt."""
        self._config = config
        self._policy = policy
        self._max_bytes = max_bytes
        self._token = bind(token, config.url)
        self._timeout = timeout
        self._deadline = deadline
        self._hosts = {_host(config.url)} | {h.lower() for h in config.allowed_hosts}
        self._tripwire = Tripwire(deadline)  # cuts a connection still open at the deadline
        self._client = httpx.Client(
            transport=pinned_transport(policy, self._tripwire),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        # per origin: its rules, or why its robots.txt leaves the listing in doubt
        self._robots: dict[str, RobotFileParser | str] = {}

    # -- fetching ------------------------------------------------------------------------------

    def _allowed_host(self, url: str) -> bool:
        host = _host(url)
        bare = (urlsplit(url).hostname or "").lower()
        return host in self._hosts or bare in self._hosts

    def _get(
        self, url: str, headers: Mapping[str, str] | None = None, limit: int | None = None
    ) -> _Fetched:
        """GET with redirects followed by hand: every hop is checked against the egress allowlist
        and the allowed hosts before it is requested, and its connection against the address
        policy; the token goes only with a hop to its origin. Errors never carry the token."""
        try:
            return self._get_hops(url, headers or {}, limit or self._max_bytes)
        except FetchError as e:
            if self._token is None:
                raise
            raise type(e)(scrub(str(e), self._token)) from None

    def _get_hops(self, url: str, headers: Mapping[str, str], limit: int) -> _Fetched:
        for hop in range(MAX_REDIRECTS + 1):
            refused = _RefusedFirst if hop == 0 else FetchError
            try:
                self._policy.check_listed(url)
            except Refused as e:
                raise refused(f"refused: {e}") from e
            if not self._allowed_host(url):
                raise refused(f"refused: {url[:200]} is on a host this source may not crawl")
            wait = remaining(self._deadline, self._timeout)
            if wait <= 0:
                raise _PastDeadline(DEADLINE_PASSED)
            hop_headers = dict(headers)
            if self._token is not None and self._token.sent_to(url):
                hop_headers["Authorization"] = f"Bearer {self._token.value}"
            try:
                with self._client.stream(
                    "GET", url, headers=hop_headers, timeout=httpx.Timeout(wait)
                ) as resp:
                    if resp.status_code in (301, 302, 303, 307, 308) and "location" in resp.headers:
                        url = urldefrag(urljoin(url, resp.headers["location"]))[0]
                        continue
                    body = self._body(resp, url, limit) if resp.status_code == 200 else b""
                    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                    fp = _fingerprint(resp, body) if resp.status_code == 200 else None
                    return _Fetched(resp.status_code, url, body, ctype, fp)
            except Refused as e:  # the connection's lookup answered a refused address
                raise refused(f"refused: {e}") from e
            except httpx.HTTPError as e:
                if passed(self._deadline):
                    raise _PastDeadline(DEADLINE_PASSED) from e
                raise FetchError(f"{url[:200]}: {type(e).__name__}: {e}") from e
        raise FetchError(f"{url[:200]}: more than {MAX_REDIRECTS} redirects")

    def _body(self, resp: httpx.Response, url: str, limit: int) -> bytes:
        declared = int(resp.headers.get("content-length") or 0)
        if declared > limit:
            raise FetchError(f"{url[:200]} is {declared} bytes, over the limit of {limit}")
        parts = []
        size = 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchError(f"{url[:200]} is over the limit of {limit} bytes")
            if passed(self._deadline):  # a slow drip within the read timeout
                raise _PastDeadline(DEADLINE_PASSED)
            parts.append(chunk)
        return b"".join(parts)

    def _robots_for(self, url: str) -> RobotFileParser | str:
        """The rules of ``url``'s origin, or why its robots.txt leaves the listing in doubt: one
        that answers 401/403/429/5xx or cannot be read may forbid pages this source held, so
        they are neither fetched nor taken for gone."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._robots:
            rp = RobotFileParser()
            verdict: RobotFileParser | str = rp
            try:
                got = self._get(key + "/robots.txt", limit=MAX_ROBOTS_BYTES)
            except _PastDeadline:
                raise
            except _RefusedFirst:
                rp.allow_all = True  # the page itself will be refused, with the reason
            except FetchError as e:
                verdict = f"robots.txt of {parts.netloc} could not be read ({e})"
            else:
                if got.status == 200:
                    rp.parse(got.body.decode("utf-8", "replace").splitlines())
                elif got.status in (401, 403, 429) or got.status >= 500:
                    verdict = f"robots.txt of {parts.netloc} answered {got.status}"
                else:  # 404 and the like: no rules
                    rp.allow_all = True
            self._robots[key] = verdict
        return self._robots[key]

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
                raise SourceUnavailable(f"cannot read the sitemap: {e}") from None
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
            try:
                start = [(u, cfg.max_depth) for u in self._sitemap()]
            except BaseException:
                self.close()
                raise
        else:
            start = [(urldefrag(cfg.url)[0], 0)]
        scan = Scan(iter(()), close=self.close, read_ahead=False)
        scan.entries = self._crawl(start, previous, scan)
        return scan

    def close(self) -> None:
        self._tripwire.close()
        self._client.close()

    @staticmethod
    def _doubt(scan: Scan, why: str) -> None:
        scan.complete = False
        if scan.doubt is None:
            scan.doubt = f"{why}: nothing is deleted"

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
            if passed(self._deadline):
                scan.complete, scan.doubt = False, DEADLINE_PASSED
                return
            url, depth = queue.popleft()
            if not self._allowed_host(url):
                continue
            try:
                self._policy.check_listed(url)
            except Refused as e:
                scan.complete = False
                yield Entry(url, url, None, error=f"refused: {e}")
                continue
            try:
                rules = self._robots_for(url)
            except _PastDeadline:
                scan.complete, scan.doubt = False, DEADLINE_PASSED
                return
            if isinstance(rules, str):
                self._doubt(scan, rules)
                scan.skipped += 1
                continue
            if not rules.can_fetch(USER_AGENT, url):
                scan.skipped += 1
                continue
            path = urlsplit(url).path or "/"
            ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
            is_document = ext in DOCUMENT_EXTENSIONS
            known = previous.get(url)
            fetched += 1
            try:
                got = self._get(url, _conditional(known.fingerprint if known else None))
            except _PastDeadline:
                scan.complete, scan.doubt = False, DEADLINE_PASSED
                return
            except FetchError as e:
                if url == start_url and fetched == 1:
                    raise SourceUnavailable(f"cannot reach {url}: {e}") from None
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
                try:
                    links = links_of(got.body, got.url) if depth < cfg.max_depth else []
                except BrokenLinks as e:
                    # kept as it was (no fingerprint taken), and what it linked to is not gone
                    self._doubt(scan, str(e))
                    yield Entry(url, url, None, error=str(e))
                    continue
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
