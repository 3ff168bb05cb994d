"""Attacks on what web and git sources reach and send: a redirect or a second DNS answer that points
inside, a token sent where it should not go or echoed in an error, a robots.txt or a page that
would make a sync delete what it cannot see. Real HTTP servers on loopback addresses (127.0.0.1 is
the operator's allowlisted "inside" host; 127.0.0.3 stands for an inside address nobody opened), a
real git repository served by dulwich's smart-HTTP WSGI app, the real connectors."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import pytest
from dulwich.repo import Repo
from dulwich.server import DictBackend
from dulwich.web import WSGIRequestHandlerLogger, make_wsgi_chain

from sources.addresses import AddressPolicy
from sources.config import GitConfig, WebConfig
from sources.gitrepo import GitConnector
from sources.types import BoundToken, Scan, SourceUnavailable
from sources.web import WebConnector

pytestmark = pytest.mark.service

TOKEN = "tok-Zq81-very-secret"
INSIDE = "127.0.0.3"  # loopback, and not on the allowlist below
Answer = tuple[int, dict[str, str], bytes]


def policy(resolve: Callable[[str, int], list[str]] | None = None) -> AddressPolicy:
    if resolve is None:
        return AddressPolicy(["127.0.0.1"])
    return AddressPolicy(["127.0.0.1"], resolve=resolve)


class Site:
    """An HTTP server on ``host`` that answers from ``routes`` (path -> status, headers, body, or
    a function of the request's headers that gives them) and records each request's path and
    headers."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Answer | Callable[[dict[str, str]], Answer]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                headers = {k.lower(): v for k, v in self.headers.items()}
                site.seen.append((self.path, headers))
                answer = site.routes.get(self.path, (404, {}, b""))
                status, headers, body = answer(headers) if callable(answer) else answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path: str, html: str) -> None:
        self.routes[path] = (200, {"Content-Type": "text/html"}, html.encode())

    def paths(self) -> list[str]:
        return [p for p, _h in self.seen]


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.shutdown()


@pytest.fixture
def inside() -> Iterator[Site]:
    s = Site(INSIDE)
    s.page("/robots.txt", "")
    s.page("/secret.html", "<p>instance metadata</p>")
    yield s
    s.server.shutdown()


def web(url: str, pol: AddressPolicy | None = None, **kw: Any) -> WebConnector:
    allowed = kw.pop("allowed_hosts", [])
    cfg = WebConfig(url=url, allowed_hosts=allowed, max_depth=kw.pop("max_depth", 2))
    return WebConnector(cfg, pol or policy(), 1_000_000, **kw)


def consume(scan: Scan) -> list:
    return list(scan.entries)


# -- git served over loopback HTTP -----------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    ).stdout


class GitServer:
    """A repository served by dulwich's smart-HTTP app on ``host``, at /repo.git; records each
    request's path and Authorization header; ``redirect`` sends every request elsewhere."""

    def __init__(self, repo: Path, host: str = "127.0.0.1") -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.redirect: str | None = None
        app = make_wsgi_chain(DictBackend({"/repo.git": Repo(str(repo))}))

        def recorded(environ: dict, start_response: Callable) -> Any:
            self.seen.append((environ["PATH_INFO"], environ.get("HTTP_AUTHORIZATION")))
            if self.redirect is not None:
                query = environ.get("QUERY_STRING")
                target = self.redirect + environ["PATH_INFO"] + (f"?{query}" if query else "")
                start_response("302 Found", [("Location", target), ("Content-Length", "0")])
                return [b""]
            return app(environ, start_response)

        class Threading(WSGIServer):
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                threading.Thread(
                    target=self._one, args=(request, client_address), daemon=True
                ).start()

            def _one(self, request: Any, client_address: Any) -> None:
                try:
                    self.finish_request(request, client_address)
                finally:
                    self.shutdown_request(request)

        self.server = make_server(
            host, 0, recorded, server_class=Threading, handler_class=WSGIRequestHandlerLogger
        )
        self.url = f"http://{host}:{self.server.server_address[1]}/repo.git"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def make_repo(where: Path, text: str) -> Path:
    work = where / "work"
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    (work / "README.md").write_text(text)
    git(work, "add", ".")
    git(work, "commit", "-qm", "first")
    bare = where / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


@pytest.fixture
def repos(tmp_path: Path) -> Iterator[tuple[GitServer, GitServer]]:
    """(outside, inside): the source's repository on 127.0.0.1, another on the inside address."""
    out = GitServer(make_repo(tmp_path / "out", "# Outside\n\nPublic notes."))
    ins = GitServer(
        make_repo(tmp_path / "in", "# Inside\n\nThe payroll database password."), INSIDE
    )
    yield out, ins
    out.server.shutdown()
    ins.server.shutdown()


def git_source(
    url: str, tmp_path: Path, pol: AddressPolicy | None = None, **kw: Any
) -> GitConnector:
    cfg = GitConfig(url=url, branch="main")
    mirror = tmp_path / f"mirror-{time.monotonic_ns()}.git"
    return GitConnector(cfg, mirror, {}, 1_000_000, pol or policy(), **kw)


def git_files(conn: GitConnector) -> dict[str, bytes]:
    scan = conn.scan({})
    return {e.origin: e.read() for e in scan.entries if e.read is not None}


# -- (a) a redirect to an address nobody opened ---------------------------------------------------


def test_web_redirect_to_an_inside_address_is_refused(site: Site, inside: Site) -> None:
    site.routes["/start"] = (302, {"Location": f"{inside.url}/secret.html"}, b"")
    conn = web(site.url + "/start", allowed_hosts=[f"{INSIDE}:{inside.port}"])
    with pytest.raises(SourceUnavailable, match=r"loopback.*127\.0\.0\.3"):
        consume(conn.scan({}))
    assert inside.seen == []


def test_git_redirect_to_another_host_is_refused(
    repos: tuple[GitServer, GitServer], tmp_path: Path
) -> None:
    out, ins = repos
    assert git_files(git_source(out.url, tmp_path)) == {"README.md": b"# Outside\n\nPublic notes."}
    # the outside server now sends every request to the inside one: dulwich (urllib3) would follow
    out.redirect = ins.url.removesuffix("/repo.git")
    with pytest.raises(SourceUnavailable, match="redirects to another host"):
        git_files(git_source(out.url, tmp_path))
    assert ins.seen == []


def test_git_redirect_to_a_refused_address_on_the_same_name_is_refused(
    repos: tuple[GitServer, GitServer], tmp_path: Path
) -> None:
    """Same host name, so the redirect is followed, but its connection is checked again."""
    out, ins = repos
    port = out.url.split(":")[2].split("/")[0]
    answers = iter([["127.0.0.1"]] + [[INSIDE]] * 20)
    names = policy(lambda host, _port: next(answers) if host == "repo.test" else [host])
    ins_port = ins.url.split(":")[2].split("/")[0]
    out.redirect = f"http://repo.test:{ins_port}"
    with pytest.raises(SourceUnavailable, match=r"127\.0\.0\.3"):
        git_files(git_source(f"http://repo.test:{port}/repo.git", tmp_path, names))
    assert ins.seen == []


# -- (b) DNS rebinding: one lookup, checked, and the connection goes there -------------------------


def test_web_connection_goes_to_the_checked_address(inside: Site) -> None:
    # the same port on the allowed address and on the inside one
    outside = Site("127.0.0.1", inside.port)
    try:
        outside.page("/index.html", "<p>outside page</p>")
        looked_up: list[str] = []

        def rebinding(host: str, _port: int) -> list[str]:
            looked_up.append(host)
            return ["127.0.0.1"] if len(looked_up) == 1 else [INSIDE]

        conn = web(f"http://rebind.test:{inside.port}/index.html", policy(rebinding))
        with pytest.raises(SourceUnavailable, match=r"rebind\.test is a loopback.*127\.0\.0\.3"):
            consume(conn.scan({}))
        # robots.txt went to the first (checked) answer with the name in Host; the page's new
        # connection looked the name up again, was checked, and refused: never sent inside
        assert outside.seen[0][0] == "/robots.txt"
        assert outside.seen[0][1]["host"] == f"rebind.test:{inside.port}"
        assert inside.seen == []
        assert looked_up == ["rebind.test", "rebind.test"]  # one lookup per connection, no other
    finally:
        outside.server.shutdown()


def test_git_connection_goes_to_the_checked_address(
    repos: tuple[GitServer, GitServer], tmp_path: Path
) -> None:
    out, ins = repos
    port = out.url.split(":")[2].split("/")[0]
    looked_up: list[str] = []

    def pinned(host: str, _port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    files = git_files(git_source(f"http://repo.test:{port}/repo.git", tmp_path, policy(pinned)))
    assert files == {"README.md": b"# Outside\n\nPublic notes."}
    assert looked_up and set(looked_up) == {"repo.test"}
    assert ins.seen == []


# -- (c) a token only to its https origin ----------------------------------------------------------


def test_web_token_is_never_sent_over_http(site: Site) -> None:
    other = Site()
    try:
        site.page("/index.html", f'<a href="{other.url}/page.html">next</a>')
        site.routes["/away"] = (302, {"Location": f"{other.url}/page.html"}, b"")
        other.page("/page.html", "<p>other</p>")
        bound = BoundToken(TOKEN, "https://" + site.url.removeprefix("http://"))
        for token in (bound, TOKEN):  # a plain string for an http URL is dropped too
            conn = web(site.url + "/index.html", token=token, allowed_hosts=[other.url[7:]])
            entries = consume(conn.scan({}))
            assert {e.origin for e in entries} == {
                site.url + "/index.html",
                other.url + "/page.html",
            }
            consume(web(site.url + "/away", token=token, allowed_hosts=[other.url[7:]]).scan({}))
        headers = [h for _p, h in site.seen + other.seen]
        assert headers and not any("authorization" in h for h in headers)
    finally:
        other.server.shutdown()


def test_git_token_is_never_sent_over_http(
    repos: tuple[GitServer, GitServer], tmp_path: Path
) -> None:
    out, _ins = repos
    for token in (BoundToken(TOKEN, "https://" + out.url[7:].split("/")[0]), TOKEN):
        files = git_files(git_source(out.url, tmp_path, token=token))
        assert files == {"README.md": b"# Outside\n\nPublic notes."}
    assert out.seen and all(auth is None for _p, auth in out.seen)


# -- (d) robots.txt and links that would make a sync delete what it cannot see ---------------------


def test_a_robots_txt_that_answers_403_puts_the_listing_in_doubt(site: Site) -> None:
    site.routes["/robots.txt"] = (403, {}, b"")
    site.page("/index.html", '<a href="/a.html">a</a>')
    scan = web(site.url + "/index.html").scan({})
    assert consume(scan) == []
    assert scan.complete is False
    assert scan.doubt == f"robots.txt of 127.0.0.1:{site.port} answered 403: nothing is deleted"
    assert site.paths() == ["/robots.txt"]  # no page fetched


@pytest.mark.parametrize("status", [401, 500, 503])
def test_other_robots_failures_put_the_listing_in_doubt(site: Site, status: int) -> None:
    site.routes["/robots.txt"] = (status, {}, b"")
    site.page("/index.html", "<p>x</p>")
    scan = web(site.url + "/index.html").scan({})
    assert consume(scan) == [] and scan.complete is False
    assert scan.doubt is not None and f"answered {status}" in scan.doubt


def test_a_page_whose_links_cannot_be_read_puts_the_listing_in_doubt(site: Site) -> None:
    site.page("/index.html", '<a href="/a.html">a</a><![bogus[ x ]]><a href="/b.html">b</a>')
    site.page("/a.html", "<p>a</p>")
    scan = web(site.url + "/index.html").scan({})
    entries = consume(scan)
    assert scan.complete is False
    assert scan.doubt is not None and "links" in scan.doubt
    # the page is kept as it was (an error), not taken as a page that links to nothing
    assert [(e.origin, e.error is not None) for e in entries] == [(site.url + "/index.html", True)]


def test_a_run_past_its_deadline_stops_in_doubt(site: Site, tmp_path: Path) -> None:
    site.page("/index.html", "<p>x</p>")
    scan = web(site.url + "/index.html", deadline=time.monotonic() - 1).scan({})
    assert consume(scan) == [] and scan.complete is False
    assert scan.doubt == "the run passed its deadline"
    with pytest.raises(SourceUnavailable, match="deadline"):
        git_source(site.url + "/repo.git", tmp_path, deadline=time.monotonic() - 1).scan({})


def test_a_git_fetch_stops_at_its_byte_cap(
    repos: tuple[GitServer, GitServer], tmp_path: Path
) -> None:
    out, _ins = repos
    with pytest.raises(SourceUnavailable, match="ASKDOCS_SOURCES_GIT_MAX_BYTES"):
        git_files(git_source(out.url, tmp_path, fetch_max_bytes=100))


# -- (e) the token never shows in an error ---------------------------------------------------------


def test_the_token_never_appears_in_an_error(
    site: Site, repos: tuple[GitServer, GitServer], tmp_path: Path
) -> None:
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    failures: list[str] = []

    # a server that echoes whatever credentials came into a redirect the connector then refuses
    def echo(headers: dict[str, str]) -> Answer:
        auth = headers.get("authorization", "none").replace(" ", "+")
        return 302, {"Location": f"http://127.0.0.1:1/?auth={auth}"}, b""  # not an allowed host

    site.routes["/index.html"] = echo
    for token in (TOKEN, BoundToken(TOKEN, "https://" + site.url[7:])):
        with pytest.raises(SourceUnavailable) as e:
            consume(web(site.url + "/index.html", token=token).scan({}))
        assert "auth=none" in str(e.value)
        failures.append(str(e.value))

    out, ins = repos
    out.redirect = f"http://{INSIDE}:{ins.url.split(':')[2].split('/')[0]}"
    with pytest.raises(SourceUnavailable) as e:
        git_files(git_source(out.url, tmp_path, token=TOKEN))
    failures.append(str(e.value))
    # the token's own origin, over https, to a server that speaks plain http: a TLS failure
    host = site.url.removeprefix("http://")
    with pytest.raises(SourceUnavailable) as e:
        git_files(git_source(f"https://{host}/repo.git", tmp_path, token=TOKEN))
    failures.append(str(e.value))
    assert len(failures) == 4
    for text in failures:
        assert TOKEN not in text and basic not in text, text


# -- a server that drips its answer within every read timeout --------------------------------------


@pytest.fixture
def drip() -> Iterator[int]:
    """A server on 127.0.0.1 that answers a status line, then one header byte every 0.3 s,
    forever: each read succeeds within any timeout, so only the run's deadline can stop it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def one(c: socket.socket) -> None:
        try:
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.3):
                c.sendall(b"X")
        except OSError:
            pass
        finally:
            c.close()

    def serve() -> None:
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(c,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    stop.set()
    srv.close()


def _ends_by(work: Callable[[], object], seconds: float) -> tuple[float, object]:
    """Run ``work`` in a thread; how long it took (or ``seconds`` if still going) and its result
    or exception."""
    out: dict[str, object] = {}

    def go() -> None:
        try:
            out["result"] = work()
        except Exception as e:  # noqa: BLE001 - the outcome is what is checked
            out["result"] = e

    t0 = time.monotonic()
    th = threading.Thread(target=go, daemon=True)
    th.start()
    th.join(seconds)
    return time.monotonic() - t0, out.get("result")


def test_a_dripping_site_is_cut_at_the_runs_deadline(drip: int) -> None:
    conn = web(f"http://127.0.0.1:{drip}/", timeout=2, deadline=time.monotonic() + 3)
    took, result = _ends_by(lambda: consume(conn.scan({})), 20)
    assert took < 10, f"still reading after {took:.0f} s"
    assert isinstance(result, SourceUnavailable | list), result


def test_a_dripping_git_host_is_cut_at_the_runs_deadline(drip: int, tmp_path: Path) -> None:
    conn = git_source(
        f"http://127.0.0.1:{drip}/r.git", tmp_path, timeout=2, deadline=time.monotonic() + 3
    )
    took, result = _ends_by(lambda: conn.scan({}), 20)
    assert took < 10, f"still fetching after {took:.0f} s"
    assert isinstance(result, SourceUnavailable), result
