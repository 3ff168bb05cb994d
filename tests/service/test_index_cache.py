"""The API's index cache under a writer: a reader of one collection never waits for anything of
another, a reader of a collection being built gets its last generation without waiting for the
build, and the cache lets go of collections that were dropped, renamed or not read for a while."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from core.catalog import Collection
from retrieval import index_store
from retrieval.index_store import (
    GONE_CHECK_SECONDS,
    IndexCache,
    ServedModel,
    collection_dir,
    generation_lock,
)
from retrieval.indexer import Indexer
from tests.integration.conftest import wait_for
from tests.locks import flock_waiting
from tests.service.conftest import Harness

pytestmark = pytest.mark.service

KILN = b"The Harrow kiln fires stoneware at 1280 degrees every Thursday."
MILL = b"The Dunmore mill grinds spelt and rye on its two water wheels."
LIGHT = b"The Carrick lighthouse keeper logs every passing ship by hand."
ORCHARD = b"The Ballinacourty orchard grows forty kinds of cider apple."


def _cache(h: Harness, **kwargs: object) -> IndexCache:
    """A cache of its own, as a fresh API process holds one."""
    return IndexCache(
        h.services.catalog,
        h.settings.index_dir,
        ServedModel.of(h.settings.embedding_model),
        **kwargs,  # type: ignore[arg-type]
    )


def _bump(h: Harness, collection: str) -> None:
    """Move the collection's generation, as a commit does: a reader must load it again."""
    with h.services.catalog.session() as s:
        coll = s.get(Collection, collection)
        assert coll is not None
        coll.index_generation += 1


@contextmanager
def _in_thread(fn: Callable[[], object]) -> Iterator[tuple[threading.Event, list[object]]]:
    """Run ``fn`` in a thread: (set when it returned, [what it returned or raised])."""
    done = threading.Event()
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out.append(e)
        finally:
            done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield done, out
    finally:
        t.join(120)


def test_a_reader_of_one_collection_never_waits_on_another_collections_lock(
    harness: Harness,
) -> None:
    h = harness
    h.upload("held-a", ("kiln.txt", KILN))
    h.upload("free-b", ("mill.txt", MILL))
    h.work()
    cache = _cache(h)
    cache.get("held-a")
    cache.get("free-b")
    _bump(h, "held-a")  # its next read must load under its lock
    _bump(h, "free-b")  # and so must this one's
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with generation_lock(h.settings.index_dir, "held-a", exclusive=True):
            holding.set()
            release.wait(120)

    try:
        with _in_thread(hold):
            assert holding.wait(30)
            with _in_thread(lambda: cache.get("held-a")) as (a_done, a_out):
                lock = collection_dir(h.settings.index_dir, "held-a") / ".generation.lock"
                wait_for(
                    lambda: flock_waiting(lock), 30, "the reader of held-a to wait on its lock"
                )
                with _in_thread(lambda: cache.get("free-b")) as (b_done, b_out):
                    assert b_done.wait(60), "the reader of free-b waited on held-a's lock"
                    assert not a_done.is_set()  # held-a's reader is still waiting meanwhile
                    assert b_out[0].generation == cache.generation("free-b")  # type: ignore[union-attr]
                release.set()
                assert a_done.wait(60)
                assert a_out[0].generation == cache.generation("held-a")  # type: ignore[union-attr]
    finally:
        release.set()


def test_a_reader_during_a_build_gets_the_last_generation_without_waiting(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    h.upload("building", ("kiln.txt", KILN), ("light.txt", LIGHT))
    h.work()
    before = _cache(h).get("building")
    in_build, release = threading.Event(), threading.Event()
    indexer: Indexer = h.indexer
    build = indexer._one_segment

    def slow_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        in_build.set()
        assert release.wait(120)
        return build(*args, **kwargs)

    monkeypatch.setattr(indexer, "_one_segment", slow_build)
    try:
        with _in_thread(lambda: indexer.compact("building")) as (built, result):
            assert in_build.wait(60)
            # a fresh reader (nothing cached) loads while the build holds the collection
            fresh = _cache(h)
            with _in_thread(lambda: fresh.get("building")) as (read, got):
                assert read.wait(60), "the reader waited for the build"
                assert not built.is_set()
                loaded = got[0]
                assert not isinstance(loaded, BaseException), loaded
                assert loaded.generation == before.generation  # type: ignore[union-attr]
                assert loaded.vectors.manifest == before.vectors.manifest  # type: ignore[union-attr]
                assert loaded.vectors.size == 2  # type: ignore[union-attr]
            # and search answers from it meanwhile, through the API's own cache
            assert {p["document_name"] for p in h.search("building", "kiln lighthouse")} == {
                "kiln.txt",
                "light.txt",
            }
            release.set()
            assert built.wait(120) and result == [True]
    finally:
        release.set()
    after = _cache(h).get("building")
    assert after.generation[1] == before.generation[1] + 1
    assert len(after.vectors.segments) == 1 and after.vectors.size == 2


def test_the_cache_lets_go_of_dropped_renamed_and_idle_collections(harness: Harness) -> None:
    h = harness
    for name, text in (("evict-drop", KILN), ("evict-rename", MILL), ("evict-keep", ORCHARD)):
        h.upload(name, (f"{name}.txt", text))
    h.upload("evict-asked", ("light.txt", LIGHT))
    h.work()
    now = [1000.0]
    cache = _cache(h, idle_seconds=600.0, clock=lambda: now[0])
    for name in ("evict-drop", "evict-rename", "evict-keep", "evict-asked"):
        assert cache.get(name).vectors.size == 1
    assert cache.loaded() == ["evict-asked", "evict-drop", "evict-keep", "evict-rename"]

    assert h.client.delete("/collections/evict-drop").status_code == 202
    r = h.client.patch("/collections/evict-rename", json={"name": "evict-renamed"})
    assert r.status_code == 202
    h.work()
    # a reader asking for a name whose row is gone lets go of it at once
    assert cache.get("evict-asked").vectors.size == 1
    assert "evict-drop" in cache.loaded()  # not asked for, not checked yet
    assert cache.get("evict-drop").vectors.size == 0
    assert "evict-drop" not in cache.loaded()
    # the periodic check of every held row finds the renamed one
    now[0] += GONE_CHECK_SECONDS
    cache.get("evict-keep")
    assert cache.loaded() == ["evict-asked", "evict-keep"]
    assert cache.get("evict-renamed").vectors.size == 1  # its new name loads its files
    # not read for idle_seconds: dropped at the next access of the cache
    now[0] += 300.0
    cache.get("evict-keep")
    cache.get("evict-renamed")
    now[0] += 300.0
    cache.get("evict-keep")
    assert cache.loaded() == ["evict-keep", "evict-renamed"]  # evict-asked: 600 s unread
    now[0] += 600.0
    cache.get("evict-renamed")
    assert cache.loaded() == ["evict-renamed"]


def test_a_reader_whose_files_were_replaced_under_it_reads_the_row_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers load vector files without a lock: a commit may replace (and unlink) the files of
    the manifest a reader has just read; it then reads the row again and loads the new ones."""
    h = harness
    h.upload("replaced", ("kiln.txt", KILN))
    h.work()
    h.upload("replaced", ("mill.txt", MILL))
    h.work()
    cache = _cache(h)
    real_load = index_store.load_vectors
    loads: list[object] = []

    def load_after_a_commit(catalog, directory, collection, manifest, *args):  # type: ignore[no-untyped-def]
        loads.append(manifest)
        if len(loads) == 1:  # the indexer compacts between the reader's row read and its load
            assert h.indexer.compact("replaced")
            assert not all((directory / f).exists() for f in manifest.files)
        return real_load(catalog, directory, collection, manifest, *args)

    monkeypatch.setattr(index_store, "load_vectors", load_after_a_commit)
    got = cache.get("replaced")
    assert len(loads) == 2 and loads[0] != loads[1]
    assert got.generation == cache.generation("replaced")
    assert len(got.vectors.segments) == 1 and got.vectors.size == 2


def test_status_reports_every_collection_without_loading_it(harness: Harness) -> None:
    """A dashboard polling /status must not keep every collection in memory: its counts come from
    the catalog's manifest and the lexical index, and they agree with a loaded collection's."""
    h = harness
    h.upload("status-a", ("kiln.txt", KILN), ("mill.txt", MILL))
    h.upload("status-b", ("light.txt", LIGHT))
    h.work()
    indexes = h.services.retriever._indexes  # the API's own cache
    before = set(indexes.loaded())
    r = h.client.get("/status")
    assert r.status_code == 200
    rows = {c["name"]: c for c in r.json()["collections"]}
    assert (rows["status-a"]["vectors"], rows["status-a"]["lexical_chunks"]) == (2, 2)
    assert (rows["status-b"]["vectors"], rows["status-b"]["lexical_chunks"]) == (1, 1)
    assert rows["status-a"]["segments"] >= 1 and rows["status-a"]["index_kind"] == "flat"
    assert not {"status-a", "status-b"} & (set(indexes.loaded()) - before)
    loaded = indexes.get("status-a")
    summary = indexes.summary("status-a")
    assert (summary.vectors, summary.lexical) == (loaded.vectors.size, loaded.lexical.size)
    assert summary.segments == len(loaded.vectors.segments)
