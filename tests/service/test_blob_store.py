"""Originals through the real API, catalog and blob store: uploads streamed in pieces, a refused
one leaving nothing, the blob sweep removing only what no document has used for its grace period
(and never an original a new upload of the same bytes just claimed, on SQLite and PostgreSQL),
a collection dropped in steps, and `askdocs check --deep` finding changed and missing originals."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from askdocs import janitor
from core import blob_refs, blob_sweep, lifecycle
from core.blobs import TMP_PREFIX
from core.catalog import Blob, Catalog, Chunk, Collection, Document, Job, utcnow
from tests import redis_server
from tests.pg import fresh_database
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

pytestmark = pytest.mark.service

LIMIT = 4 * 1024 * 1024
GRACE = 600.0


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    data = tmp_path_factory.mktemp("blob_store")
    with in_process(data, max_upload_bytes=LIMIT, blob_grace_seconds=GRACE) as h:
        yield h
    broker.flushdb()


def _leftovers(h: Harness) -> list[Path]:
    return list(h.settings.blob_dir.rglob(f"{TMP_PREFIX}*"))


def _forget(h: Harness, document_id: str) -> None:
    """Delete a document and take it out of the catalog, as the indexer does."""
    assert h.client.delete(f"/documents/{document_id}").status_code == 202
    assert lifecycle.forget(h.services.catalog, document_id)


def _row(h: Harness, sha: str) -> Blob | None:
    with h.services.catalog.reader() as s:
        return s.get(Blob, sha)


def test_an_upload_larger_than_the_spool_is_streamed_and_stored_whole(harness: Harness) -> None:
    data = os.urandom(3 * 1024 * 1024 + 777)  # Starlette spools past 1 MiB: read from disk
    sha = hashlib.sha256(data).hexdigest()
    r = harness.client.post(
        "/documents",
        data={"collection": "streamed"},
        files=[("files", ("large.bin", data, "application/octet-stream"))],
    )
    assert r.status_code == 202, r.text
    doc = r.json()["documents"][0]
    assert doc["sha256"] == sha and doc["size_bytes"] == len(data)
    assert harness.services.blobs.path(sha).read_bytes() == data
    row = _row(harness, sha)
    assert row is not None and row.size == len(data) and row.orphaned_at is None
    assert _leftovers(harness) == []
    _forget(harness, doc["id"])


def test_a_file_past_the_limit_is_refused_while_streamed_and_leaves_nothing(
    harness: Harness,
) -> None:
    data = b"x" * (LIMIT + 1)
    r = harness.client.post(
        "/documents",
        data={"collection": "refused"},
        files=[("files", ("huge.txt", data, "text/plain"))],
    )
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "too_large"
    assert "huge.txt" in r.json()["error"]["message"]
    assert _leftovers(harness) == []
    assert not harness.services.blobs.path(hashlib.sha256(data).hexdigest()).exists()
    assert harness.client.get("/collections/refused").status_code == 404


def test_the_sweep_removes_only_unused_originals_past_the_grace_period(harness: Harness) -> None:
    catalog, blobs = harness.services.catalog, harness.services.blobs
    kept = harness.upload("sweep", ("kept.txt", b"The kiln fires stoneware at 1280 degrees."))
    gone = harness.upload("sweep", ("gone.txt", b"The old glaze recipe, withdrawn."))
    kept_sha, gone_sha = kept["documents"][0]["sha256"], gone["documents"][0]["sha256"]
    _forget(harness, gone["documents"][0]["id"])
    assert blobs.path(gone_sha).exists()  # forgetting a document unlinks nothing

    t0 = utcnow()
    blob_sweep.sweep(catalog, blobs, harness.settings, t0)
    row = _row(harness, gone_sha)
    assert row is not None and row.orphaned_at == t0
    assert _row(harness, kept_sha).orphaned_at is None  # type: ignore[union-attr]

    blob_sweep.sweep(catalog, blobs, harness.settings, t0 + timedelta(seconds=GRACE - 1))
    assert blobs.path(gone_sha).exists()  # within its grace period

    blob_sweep.sweep(catalog, blobs, harness.settings, t0 + timedelta(seconds=GRACE + 1))
    assert not blobs.path(gone_sha).exists() and _row(harness, gone_sha) is None
    assert blobs.path(kept_sha).exists() and _row(harness, kept_sha) is not None


def test_an_original_used_again_within_its_grace_period_stays(harness: Harness) -> None:
    catalog, blobs = harness.services.catalog, harness.services.blobs
    data = b"Ferry timetable, winter season."
    first = harness.upload("reuse-a", ("ferry.txt", data))["documents"][0]
    _forget(harness, first["id"])
    t0 = utcnow()
    blob_sweep.sweep(catalog, blobs, harness.settings, t0)
    assert _row(harness, first["sha256"]).orphaned_at == t0  # type: ignore[union-attr]
    harness.upload("reuse-b", ("ferry.txt", data))
    assert _row(harness, first["sha256"]).orphaned_at is None  # type: ignore[union-attr]
    blob_sweep.sweep(catalog, blobs, harness.settings, t0 + timedelta(seconds=GRACE + 1))
    assert blobs.path(first["sha256"]).read_bytes() == data


def test_the_janitor_runs_the_blob_sweep(harness: Harness) -> None:
    gone = harness.upload("janitor", ("old.txt", b"A notice nobody needs any more."))
    doc = gone["documents"][0]
    _forget(harness, doc["id"])
    catalog, celery = harness.services.catalog, harness.services.celery
    t0 = utcnow()
    janitor.sweep(catalog, celery, harness.settings, t0)
    assert harness.services.blobs.path(doc["sha256"]).exists()
    janitor.sweep(catalog, celery, harness.settings, t0 + timedelta(seconds=GRACE + 1))
    assert not harness.services.blobs.path(doc["sha256"]).exists()


def test_a_file_without_a_row_and_an_old_temporary_are_cleaned_up(harness: Harness) -> None:
    catalog, blobs = harness.services.catalog, harness.services.blobs
    stray = blobs.put(b"stored by a writer that died before its commit")
    temporary = blobs.root / f"{TMP_PREFIX}interrupted"
    temporary.write_bytes(b"half a file")
    later = utcnow() + timedelta(seconds=GRACE + 1)
    assert blob_sweep.adopt_strays(catalog, blobs, later - timedelta(seconds=GRACE), later) == (
        1,
        1,
    )
    assert not temporary.exists()
    assert _row(harness, stray).orphaned_at == later  # type: ignore[union-attr]
    assert blobs.path(stray).exists()  # its grace period starts now
    blob_sweep.sweep(catalog, blobs, harness.settings, later + timedelta(seconds=GRACE + 1))
    assert not blobs.path(stray).exists() and _row(harness, stray) is None


def test_a_temporary_being_written_outlives_a_short_grace_period(harness: Harness) -> None:
    """An upload under way keeps writing its temporary file: a grace period of seconds (the setting
    allows it) must not remove it; one left alone for TEMP_MAX_AGE is a crash's leftover."""
    catalog, blobs = harness.services.catalog, harness.services.blobs
    writing = blobs.root / f"{TMP_PREFIX}under-way"
    writing.write_bytes(b"the first MiB of a large upload")
    soon = utcnow() + timedelta(seconds=5)
    assert blob_sweep.adopt_strays(catalog, blobs, soon - timedelta(seconds=1), soon)[1] == 0
    assert writing.exists()
    later = utcnow() + blob_sweep.TEMP_MAX_AGE + timedelta(seconds=1)
    assert blob_sweep.adopt_strays(catalog, blobs, later - timedelta(seconds=1), later)[1] == 1
    assert not writing.exists()


def test_a_writer_whose_original_was_swept_after_it_stored_it_puts_it_back(
    harness: Harness,
) -> None:
    """The window between storing a file and the transaction that names it: the sweep unlinks
    the original there (the last document using it went long ago); the writer's hold finds the
    file gone and stores it again before its row is committed."""
    catalog, blobs = harness.services.catalog, harness.services.blobs
    data = b"Minutes of the harbour board, March."
    old = harness.upload("window-a", ("minutes.txt", data))["documents"][0]
    _forget(harness, old["id"])
    t0 = utcnow()
    blob_sweep.mark(catalog, t0)

    sha = blobs.put(data)  # the writer stores its file: intact already, nothing written
    assert blob_sweep.delete_orphans(catalog, blobs, t0 + timedelta(seconds=1)) == (1, 0)
    assert not blobs.path(sha).exists()
    with catalog.session() as s:
        blob_refs.hold(s, blobs, sha, len(data), lambda: blobs.put(data))
        catalog.ensure_collection(s, "window-b")
        got = lifecycle.admit(s, "window-b", sha, "minutes.txt", len(data))
    assert blobs.path(sha).read_bytes() == data
    assert _row(harness, sha).orphaned_at is None  # type: ignore[union-attr]
    blob_sweep.sweep(catalog, blobs, harness.settings, t0 + timedelta(seconds=3 * GRACE))
    assert blobs.path(sha).exists()
    with catalog.reader() as s:
        assert s.get(Document, got.document_id) is not None


def test_a_collection_is_dropped_in_steps_and_its_originals_swept(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, blobs = harness.services.catalog, harness.services.blobs
    monkeypatch.setattr(lifecycle, "DROP_STEP", 2)
    shared = b"The Harrow studio glaze is a cobalt blue made from local clay."
    kept = harness.upload("keeper", ("glaze.txt", shared))["documents"][0]
    files = [(f"note{i}.txt", f"Studio note {i}: the kiln was fired.".encode()) for i in range(5)]
    gone = harness.upload("doomed", ("glaze.txt", shared), *files)["documents"]
    harness.upload("doomed", ("more.txt", b"A second job of the doomed collection."))
    harness.work()
    with catalog.reader() as s:
        ids = [d["id"] for d in gone]
        assert s.scalar(select(func.count()).where(Chunk.document_id.in_(ids))) >= len(files)
    assert harness.client.delete("/collections/doomed").status_code == 202
    harness.work()  # the indexer drops it: removes its files, then its rows, two documents a step
    with catalog.reader() as s:
        assert s.get(Collection, "doomed") is None
        for model in (Document, Job):
            assert s.scalar(select(func.count()).where(model.collection_id == "doomed")) == 0
        assert s.scalar(select(func.count()).where(Chunk.document_id.in_(ids))) == 0
    only_here = [d["sha256"] for d in gone if d["sha256"] != kept["sha256"]]
    assert all(blobs.path(sha).exists() for sha in only_here)  # until the sweep
    t0 = utcnow()
    blob_sweep.sweep(catalog, blobs, harness.settings, t0)
    blob_sweep.sweep(catalog, blobs, harness.settings, t0 + timedelta(seconds=GRACE + 1))
    assert not any(blobs.path(sha).exists() for sha in only_here)
    assert blobs.path(kept["sha256"]).read_bytes() == shared  # used in another collection


def _check(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASKDOCS_DATA_DIR": str(data)}
    exe = Path(sys.executable).parent / "askdocs"
    return subprocess.run(
        [str(exe), "check", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_check_deep_finds_a_changed_and_a_missing_original(tmp_path: Path) -> None:
    redis_server.client(SERVICE_REDIS_DB).flushdb()
    data = tmp_path / "data"
    texts = {
        "kiln.txt": b"The kiln at the Harrow studio fires stoneware at 1280 degrees.",
        "ferry.txt": b"The Lindqvist ferry leaves the north pier at 07:40 on weekdays.",
        "bees.txt": b"Honey bees in the Oster valley forage on heather until September.",
    }
    with in_process(data) as h:
        docs = {d["name"]: d for d in h.upload("checked", *texts.items())["documents"]}
        h.work()
        blobs = h.services.blobs
    clean = _check(data, "--deep", "-c", "checked")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "originals: 3 re-hashed, 0 documents" in clean.stdout

    changed = blobs.path(docs["kiln.txt"]["sha256"])
    changed.write_bytes(changed.read_bytes().replace(b"1280", b"1300"))  # same size
    blobs.path(docs["ferry.txt"]["sha256"]).unlink()

    shallow = _check(data, "-c", "checked")
    assert shallow.returncode == 1
    assert f"original missing: checked/ferry.txt ({docs['ferry.txt']['id']}" in shallow.stdout
    assert "kiln.txt" not in shallow.stdout  # its size is right: only re-hashing finds it

    deep = _check(data, "--deep")
    assert deep.returncode == 1, deep.stdout + deep.stderr
    assert f"original changed: checked/kiln.txt ({docs['kiln.txt']['id']}" in deep.stdout
    assert f"original missing: checked/ferry.txt ({docs['ferry.txt']['id']}" in deep.stdout
    assert "bees.txt" not in deep.stdout
    assert "2 documents with a missing or changed one" in deep.stdout


@pytest.fixture(params=["sqlite", "postgresql"])
def racing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    redis_server.client(SERVICE_REDIS_DB).flushdb()
    settings: dict[str, object] = {"blob_grace_seconds": GRACE}
    if request.param == "sqlite":
        with in_process(tmp_path / "data", **settings) as h:
            yield h
        return
    with (
        fresh_database("askdocs_blobs") as url,
        in_process(tmp_path / "data", database_url=url, **settings) as h,
    ):
        yield h
        h.services.catalog.engine.dispose()


def _race_round(h: Harness, i: int, errors: list[BaseException]) -> None:
    """The last document using some bytes goes; then an upload of the same bytes to another
    collection and the sweep start together. Even rounds: the document was forgotten and its
    original marked long before; odd rounds: the sweeping thread forgets it, marks and deletes."""
    catalog, blobs = h.services.catalog, h.services.blobs
    data = f"Round {i}: the tide table for the north pier, kept by the harbour office.".encode()
    first = h.upload("race-a", (f"tide{i}.txt", data))["documents"][0]
    marked_at = utcnow() - timedelta(seconds=2 * GRACE)
    if i % 2 == 0:
        _forget(h, first["id"])
        blob_sweep.mark(catalog, marked_at)
    else:
        assert h.client.delete(f"/documents/{first['id']}").status_code == 202
    start = threading.Barrier(2)

    def upload() -> None:
        try:
            start.wait(10)
            h.upload("race-b", (f"tide{i}.txt", data))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    def sweep() -> None:
        try:
            start.wait(10)
            if i % 2:
                assert lifecycle.forget(catalog, first["id"])
                blob_sweep.mark(catalog, marked_at)
            blob_sweep.delete_orphans(catalog, blobs, marked_at + timedelta(seconds=1))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=upload), threading.Thread(target=sweep)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)


def test_an_upload_racing_the_sweep_of_its_bytes_never_loses_its_original(
    racing: Harness,
) -> None:
    """Round after round, the last document using some bytes is forgotten and its original
    marked long ago; then an upload of the same bytes to another collection and the sweep's
    delete run at once. Whichever wins, every document left has its original."""
    h = racing
    catalog, blobs = h.services.catalog, h.services.blobs
    rounds = 25
    errors: list[BaseException] = []
    for i in range(rounds):
        _race_round(h, i, errors)
    assert errors == []
    with catalog.reader() as s:
        docs = s.scalars(select(Document)).all()
    assert sorted(d.collection_id for d in docs) == ["race-b"] * rounds
    assert [d.name for d in docs if not blobs.intact(d.blob, d.size_bytes)] == []
    with catalog.reader() as s:  # each in use, none marked
        rows = s.scalars(select(Blob).where(Blob.sha256.in_([d.blob for d in docs]))).all()
    assert len(rows) == rounds and all(r.orphaned_at is None for r in rows)


def test_a_sweep_passes_over_an_original_a_writer_is_claiming(racing: Harness) -> None:
    """A writer's transaction has claimed an orphaned original and not committed yet: a sweep
    past its grace period leaves it (PostgreSQL: skips the locked row; SQLite: waits for the
    writer, then sees it in use)."""
    h = racing
    catalog, blobs = h.services.catalog, h.services.blobs
    data = b"The lighthouse keeper's log, 1911."
    first = h.upload("claim-a", ("log.txt", data))["documents"][0]
    _forget(h, first["id"])
    blob_sweep.mark(catalog, utcnow() - timedelta(seconds=2 * GRACE))
    result: list[tuple[int, int]] = []
    sweeper = threading.Thread(
        target=lambda: result.append(blob_sweep.delete_orphans(catalog, blobs, utcnow()))
    )
    sha = blobs.put(data)
    postgres = catalog.engine.dialect.name == "postgresql"
    with catalog.session() as s:
        blob_refs.hold(s, blobs, sha, len(data), lambda: blobs.put(data))
        catalog.ensure_collection(s, "claim-b")
        lifecycle.admit(s, "claim-b", sha, "log.txt", len(data))
        sweeper.start()
        if postgres:  # it does not wait for the row: it passes over it
            sweeper.join(60)
            assert result == [(0, 0)]
    sweeper.join(60)
    assert not sweeper.is_alive() and result == [(0, 0)]
    assert blobs.path(sha).read_bytes() == data


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with fresh_database("askdocs_blob_rows") as url:
        yield url


def test_the_upgrade_gives_every_original_in_use_a_row_and_indexes_the_origin(
    catalog_url: str,
) -> None:
    old_row, shared = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"bb").hexdigest()
    catalog = Catalog(catalog_url).create()
    with catalog.session() as s:
        catalog.ensure_collection(s, "old")
        # a row older than the content column (its id was the hash), and two users of one original
        s.add(Document(id=old_row, collection_id="old", name="a.txt", size_bytes=1))
        for i in range(2):
            s.add(
                Document(
                    id=f"{i}" * 64,
                    content_sha256=shared,
                    collection_id="old",
                    name=f"b{i}.txt",
                    size_bytes=2,
                    origin=f"https://example.org/b{i}",
                )
            )
    with catalog.engine.begin() as conn:  # the catalog as the schema before the blob rows left it
        conn.execute(text("DROP INDEX ix_documents_origin"))
        conn.execute(text("DROP TABLE blobs"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    catalog.engine.dispose()

    catalog = Catalog(catalog_url).create()
    with catalog.reader() as s:
        rows = s.scalars(select(Blob)).all()
    assert {(r.sha256, r.size, r.orphaned_at) for r in rows} == {
        (old_row, 1, None),
        (shared, 2, None),
    }
    indexes = {i["name"] for i in inspect(catalog.engine).get_indexes("documents")}
    assert {"ix_documents_origin", "ix_documents_content_sha256"} <= indexes
    catalog.engine.dispose()
