"""Sources, attacked by users holding ordinary keys: server folders nobody gave them, folders
swapped for links to the rest of the disk, a collection writer taking the owner's token, and
listings that would delete every document on doubt.

The API runs in this process with auth on (two users and an admin, keys made as the CLI makes
them), against a real SQLite catalog, real folders in a temp dir and a website on 127.0.0.1; runs
are the code the sources worker calls (``sources.sync.run``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.auth import add_user, create_key
from core.catalog import Collection
from core.secrets import Vault
from sources.config import FolderConfig
from sources.folder import FolderConnector
from sources.roots import PathRefused, ServerPaths
from sources.sync import SyncContext, run
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

pytestmark = pytest.mark.service

SECRET = "the payroll of the board: 1,200,000 a year"


@dataclass
class World:
    h: Harness
    admin: TestClient
    alice: TestClient
    bob: TestClient
    carol: TestClient  # no grant of her own
    open_root: Path  # granted to the collections "team" and "hr" and to @bob
    admin_root: Path  # admins only
    outside: Path  # not a root at all, holding a secret


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("roots")
    open_root, admin_root, outside = base / "open", base / "admin", base / "outside"
    for d in (open_root, admin_root, outside):
        d.mkdir()
    (outside / "payroll.txt").write_text(SECRET)
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(
        tmp_path_factory.mktemp("data"),
        auth=True,
        sources_private_hosts="127.0.0.1",
        sources_allowed_hosts="127.0.0.1,127.0.0.2",
        sources_folder_roots=f"{open_root}=team|hr|@bob, {admin_root}",
        sources_lease_seconds=30,
    ) as h:
        keys = {}
        with h.services.catalog.session() as s:
            add_user(s, "root", admin=True)
            for user in ("alice", "bob", "carol"):
                add_user(s, user)
            for user in ("root", "alice", "bob", "carol"):
                keys[user] = create_key(s, user)
        clients = {
            u: TestClient(h.client.app, headers={"Authorization": f"Bearer {k}"})
            for u, k in keys.items()
        }
        admin, alice = clients["root"], clients["alice"]
        h.client.headers["Authorization"] = f"Bearer {keys['root']}"  # the harness's own reads
        # "team" is an admin's collection (a grant to a name holds only then); alice and bob
        # write to it
        assert admin.post("/collections", json={"name": "team"}).status_code == 201
        for user in ("alice", "bob"):
            r = admin.put(f"/collections/team/members/{user}", json={"role": "write"})
            assert r.status_code in (200, 204), r.text
        assert alice.post("/collections", json={"name": "alices"}).status_code == 201
        yield World(
            h, admin, alice, clients["bob"], clients["carol"], open_root, admin_root, outside
        )
    broker.flushdb()


def ctx(h: Harness) -> SyncContext:
    return SyncContext(
        settings=h.settings,
        catalog=h.services.catalog,
        blobs=h.services.blobs,
        vault=Vault(h.settings.secret_key, h.settings.data_dir / "secret.key"),
        enqueue=lambda _task, _ids: None,
    )


def add_source(
    client: TestClient,
    collection: str,
    kind: str,
    config: dict,
    name: str = "share",
    **body: object,
) -> object:
    """POST /sources without a first sync; ``body`` adds fields (token, schedule)."""
    payload = {"collection": collection, "name": name, "kind": kind, "config": config}
    return client.post("/sources", json={**payload, "sync_now": False, **body})


def folder(client: TestClient, collection: str, path: Path | str, **config: object) -> object:
    return add_source(client, collection, "folder", {"path": str(path), **config})


def sync(w: World, client: TestClient, source_id: str, confirm: bool = False) -> dict:
    params = {"confirm_deletions": "true"} if confirm else None
    r = client.post(f"/sources/{source_id}/sync", params=params)
    assert r.status_code == 202, r.text
    run(ctx(w.h), r.json()["id"])
    w.h.work()
    runs = client.get(f"/sources/{source_id}/runs").json()
    assert runs[0]["id"] == r.json()["id"]
    return runs[0]


def source_documents(w: World, source_id: str) -> int:
    """How many live documents the source holds (GET /sources/{id})."""
    return w.admin.get(f"/sources/{source_id}").json()["documents"]


def live_names(w: World, collection: str) -> set[str]:
    return {d["name"] for d in w.h.documents(collection) if d["status"] != "deleted"}


# -- reading what no one gave you -----------------------------------------------------------------


def test_a_user_cannot_sync_a_folder_no_one_opened_to_them(w: World) -> None:
    (w.admin_root / "hr").mkdir()
    (w.admin_root / "hr" / "salaries.txt").write_text(SECRET)
    # an admins-only root: not for alice, in a new collection or in her own
    r = folder(w.alice, "stolen", w.admin_root / "hr")
    assert r.status_code == 404, r.text  # a folder source makes no collection for a non-admin
    r = folder(w.alice, "alices", w.admin_root / "hr")
    assert r.status_code == 403, r.text
    assert "not open to the collection" in r.json()["error"]["message"]
    # nor through a git repository given by path
    r = add_source(w.alice, "alices", "git", {"url": str(w.admin_root / "hr")}, name="repo")
    assert r.status_code == 403, r.text
    # a root granted to "team" is not open to alice's other collection, and naming a collection
    # that does not exist yet does not make it hers under that grant
    (w.open_root / "wiki").mkdir()
    assert folder(w.alice, "alices", w.open_root / "wiki").status_code == 403
    with w.h.services.catalog.reader() as s:
        assert s.get(Collection, "team2") is None
    assert folder(w.alice, "team2", w.open_root / "wiki").status_code in (403, 404)
    # where it was granted, it works; an admin may use any root
    assert folder(w.alice, "team", w.open_root / "wiki").status_code == 201
    assert folder(w.admin, "alices", w.admin_root / "hr").status_code == 201
    # bob's own grant (@bob) is his in a collection he may write
    assert w.bob.post("/collections", json={"name": "bobs"}).status_code == 201
    assert folder(w.bob, "bobs", w.open_root / "wiki").status_code == 201
    assert folder(w.bob, "alices", w.open_root / "wiki").status_code == 404
    # outside every root, and ':' (dulwich's ssh form), for everyone
    assert folder(w.admin, "alices", w.outside).status_code == 403
    assert folder(w.admin, "alices", f"{w.open_root}/a:b").status_code == 422
    r = add_source(w.admin, "alices", "git", {"url": f"{w.open_root}/host:repo"}, name="ssh")
    assert r.status_code == 422, r.text


def test_a_folder_swapped_for_a_link_reads_nothing_outside(w: World) -> None:
    share = w.open_root / "swap"
    share.mkdir()
    (share / "plan.txt").write_text("The canteen opens at eight.")
    src = folder(w.alice, "team", share).json()
    first = sync(w, w.alice, src["id"])
    assert first["status"] == "done" and first["new"] == 1
    shutil.rmtree(share)
    os.symlink(w.outside, share)  # the next run would read the secret through the link
    after = sync(w, w.alice, src["id"])
    assert after["status"] == "failed", after
    assert "outside the directories open to sources" in after["message"]
    assert after["deleted"] == 0 and live_names(w, "team") >= {"plan.txt"}
    assert not any(SECRET[:20] in p["text"] for p in w.h.search("team", "payroll of the board"))
    os.unlink(share)


def test_the_walk_follows_no_link_swapped_in_during_a_run(w: World, tmp_path: Path) -> None:
    share = w.open_root / "race"
    (share / "sub").mkdir(parents=True)
    (share / "a.txt").write_text("alpha")
    (share / "sub" / "b.txt").write_text("beta")
    paths = ServerPaths.from_setting(w.h.settings.sources_folder_roots, w.h.settings.data_dir)

    def check(opened: Path) -> None:
        paths.check_opened(opened, "team", None, False, True)

    # the root swapped after its path was checked: the opened directory is checked again
    shutil.rmtree(share)
    os.symlink(w.outside, share)
    conn = FolderConnector(FolderConfig(path=str(share)), 10_000, check)
    with pytest.raises(Exception, match="outside the directories open to sources"):
        conn.scan({})
    os.unlink(share)
    (share / "sub").mkdir(parents=True)
    (share / "a.txt").write_text("alpha")
    (share / "sub" / "b.txt").write_text("beta")

    scan = FolderConnector(FolderConfig(path=str(share)), 10_000, check).scan({})
    try:
        entries = iter(scan.entries)
        first = next(entries)
        assert first.origin == "a.txt"
        # a listed file becomes a link, and a folder not walked yet becomes one
        (share / "a.txt").unlink()
        os.symlink(w.outside / "payroll.txt", share / "a.txt")
        shutil.rmtree(share / "sub")
        os.symlink(w.outside, share / "sub")
        rest = list(entries)
        with pytest.raises(OSError):
            assert first.read is not None
            first.read()
        read = [e.read() for e in rest if e.read is not None]
        assert all(SECRET.encode() not in data for data in read)
        assert all(not e.origin.startswith("sub/") for e in rest)
    finally:
        if scan.close:
            scan.close()
    with pytest.raises(PathRefused):
        paths.check(str(share / "sub"), "team", None, False, True)


# -- leaking what was given to you ----------------------------------------------------------------


def web(client: TestClient, collection: str, url: str, token: str | None = None) -> object:
    extra = {} if token is None else {"token": token}
    return add_source(client, collection, "web", {"url": url}, name="intranet", **extra)


def test_a_collection_writer_cannot_redirect_the_owners_token(w: World) -> None:
    r = web(w.alice, "team", "https://127.0.0.1:8443/wiki/", token="alice-token-9931")
    assert r.status_code == 201, r.text
    src = r.json()
    assert src["has_token"] and src["token_origin"] == "https://127.0.0.1:8443"
    # bob writes to "team", but the source holds alice's token: he may not point it elsewhere
    for change in (
        {"config": {"url": "http://127.0.0.1:9999/"}},
        {"config": {"url": "https://127.0.0.1:8443/wiki/", "allowed_hosts": ["127.0.0.1:9999"]}},
        {"name": "harmless"},
    ):
        r = w.bob.patch(f"/sources/{src['id']}", json=change)
        assert r.status_code == 403, r.text
        assert "alice-token" not in r.text
    # bob may still sync it (he writes to the collection)
    assert w.bob.post(f"/sources/{src['id']}/sync").status_code == 202
    # the owner moving the URL forgets the token, unless she sends it again
    r = w.alice.patch(f"/sources/{src['id']}", json={"config": {"url": "https://127.0.0.2/"}})
    assert r.status_code == 200 and r.json()["has_token"] is False, r.text
    r = w.alice.patch(f"/sources/{src['id']}", json={"token": "alice-token-9931"})
    assert r.json()["token_origin"] == "https://127.0.0.2"
    # a token is never sent over plain http, nor to a folder
    assert web(w.alice, "team", "http://127.0.0.1:8080/", token="t").status_code == 422
    (w.open_root / "tok").mkdir(exist_ok=True)
    r = add_source(
        w.alice, "team", "folder", {"path": str(w.open_root / "tok")}, name="f", token="t"
    )
    assert r.status_code == 422, r.text
    listed = w.alice.get("/sources", params={"collection": "team"}).text
    runs = w.alice.get(f"/sources/{src['id']}/runs").text
    assert "alice-token" not in listed + runs


def test_a_schedule_more_often_than_the_minimum_is_refused(w: World) -> None:
    (w.open_root / "sched").mkdir(exist_ok=True)
    for every in ("every 1s", "30", "59s"):
        r = add_source(
            w.alice,
            "team",
            "folder",
            {"path": str(w.open_root / "sched")},
            name="s",
            schedule=every,
        )
        assert r.status_code == 422, (every, r.text)
        assert "ASKDOCS_SOURCES_MIN_INTERVAL_SECONDS" in r.text
    ok = add_source(
        w.alice,
        "team",
        "folder",
        {"path": str(w.open_root / "sched")},
        name="s",
        schedule="*/5 * * * *",
    )
    assert ok.status_code == 201, ok.text


# -- deleting what you must keep ------------------------------------------------------------------


def _share(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    topics = ["orchards", "ferries", "bakeries", "tramways", "lighthouses", "quarries"]
    for i in range(n):
        (root / f"doc{i}.txt").write_text(f"Document {i} describes the town's {topics[i]}.")


def test_an_unmounted_share_deletes_nothing_until_confirmed(w: World) -> None:
    share = w.open_root / "mount"
    _share(share, 4)
    src = folder(w.alice, "team", share).json()
    assert sync(w, w.alice, src["id"])["new"] == 4
    before = live_names(w, "team")
    # unmounted: the mount point is an empty directory
    shutil.rmtree(share)
    share.mkdir()
    held = sync(w, w.alice, src["id"])
    assert held["status"] == "held" and held["held"] == 4 and held["deleted"] == 0, held
    assert "listed nothing" in held["message"] and "--confirm-deletions" in held["message"]
    assert live_names(w, "team") == before
    # held again at the next run, until a person confirms
    assert sync(w, w.alice, src["id"])["status"] == "held"
    confirmed = sync(w, w.alice, src["id"], confirm=True)
    assert confirmed["status"] == "done" and confirmed["deleted"] == 4, confirmed
    assert not any(n.startswith("doc") for n in live_names(w, "team") - (before - set()))


def test_losing_more_than_half_is_held_and_less_is_not(w: World) -> None:
    share = w.open_root / "share-half"
    _share(share, 6)
    src = folder(w.alice, "team", share).json()
    assert sync(w, w.alice, src["id"])["new"] == 6
    (share / "doc0.txt").unlink()
    small = sync(w, w.alice, src["id"])
    assert small["status"] == "done" and small["deleted"] == 1, small
    for i in (1, 2, 3, 4):
        (share / f"doc{i}.txt").unlink()
    big = sync(w, w.alice, src["id"])
    assert big["status"] == "held" and big["held"] == 4 and big["deleted"] == 0, big
    assert source_documents(w, src["id"]) >= 5


def test_a_missing_marker_file_fails_the_run_and_deletes_nothing(w: World) -> None:
    share = w.open_root / "marked"
    _share(share, 2)
    (share / ".askdocs-share").write_text("")
    src = folder(w.alice, "team", share, marker=".askdocs-share").json()
    assert sync(w, w.alice, src["id"])["new"] == 2
    shutil.rmtree(share)
    share.mkdir()
    failed = sync(w, w.alice, src["id"])
    assert failed["status"] == "failed" and "marker file" in failed["message"], failed
    assert failed["deleted"] == 0 and failed["held"] == 0


class _Site:
    """A website on 127.0.0.1 whose robots.txt answer can be changed."""

    def __init__(self, tag: str = "") -> None:
        self.robots: tuple[int, bytes] = (200, b"User-agent: *\nAllow: /\n")
        self.pages = {
            "/": b'<html><body><p>Start.</p><a href="/a.html">a</a> <a href="/b.html">b</a>'
            b"</body></html>",
            "/a.html": b"<html><body><p>The ferry leaves at seven.</p></body></html>",
            "/b.html": b"<html><body><p>The bakery opens on Thursdays.</p></body></html>",
        }
        self.pages = {
            k: v.replace(b"</body>", tag.encode() + b"</body>") for k, v in self.pages.items()
        }
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/robots.txt":
                    status, body = site.robots
                elif self.path in site.pages:
                    status, body = 200, site.pages[self.path]
                else:
                    status, body = 404, b""
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_robots_txt_that_refuses_deletes_no_page(w: World) -> None:
    site = _Site()
    try:
        src = web(w.alice, "team", site.url).json()
        first = sync(w, w.alice, src["id"])
        assert first["status"] == "done" and first["new"] == 3, first
        site.robots = (403, b"Forbidden")
        held = sync(w, w.alice, src["id"])
        assert held["status"] == "held" and held["deleted"] == 0 and held["held"] == 3, held
        assert "robots.txt" in held["message"]
        assert source_documents(w, src["id"]) == 3
    finally:
        site.server.shutdown()


# -- found by attacking the defences above --------------------------------------------------------


def test_a_granted_collection_name_taken_by_a_user_opens_nothing(w: World) -> None:
    (w.open_root / "hr-files").mkdir(exist_ok=True)
    (w.open_root / "hr-files" / "salaries.txt").write_text(SECRET)
    # "hr" is granted by name but no admin made it: carol takes the free name (made or renamed
    # into, a collection of hers is not the admins' "hr")
    assert w.carol.post("/collections", json={"name": "hr"}).status_code == 201
    r = folder(w.carol, "hr", w.open_root / "hr-files")
    assert r.status_code == 403, r.text
    # an admin's "team" with the same grant works for its writers (the tests above)


def test_a_writer_cannot_aim_an_owners_folder_source_elsewhere(w: World) -> None:
    (w.admin_root / "board").mkdir(exist_ok=True)
    (w.admin_root / "board" / "minutes.txt").write_text(SECRET)
    (w.admin_root / "handbook").mkdir(exist_ok=True)
    src = folder(w.admin, "team", w.admin_root / "handbook").json()
    # bob writes to "team": his own right to a path under team's root is not enough, the
    # source's runs read with the admin's rights
    (w.open_root / "bobs-link").mkdir(exist_ok=True)
    for config in (
        {"path": str(w.open_root / "bobs-link")},
        {"path": str(w.admin_root / "board")},
        {"path": str(w.admin_root / "handbook"), "include": ["*"], "hidden": True},
    ):
        r = w.bob.patch(f"/sources/{src['id']}", json={"config": config})
        assert r.status_code == 403, r.text


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_a_repository_on_the_server_reads_nothing_outside_its_root(w: World) -> None:
    # a repository with a secret in the admins-only root
    secret_repo = w.admin_root / "secret-repo"
    secret_repo.mkdir()
    _git(secret_repo, "init", "-q", "-b", "main")
    (secret_repo / "secret.md").write_text(SECRET)
    _git(secret_repo, "add", ".")
    _git(secret_repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "s")
    # bob's repositories in his own root, each pointing there in a way git follows
    base = w.open_root / "repos"
    base.mkdir()
    linked = base / "linked"
    linked.mkdir()
    os.symlink(secret_repo / ".git", linked / ".git")
    gitfile = base / "gitfile"
    gitfile.mkdir()
    (gitfile / ".git").write_text(f"gitdir: {secret_repo / '.git'}\n")
    alternates = base / "alternates.git"
    _git(base, "init", "-q", "--bare", "-b", "main", str(alternates))
    (alternates / "objects" / "info" / "alternates").write_text(
        str(secret_repo / ".git" / "objects") + "\n"
    )
    head = (secret_repo / ".git" / "refs" / "heads" / "main").read_text()
    (alternates / "refs" / "heads" / "main").write_text(head)
    nested = base / "nested"  # a real .git whose own .git names the secret one
    nested.mkdir()
    _git(nested, "init", "-q", "-b", "main")
    (nested / ".git" / ".git").write_text(f"gitdir: {secret_repo / '.git'}\n")
    included = base / "included"  # a config that makes git read any file
    included.mkdir()
    _git(included, "init", "-q", "-b", "main")
    with (included / ".git" / "config").open("a") as f:
        f.write(f"[include]\n\tpath = {w.h.settings.data_dir / 'secret.key'}\n")
    assert w.bob.post("/collections", json={"name": "bob-repos"}).status_code in (201, 409)
    for repo in (linked, gitfile, alternates, nested, included):
        r = add_source(w.bob, "bob-repos", "git", {"url": str(repo)}, name=repo.name)
        assert r.status_code == 201, r.text
        out = sync(w, w.bob, r.json()["id"])
        assert out["status"] == "failed" and out["new"] == 0, (repo.name, out)
        assert "internal error" not in out["message"], out
    assert not any(SECRET[:20] in p["text"] for p in w.h.search("bob-repos", "payroll board"))
    # a plain repository of his own syncs
    own = base / "own"
    own.mkdir()
    _git(own, "init", "-q", "-b", "main")
    (own / "notes.md").write_text("# Notes\n\nThe ferry leaves at seven.")
    _git(own, "add", ".")
    _git(own, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "n")
    r = add_source(w.bob, "bob-repos", "git", {"url": str(own)}, name="own")
    done = sync(w, w.bob, r.json()["id"])
    assert done["status"] == "done" and done["new"] == 1, done


def test_a_confirmation_deletes_only_what_was_held_and_is_still_gone(w: World) -> None:
    site = _Site(tag="<p>Confirmed by a person.</p>")
    for name in ("c", "d", "e"):
        site.pages[f"/{name}.html"] = f"<html><body><p>Page {name}.</p></body></html>".encode()
    links = "".join(f'<a href="/{n}.html">{n}</a> ' for n in "abcde")
    site.pages["/"] = f"<html><body><p>Start.</p>{links}</body></html>".encode()
    try:
        src = web(w.alice, "team", site.url).json()
        assert sync(w, w.alice, src["id"])["new"] == 6
        kept = {p: site.pages.pop(p) for p in ("/a.html", "/b.html", "/c.html", "/d.html")}
        held = sync(w, w.alice, src["id"])
        assert held["status"] == "held" and held["held"] == 4, held
        site.pages.update(kept)  # the pages are back, but robots.txt fails as the person confirms
        site.robots = (503, b"busy")
        confirmed = sync(w, w.alice, src["id"], confirm=True)
        assert confirmed["deleted"] == 0, confirmed
        site.robots = (200, b"User-agent: *\nAllow: /\n")
        for p in ("/a.html", "/b.html"):  # two really go; a later confirmation deletes those only
            site.pages.pop(p)
        again = sync(w, w.alice, src["id"])
        assert again["status"] == "done" and again["deleted"] == 2, again
        assert source_documents(w, src["id"]) == 4
    finally:
        site.server.shutdown()


def test_a_token_that_cannot_go_in_a_header_is_refused(w: World) -> None:
    for token in ("ghp_SECRET\n", "a b", "tok\r\nX-Evil: 1"):
        r = web(w.alice, "team", "https://127.0.0.1:8443/", token=token)
        assert r.status_code == 422, r.text
        assert "SECRET" not in r.text and "Evil" not in r.text


def test_a_crawl_cut_short_deletes_no_page(w: World) -> None:
    site = _Site(tag="<p>Kept whole by the page limit.</p>")
    try:
        src = web(w.alice, "team", site.url).json()
        assert sync(w, w.alice, src["id"])["new"] == 3
        # the page limit stops the next crawl after the start page: the rest is not gone
        r = w.alice.patch(
            f"/sources/{src['id']}", json={"config": {"url": site.url, "max_pages": 1}}
        )
        assert r.status_code == 200, r.text
        cut = sync(w, w.alice, src["id"])
        assert cut["deleted"] == 0 and cut["listed"] == 1, cut
        assert source_documents(w, src["id"]) == 3
    finally:
        site.server.shutdown()
