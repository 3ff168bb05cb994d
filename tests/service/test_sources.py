"""Sources synced in this process against real things: a folder in a temp dir, a website on a local
HTTP server, a git repository made with the git binary. The run is the code the sources worker's
task calls (``sources.sync.run``); the documents it queues go through the real pipeline and
indexer (``Harness.work``)."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from core.catalog import DocStatus, Document, Source, SourceItem
from core.celery_app import PROCESS_MANY_TASK, PROCESS_TASK
from core.secrets import Vault
from sources import tokens
from sources.sync import SyncContext, run
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(
        tmp_path_factory.mktemp("sources"),
        sources_private_hosts="127.0.0.1",  # the test's web server; nothing else private
        sources_allowed_hosts="127.0.0.1,127.0.0.2",  # egress allowlist: this machine only
        sources_folder_roots=str(tmp_path_factory.getbasetemp()),  # the tests' temp dirs only
        sources_lease_seconds=30,
    ) as harness:
        yield harness
    broker.flushdb()


class Sent(list):
    """What a run sent to the queues: (task, id)."""

    def __call__(self, task: str, key: str | list[str]) -> None:
        self.append((task, key))


def ctx(h: Harness, sent: Sent | None = None) -> SyncContext:
    return SyncContext(
        settings=h.settings,
        catalog=h.services.catalog,
        blobs=h.services.blobs,
        vault=Vault(h.settings.secret_key, h.settings.data_dir / "secret.key"),
        enqueue=sent if sent is not None else Sent(),
    )


def add(h: Harness, collection: str, kind: str, config: dict, **extra: object) -> dict:
    body = {"collection": collection, "name": f"{kind} test", "kind": kind, "config": config}
    r = h.client.post("/sources", json={**body, "sync_now": False, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def sync(h: Harness, source_id: str, sent: Sent | None = None, confirm: bool = False) -> dict:
    """One run by hand, then the pipeline and indexer until the catalog settles."""
    params = {"confirm_deletions": "true"} if confirm else None
    r = h.client.post(f"/sources/{source_id}/sync", params=params)
    assert r.status_code == 202, r.text
    out = run(ctx(h, sent), r.json()["id"])
    assert out.status is not None
    h.work()
    runs = h.client.get(f"/sources/{source_id}/runs").json()
    assert runs[0]["id"] == r.json()["id"]
    return runs[0]


def live(h: Harness, collection: str) -> dict[str, dict]:
    return {d["origin"]: d for d in h.documents(collection) if d["status"] != "deleted"}


def test_folder_add_change_delete_rename(h: Harness, tmp_path: Path) -> None:
    root = tmp_path / "share"
    (root / "sub").mkdir(parents=True)
    (root / "alpha.txt").write_text("Alpha reports the lighthouse keeper's logbook from 1911.")
    (root / "beta.md").write_text("# Beta\n\nBeta covers the orchard's pear harvest schedule.")
    (root / "sub" / "gamma.txt").write_text("Gamma explains the tram network's night service.")
    (root / ".hidden.txt").write_text("hidden files are not synced by default")
    outside = tmp_path / "outside.txt"
    outside.write_text("a secret outside the shared folder")
    os.symlink(outside, root / "escape.txt")  # points out of the root: never followed
    src = add(h, "share", "folder", {"path": str(root)})

    first = sync(h, src["id"])
    assert first["status"] == "done", first
    assert (first["new"], first["changed"], first["deleted"], first["failed"]) == (3, 0, 0, 0)
    docs = live(h, "share")
    assert set(docs) == {"alpha.txt", "beta.md", "sub/gamma.txt"}
    assert all(d["status"] == "ready" and d["source_id"] == src["id"] for d in docs.values())
    hits = h.search("share", "lighthouse keeper logbook")
    assert hits[0]["document_name"] == "alpha.txt" and hits[0]["origin"] == "alpha.txt"
    assert not any("secret outside" in p["text"] for p in h.search("share", "secret outside"))

    sent = Sent()
    again = sync(h, src["id"], sent)
    assert (again["unchanged"], again["new"], again["changed"], again["deleted"]) == (3, 0, 0, 0)
    assert sent == [], "an unchanged re-sync sends no work"

    (root / "alpha.txt").write_text("Alpha now reports the harbour master's tide tables.")
    (root / "sub" / "gamma.txt").unlink()
    (root / "beta.md").rename(root / "beta-renamed.md")
    (root / "delta.txt").write_text("Delta describes the glassblower's furnace temperatures.")
    os.utime(root / "delta.txt")
    before = live(h, "share")
    changed = sync(h, src["id"])
    assert (changed["changed"], changed["deleted"], changed["renamed"], changed["new"]) == (
        1,
        1,
        1,
        1,
    ), changed
    docs = live(h, "share")
    assert set(docs) == {"alpha.txt", "beta-renamed.md", "delta.txt"}
    assert docs["beta-renamed.md"]["id"] == before["beta.md"]["id"], "a rename re-ingests nothing"
    assert docs["beta-renamed.md"]["name"] == "beta-renamed.md"
    assert docs["alpha.txt"]["id"] != before["alpha.txt"]["id"]
    assert all(d["status"] == "ready" for d in docs.values())
    assert h.search("share", "harbour master tide tables")[0]["document_name"] == "alpha.txt"
    assert not any("lighthouse" in p["text"] for p in h.search("share", "lighthouse logbook"))
    assert not any("tram" in p["text"] for p in h.search("share", "tram night service"))

    # a touched file with the same bytes is unchanged; nothing is sent
    os.utime(root / "delta.txt", (1_000_000_000, 1_000_000_000))
    sent = Sent()
    quiet = sync(h, src["id"], sent)
    assert (quiet["unchanged"], quiet["new"], quiet["changed"], quiet["deleted"]) == (3, 0, 0, 0)
    assert sent == []


def test_folder_that_vanished_fails_the_run_and_deletes_nothing(h: Harness, tmp_path: Path) -> None:
    root = tmp_path / "mount"
    root.mkdir()
    (root / "one.txt").write_text("The quarry's granite blocks were cut by hand.")
    src = add(h, "mount", "folder", {"path": str(root)})
    assert sync(h, src["id"])["new"] == 1
    root.rename(tmp_path / "unmounted")
    failed = sync(h, src["id"])
    assert failed["status"] == "failed" and "not a directory" in failed["message"]
    assert set(live(h, "mount")) == {"one.txt"}


def test_folders_outside_the_open_roots_are_refused(h: Harness) -> None:
    body = {"collection": "roots", "name": "etc", "kind": "folder", "sync_now": False}
    for path in ("/etc", "/", str(h.settings.data_dir)):
        r = h.client.post("/sources", json={**body, "config": {"path": path}})
        assert r.status_code == 403, r.text
        assert "ASKDOCS_SOURCES_FOLDER_ROOTS" in r.text or "data directory" in r.text
    r = h.client.post("/sources", json={**body, "kind": "git", "config": {"url": "/srv/repo.git"}})
    assert r.status_code == 403


def test_source_api_keeps_the_token_secret(h: Harness, tmp_path: Path) -> None:
    src = add(
        h, "secrets", "web", {"url": "https://127.0.0.1/"}, token="tok-123-secret", schedule="6h"
    )
    assert src["has_token"] is True and "tok-123-secret" not in str(src)
    assert src["schedule"] == "every 6h" and src["next_run_at"] is not None
    listed = h.client.get("/sources", params={"collection": "secrets"}).json()
    assert "tok-123-secret" not in str(listed)
    with h.services.catalog.reader() as s:
        row = s.get(Source, src["id"])
        assert row is not None and row.secret is not None and b"tok-123" not in row.secret
        bound = tokens.unseal(ctx(h).vault, row.secret, "https://127.0.0.1/")
        assert bound is not None and bound.value == "tok-123-secret"
        assert bound.origin == "https://127.0.0.1"
    bad = h.client.post(
        "/sources",
        json={"collection": "secrets", "name": "x", "kind": "web", "config": {"url": "ftp://x/"}},
    )
    assert bad.status_code == 422 and "url" in str(bad.json()["error"]["detail"])
    bad = h.client.patch(f"/sources/{src['id']}", json={"schedule": "sometimes"})
    assert bad.status_code == 422 and "schedule" in str(bad.json()["error"]["detail"])
    r = h.client.patch(f"/sources/{src['id']}", json={"token": "", "schedule": "0 3 * * *"})
    assert r.status_code == 200 and r.json()["has_token"] is False
    assert r.json()["schedule"] == "0 3 * * *"
    assert h.client.delete(f"/sources/{src['id']}").status_code == 204
    assert h.client.get(f"/sources/{src['id']}").status_code == 404


# -- web -------------------------------------------------------------------------------------------


class Site:
    """A small website on 127.0.0.1 with ETags and a request log."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.log: list[tuple[str, int]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path
                if path in site.redirects:
                    self.send_response(302)
                    self.send_header("Location", site.redirects[path])
                    self.end_headers()
                    site.log.append((path, 302))
                    return
                if path not in site.pages:
                    self.send_response(404)
                    self.end_headers()
                    site.log.append((path, 404))
                    return
                ctype, body = site.pages[path]
                etag = f'"{abs(hash(body))}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    site.log.append((path, 304))
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                site.log.append((path, 200))

            def log_message(self, *_args: object) -> None:
                pass

        self.redirects: dict[str, str] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def html(self, path: str, title: str, text: str, links: list[str] = ()) -> None:  # type: ignore[assignment]
        a = "".join(f'<a href="{href}">{href}</a> ' for href in links)
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p>{a}</body></html>"
        self.pages[path] = ("text/html; charset=utf-8", page.encode())


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.shutdown()


def test_web_crawl_robots_conditional_get_and_deletion(h: Harness, site: Site) -> None:
    site.pages["/robots.txt"] = ("text/plain", b"User-agent: *\nDisallow: /private/\n")
    site.html(
        "/index.html",
        "Handbook",
        "The staff handbook start page.",
        ["/a.html", "/b.html", "/private/x.html", "/notes.txt", "http://example.org/off-site"],
    )
    site.html("/a.html", "Ferries", "The ferry to the island leaves at seven each morning.")
    site.html("/b.html", "Bakery", "The bakery bakes rye loaves on Thursdays only.")
    site.html("/private/x.html", "Private", "Salaries of the directors.")
    site.pages["/notes.txt"] = ("text/plain", b"Notes: the archive closes at noon on Fridays.")
    src = add(h, "web", "web", {"url": site.url + "/index.html", "max_depth": 2})

    first = sync(h, src["id"])
    assert first["status"] == "done", first
    assert (first["new"], first["failed"]) == (4, 0), first
    assert first["skipped"] >= 1  # robots.txt said no
    assert not any(p.startswith("/private/") for p, _st in site.log), "robots.txt honoured"
    docs = live(h, "web")
    assert set(docs) == {site.url + p for p in ("/index.html", "/a.html", "/b.html", "/notes.txt")}
    hit = h.search("web", "ferry to the island")[0]
    assert hit["origin"] == site.url + "/a.html"

    site.log.clear()
    site.html("/a.html", "Ferries", "The ferry now leaves at nine, from the new pier.")
    del site.pages["/b.html"]
    second = sync(h, src["id"])
    assert (second["changed"], second["deleted"], second["unchanged"], second["new"]) == (
        1,
        1,
        2,
        0,
    ), second
    assert ("/index.html", 304) in site.log, "a re-sync asks with the ETag it kept"
    docs = live(h, "web")
    assert site.url + "/b.html" not in docs
    assert h.search("web", "ferry new pier")[0]["origin"] == site.url + "/a.html"
    assert not any("rye" in p["text"] for p in h.search("web", "bakery rye loaves"))


def test_web_sitemap(h: Harness, site: Site) -> None:
    site.html("/a.html", "Kiln", "The kiln is fired once a month.")
    site.html("/b.html", "Loom", "The loom weaves wool from the island's sheep.")
    site.pages["/sitemap.xml"] = (
        "application/xml",
        (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{site.url}/a.html</loc></url><url><loc>{site.url}/b.html</loc></url>"
            "</urlset>"
        ).encode(),
    )
    src = add(h, "sitemap", "web", {"url": site.url + "/sitemap.xml"})
    done = sync(h, src["id"])
    assert (done["status"], done["new"]) == ("done", 2), done
    assert set(live(h, "sitemap")) == {site.url + "/a.html", site.url + "/b.html"}


def test_web_redirect_to_a_private_address_is_refused(h: Harness, site: Site) -> None:
    port = site.server.server_address[1]
    # 127.0.0.2 is loopback too, but not on the admin's list (127.0.0.1 is)
    site.redirects["/start"] = f"http://127.0.0.2:{port}/inside.html"
    site.html("/inside.html", "Inside", "Metadata of the cloud instance.")
    src = add(
        h,
        "ssrf",
        "web",
        {"url": site.url + "/start", "allowed_hosts": [f"127.0.0.2:{port}"]},
    )
    failed = sync(h, src["id"])
    assert failed["status"] == "failed", failed
    assert "loopback" in failed["message"] and "127.0.0.2" in failed["message"]
    assert ("/inside.html", 200) not in site.log
    assert live(h, "ssrf") == {}


def test_egress_allowlist_refuses_other_hosts_at_add_and_at_redirect(
    h: Harness, site: Site
) -> None:
    body = {"collection": "egress", "name": "out", "kind": "web", "sync_now": False}
    r = h.client.post("/sources", json={**body, "config": {"url": "https://docs.example.org/"}})
    assert r.status_code == 403, r.text
    assert "ASKDOCS_SOURCES_ALLOWED_HOSTS" in r.text
    r = h.client.post(
        "/sources", json={**body, "kind": "git", "config": {"url": "https://git.example.org/r.git"}}
    )
    assert r.status_code == 403, r.text
    # a page on an allowed host that redirects out: refused at the hop, before any lookup (the
    # suite's network guard fails the run on a lookup of a name that is not local)
    site.redirects["/away"] = "http://docs.example.org/secret.html"
    src = add(
        h, "egress", "web", {"url": site.url + "/away", "allowed_hosts": ["docs.example.org"]}
    )
    failed = sync(h, src["id"])
    assert failed["status"] == "failed", failed
    assert "ASKDOCS_SOURCES_ALLOWED_HOSTS" in failed["message"]
    assert live(h, "egress") == {}


# -- git -------------------------------------------------------------------------------------------


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


def test_git_source_reads_only_what_changed(h: Harness, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README.md").write_text("# Rover\n\nThe rover's wheels are made of aluminium.")
    (work / "docs").mkdir()
    (work / "docs" / "power.md").write_text("# Power\n\nThe rover runs on a plutonium battery.")
    (work / "docs" / "comms.rst").write_text("Comms\n=====\n\nThe rover talks to Earth via relay.")
    (work / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # not a document
    (work / "analysis.ipynb").write_text(
        '{"cells": [{"cell_type": "markdown", "source": ["# Dust\\n", "Dust storms cut the '
        'rover\'s solar input."]}, {"cell_type": "code", "source": "print(42)"}], "nbformat": 4}'
    )
    git(work, "add", ".")
    git(work, "commit", "-qm", "first")
    bare = tmp_path / "rover.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    src = add(h, "rover", "git", {"url": str(bare), "branch": "main"})

    first = sync(h, src["id"])
    assert (first["status"], first["new"], first["listed"]) == ("done", 4, 4), first
    docs = live(h, "rover")
    assert set(docs) == {"README.md", "docs/power.md", "docs/comms.rst", "analysis.ipynb"}
    assert h.search("rover", "dust storms solar input")[0]["document_name"] == "analysis.ipynb"

    (work / "README.md").write_text("# Rover\n\nThe rover's wheels are now titanium mesh.")
    git(work, "rm", "-q", "docs/power.md")
    git(work, "commit", "-qam", "second")
    git(work, "push", "-q", str(bare), "main")
    second = sync(h, src["id"])
    # only the two changed paths were listed and read: the diff between the two commits
    assert (second["listed"], second["changed"], second["deleted"], second["new"]) == (1, 1, 1, 0)
    docs = live(h, "rover")
    assert set(docs) == {"README.md", "docs/comms.rst", "analysis.ipynb"}
    assert h.search("rover", "titanium mesh wheels")[0]["document_name"] == "README.md"
    with h.services.catalog.reader() as s:
        items = s.scalars(select(SourceItem.origin).where(SourceItem.source_id == src["id"]))
        assert set(items) == set(docs)
        statuses = s.scalars(select(Document.status).where(Document.source_id == src["id"]))
        assert set(statuses) <= {DocStatus.ready, DocStatus.deleted}

    nothing = sync(h, src["id"])
    assert (nothing["listed"], nothing["new"], nothing["changed"], nothing["deleted"]) == (
        0,
        0,
        0,
        0,
    )

    missing = add(h, "rover", "git", {"url": str(bare), "branch": "nope"})
    failed = sync(h, missing["id"])
    assert failed["status"] == "failed" and "main" in failed["message"]


def test_removing_a_source_removes_its_documents(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("The observatory dome opens at dusk.")
    src = add(h, "removal", "folder", {"path": str(tmp_path)})
    sync(h, src["id"])
    assert set(live(h, "removal")) == {"x.txt"}
    assert h.client.delete(f"/sources/{src['id']}").status_code == 204
    h.work()
    assert live(h, "removal") == {}
    assert not h.search("removal", "observatory dome")


def test_a_failed_new_version_keeps_the_old_until_the_file_goes(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("The mill grinds rye on Tuesdays.")
    src = add(h, "versions", "folder", {"path": str(tmp_path)})
    sync(h, src["id"])
    (tmp_path / "m.txt").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(300))  # not a document
    changed = sync(h, src["id"])
    assert changed["changed"] == 1
    docs = [d for d in h.documents("versions") if d["status"] != "deleted"]
    assert sorted(d["status"] for d in docs) == ["failed", "ready"]  # the old one still answers
    assert h.search("versions", "mill grinds rye")[0]["document_name"] == "m.txt"
    (tmp_path / "m.txt").unlink()
    held = sync(h, src["id"])  # an empty listing of a source that held documents: held
    assert (held["status"], held["held"], held["deleted"]) == ("held", 1, 0), held
    gone = sync(h, src["id"], confirm=True)
    assert gone["deleted"] == 1
    assert [d for d in h.documents("versions") if d["status"] != "deleted"] == []
    assert not h.search("versions", "mill grinds rye")


def test_a_folder_of_small_files_is_sent_as_batches(h: Harness, tmp_path: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(20):
        (root / f"note{i:02}.txt").write_text(f"Note {i} records the ferry timetable of pier {i}.")
    (root / "large.txt").write_text("A long ledger line about the harbour dues. " * 8_000)
    src = add(h, "many", "folder", {"path": str(root)})
    sent = Sent()

    first = sync(h, src["id"], sent)

    assert first["status"] == "done" and first["new"] == 21, first
    docs = live(h, "many")
    assert all(d["status"] == "ready" for d in docs.values())
    assert (PROCESS_TASK, docs["large.txt"]["id"]) in sent
    groups = [ids for task, ids in sent if task == PROCESS_MANY_TASK]
    alone = [k for task, k in sent if task == PROCESS_TASK and k != docs["large.txt"]["id"]]
    small = sorted(d["id"] for origin, d in docs.items() if origin != "large.txt")
    # each small file sent once, mostly in one task per batch (a slow read sends a batch early)
    assert sorted([i for g in groups for i in g] + alone) == small
    assert all(2 <= len(g) <= h.settings.ingest_batch_docs for g in groups)
    assert len(sent) <= 4, sent
