"""`askdocs backup` while the service runs, then more ingests and a delete, then `askdocs restore`
into a fresh data dir: exactly the backed-up documents come back, with identical search results,
and the restored service ingests on. On both catalogs (SQLite, and PostgreSQL with pg_dump)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import redis_server
from tests.pg import fresh_database
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

pytestmark = pytest.mark.service

FILES = {
    "kettle.txt": b"Copper kettles are polished every spring in the old mill by the river.",
    "crane.txt": b"The harbour crane lifts forty containers an hour in calm weather.",
    "bees.txt": b"Our bees winter in the orchard; the honey is pressed in late August.",
}
QUERIES = [("copper kettle polish", "dense"), ("harbour crane", "lexical"), ("honey", "hybrid")]


def cli(data: Path, database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASKDOCS_DATA_DIR": str(data)}
    if database_url:
        env["ASKDOCS_DATABASE_URL"] = database_url
    exe = Path(sys.executable).parent / "askdocs"
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=300)


def searches(h: Harness) -> list[list[tuple[int, str, float]]]:
    found = []
    for query, mode in QUERIES:
        r = h.client.post("/search", json={"collection": "kept", "query": query, "mode": mode})
        assert r.status_code == 200, r.text
        found.append(
            [(p["chunk_id"], p["document_name"], p["score"]) for p in r.json()["passages"]]
        )
    return found


@pytest.fixture(params=["sqlite", "postgresql"])
def catalogs(request: pytest.FixtureRequest) -> Iterator[tuple[str | None, str | None]]:
    """The source's and the restore target's database URLs (None: SQLite in the data dir)."""
    redis_server.client(SERVICE_REDIS_DB).flushdb()
    if request.param == "sqlite":
        yield None, None
        return
    with fresh_database("askdocs_backup") as source, fresh_database("askdocs_backup") as target:
        yield source, target


def test_restore_brings_back_exactly_what_was_backed_up(
    tmp_path: Path, catalogs: tuple[str | None, str | None]
) -> None:
    source_url, target_url = catalogs
    source, target, saved = tmp_path / "source", tmp_path / "target", tmp_path / "backup"
    extra = {"database_url": source_url} if source_url else {}
    with in_process(source, **extra) as h:
        h.upload("kept", *FILES.items())
        h.upload("other", ("note.txt", b"A note in another collection about lighthouses."))
        h.work()
        backed_up = sorted((d["id"], d["name"], d["status"]) for d in h.documents("kept"))
        assert sorted(name for _id, name, _s in backed_up) == sorted(FILES)
        results = searches(h)
        assert all(results)

        made = cli(source, source_url, "backup", str(saved))  # while the service runs
        assert made.returncode == 0, made.stdout + made.stderr
        assert "backed up 4 documents" in made.stdout
        catalog_copy = saved / ("catalog.pgdump" if source_url else "catalog.db")
        assert stat.S_IMODE(catalog_copy.stat().st_mode) == 0o600  # pg_dump's too

        h.upload("kept", ("late.txt", b"A late note: the kettle was sold in May."))
        kettle = next(i for i, name, _s in backed_up if name == "kettle.txt")
        assert h.client.delete(f"/documents/{kettle}").status_code in (200, 202, 204)
        h.work()
        assert sorted(d["name"] for d in h.documents("kept")) == [
            "bees.txt",
            "crane.txt",
            "late.txt",
        ]

    done = cli(target, target_url, "restore", str(saved))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verified" in done.stdout and "backup.json" in done.stdout
    again = cli(target, target_url, "restore", str(saved))
    assert again.returncode != 0 and "empty" in again.stdout

    extra = {"database_url": target_url} if target_url else {}
    with in_process(target, **extra) as h:
        assert sorted((d["id"], d["name"], d["status"]) for d in h.documents("kept")) == backed_up
        assert [d["name"] for d in h.documents("other")] == ["note.txt"]
        assert searches(h) == results
        r = h.client.get(f"/documents/{kettle}/file")
        assert r.status_code == 200 and r.content == FILES["kettle.txt"]
        h.upload("kept", ("new.txt", b"A new note after the restore about copper kettles."))
        h.work()
        assert {d["name"]: d["status"] for d in h.documents("kept")}["new.txt"] == "ready"
