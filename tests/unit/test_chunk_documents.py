"""The in-memory chunk -> document map of a collection, loaded from a real SQLite catalog."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from core.catalog import Catalog, Chunk, Collection, Document
from retrieval.chunk_documents import ChunkDocuments

pytestmark = pytest.mark.unit


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()
    with catalog.session() as s:
        for coll in ("a", "b"):
            s.add(Collection(id=coll, embedding_model="m", embedding_dim=4))
        s.flush()
        layout = {"a": ["d1", "d2", "d3"], "b": ["d4"]}
        for coll, docs in layout.items():
            for d in docs:
                status = "failed" if d == "d3" else "ready"
                s.add(
                    Document(id=d, collection_id=coll, name=f"{d}.txt", size_bytes=1, status=status)
                )
        s.flush()
        rows = [  # ids not in insertion order
            {"id": (7 << 40) + n, "document_id": d, "ordinal": n, "text": "t", "page": 1}
            for d, n in [("d1", 5), ("d1", 1), ("d2", 3), ("d3", 9), ("d4", 2)]
        ]
        rows[2]["id"] = 3  # smallest id belongs to d2
        s.execute(insert(Chunk), rows)
    return catalog


def test_every_chunk_of_the_collection_maps_to_its_document(catalog: Catalog) -> None:
    m = ChunkDocuments.load(catalog, "a")
    assert len(m) == 4  # d1 x2, d2, d3 (a failed document's chunks are mapped too)
    assert list(m.chunk_ids) == sorted(m.chunk_ids)
    got = m.of([(7 << 40) + 5, (7 << 40) + 1, 3, (7 << 40) + 9])
    assert got == {(7 << 40) + 5: "d1", (7 << 40) + 1: "d1", 3: "d2", (7 << 40) + 9: "d3"}


def test_ids_of_other_collections_and_unknown_ids_are_left_out(catalog: Catalog) -> None:
    m = ChunkDocuments.load(catalog, "a")
    assert m.of([(7 << 40) + 2, 12345, 1 << 61, 0]) == {}
    assert m.of([]) == {}
    assert ChunkDocuments.load(catalog, "b").of([(7 << 40) + 2, 3]) == {(7 << 40) + 2: "d4"}


def test_an_empty_collection_maps_nothing(catalog: Catalog) -> None:
    m = ChunkDocuments.load(catalog, "nothing-here")
    assert len(m) == 0
    assert m.of([1, 2, 3]) == {}
