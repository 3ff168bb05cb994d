"""A collection's drop task runs more than once (the janitor sends again one it thinks lost, while
the first copy still runs, or two indexers take one copy each): whatever copy comes late leaves a
collection made again under the same name whole, its rows and its index files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest

from core import lifecycle
from core.catalog import Collection, Document
from retrieval.index_store import collection_dir
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(tmp_path_factory.mktemp("drop-twice")) as h:
        yield h
    broker.flushdb()


def names(h: Harness) -> set[str]:
    with h.services.catalog.reader() as s:
        return {c.id for c in s.query(Collection) if c.deleted_at is None}


def test_a_late_drop_leaves_the_collection_made_again_whole(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    h.upload("reborn", ("old.txt", b"The old ferry timetable lists a boat at seven."))
    h.work()
    assert h.client.delete("/collections/reborn").status_code == 202
    building = h.indexer._building

    def first_copy_finishes_meanwhile(collection: str) -> AbstractContextManager[None]:
        # the late copy read the row (still marked deleted); now the first copy ends the drop and
        # a user makes the name again, with a document indexed in it
        monkeypatch.setattr(h.indexer, "_building", building)
        h.indexer.drop("reborn")
        assert "reborn" not in names(h)
        h.upload("reborn", ("new.txt", b"The new bakery on Quay Street sells rye bread."))
        h.work()
        return building(collection)

    monkeypatch.setattr(h.indexer, "_building", first_copy_finishes_meanwhile)
    h.indexer.drop("reborn")  # the late copy

    assert "reborn" in names(h)
    assert collection_dir(h.settings.index_dir, "reborn").exists()
    found = h.search("reborn", "Where can I buy rye bread?")
    assert [p["document_name"] for p in found][:1] == ["new.txt"]


def test_dropping_rows_leaves_a_collection_not_marked_deleted(harness: Harness) -> None:
    """Two drops running at once: the one that ends first deletes the row, the name is made again,
    and the other's next step finds a live collection of that name."""
    h = harness
    h.upload("alive", ("kept.txt", b"The museum closes early on the first Monday."))
    h.work()
    assert lifecycle.drop(h.services.catalog, "alive") == 0
    assert "alive" in names(h)
    with h.services.catalog.reader() as s:
        assert s.query(Document).filter(Document.collection_id == "alive").count() == 1
