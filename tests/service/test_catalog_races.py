"""Two processes making the same collection at once (two API replicas starting on one PostgreSQL
catalog, two first uploads to a new name): neither fails, one row is made. Two indexers writing one
collection's index at once (one started by mistake; on PostgreSQL, on two hosts whose ``flock``
sees nothing of the other's): they take turns, and the index stays whole."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from core.blobs import BlobStore
from core.catalog import Catalog, Chunk, Collection, DocStatus, Document
from retrieval.consistency import check
from retrieval.index_store import ServedModel, collection_dir, manifest_of
from retrieval.indexer import Indexer
from tests.integration.conftest import wait_for
from tests.locks import advisory_waiting, flock_waiting
from tests.pg import fresh_database

pytestmark = pytest.mark.service


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()
        yield cat
        cat.engine.dispose()
        return
    with fresh_database("askdocs_races") as url:
        cat = Catalog(url).create()
        yield cat
        cat.engine.dispose()


def test_the_same_collection_made_at_once_twice_is_one_row(catalog: Catalog) -> None:
    made_first = threading.Event()
    results: dict[str, str | None] = {}
    errors: list[BaseException] = []

    def second() -> None:
        try:
            made_first.wait(10)
            with catalog.session() as s:  # waits on the first one's uncommitted row
                results["second"] = catalog.ensure_collection(s, "shared", owner=None).owner_id
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    other = threading.Thread(target=second)
    other.start()
    with catalog.session() as s:
        # both saw no row: the first inserts and holds its transaction open a moment
        assert s.get(Collection, "shared") is None
        results["first"] = catalog.ensure_collection(s, "shared").owner_id
        made_first.set()
        other.join(0.5)  # the second is blocked (PostgreSQL) or not yet begun (SQLite)
    other.join(30)
    assert not other.is_alive()
    assert errors == []
    assert results == {"first": None, "second": None}
    with catalog.reader() as s:
        assert s.scalar(select(func.count()).select_from(Collection)) == 1


DIM = 8


def _ready_collection(catalog: Catalog, name: str, documents: int) -> None:
    """A collection of ready one-chunk documents with vectors, as ingestion leaves them."""
    rng = np.random.default_rng(0)
    with catalog.session() as s:
        s.add(Collection(id=name, embedding_model="m", embedding_dim=DIM))
        s.flush()
        for d in range(documents):
            doc_id = f"{name}-{d:04d}".ljust(64, "0")
            s.add(
                Document(
                    id=doc_id,
                    collection_id=name,
                    name=f"d{d}.txt",
                    size_bytes=1,
                    status=DocStatus.ready,
                    chunk_count=1,
                    embedded_with="m",
                )
            )
            s.flush()
            vector = rng.normal(size=DIM).astype(np.float32)
            s.add(
                Chunk(
                    id=d + 1, document_id=doc_id, ordinal=0, text=f"t{d}", vector=vector.tobytes()
                )
            )
            s.flush()


def test_two_indexers_compacting_one_collection_take_turns(
    catalog: Catalog, tmp_path: Path
) -> None:
    _ready_collection(catalog, "turns", 20)
    postgres = catalog.engine.dialect.name == "postgresql"
    # on PostgreSQL, two "hosts": index directories whose flock locks know nothing of each other
    dirs = [tmp_path / "a", tmp_path / "b"] if postgres else [tmp_path / "a"] * 2
    first, second = (Indexer(catalog, BlobStore(tmp_path / "blobs"), d, "m", DIM) for d in dirs)
    order: list[str] = []
    in_first, release = threading.Event(), threading.Event()
    first_build, second_build = first._one_segment, second._one_segment

    def first_slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        order.append("first")
        in_first.set()
        assert release.wait(60)
        return first_build(*args, **kwargs)

    def second_noted(*args, **kwargs):  # type: ignore[no-untyped-def]
        order.append("second")
        return second_build(*args, **kwargs)

    first._one_segment = first_slow  # type: ignore[method-assign]
    second._one_segment = second_noted  # type: ignore[method-assign]
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(i.compact("turns")))
        for i in (first, second)
    ]
    try:
        threads[0].start()
        assert in_first.wait(30)
        threads[1].start()
        if postgres:
            wait_for(lambda: advisory_waiting(catalog), 30, "the second indexer to wait")
        else:
            lock = collection_dir(dirs[0], "turns") / ".build.lock"
            wait_for(lambda: flock_waiting(lock), 30, "the second indexer to wait")
        assert order == ["first"]  # the second waits before it reads anything
    finally:
        release.set()
        for t in threads:
            t.join(60)
    assert order == ["first", "second"] and results == [True, True]
    with catalog.reader() as s:
        coll = s.get(Collection, "turns")
        assert coll is not None and coll.index_generation == 2
        manifest = manifest_of(coll)
    assert manifest is not None and len(manifest.segments) == 1 and manifest.live == 20
    report = check(catalog, dirs[1], "turns", ServedModel("m", DIM))  # no lexical side here
    assert report.vectors == 20 and not (report.missing_vectors or report.extra_vectors), report
    assert not (report.duplicate_vectors or report.missing_files or report.orphan_files), report
