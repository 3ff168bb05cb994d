"""The indexer merges a growing collection's Flat segments into one HNSW segment, deletes through
tombstones (the id filter), and rewrites a segment once its tombstones pile up."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from retrieval.index_store import generation_lock
from retrieval.segments import Manifest, SegmentedIndex
from tests.integration.conftest import Stack, wait_for, wait_job

pytestmark = pytest.mark.integration
TOWNS = [
    "Aberdeen",
    "Bergen",
    "Cadiz",
    "Dundee",
    "Esbjerg",
    "Faro",
    "Galway",
    "Hull",
    "Ipswich",
    "Jersey",
    "Kiel",
    "Lisbon",
    "Malmo",
    "Nantes",
    "Oslo",
    "Porto",
]


def index_of(stack: Stack, collection: str) -> SegmentedIndex:
    """The collection's segments as the catalog lists them now (read as the API reads them: under
    the shared generation lock, so the indexer never swaps files meanwhile)."""
    index_dir = stack.data_dir / "index"
    with generation_lock(index_dir, collection, exclusive=False):
        db = sqlite3.connect(stack.data_dir / "catalog.db")
        try:
            (text,) = db.execute(
                "SELECT segments FROM collections WHERE id = ?", (collection,)
            ).fetchone()
        finally:
            db.close()
        return SegmentedIndex.load(index_dir / collection, Manifest.from_json(text), 384)


def test_growth_to_hnsw_then_deletes_and_compaction(api: httpx.Client, stack: Stack) -> None:
    files = [
        ("files", (f"{t.lower()}.txt", f"The harbour master of {t} is called {t}son.".encode()))
        for t in TOWNS
    ]
    job = api.post("/documents", data={"collection": "hnsw"}, files=files).json()
    docs = {d["name"]: d for d in wait_job(api, job["id"])["documents"]}
    assert all(d["status"] == "ready" for d in docs.values())
    # a segment per indexer batch; merged by tiers, and a merged segment of >= 12 vectors (the
    # test stack's threshold) is HNSW
    wait_for(lambda: "hnsw" in index_of(stack, "hnsw").kind, 60, "a merge into HNSW")
    assert index_of(stack, "hnsw").size == 16
    # `askdocs reindex` makes it one segment: 16 vectors >= 12, HNSW
    assert stack.cli("reindex", "hnsw").returncode == 0

    def one_segment() -> bool:
        idx = index_of(stack, "hnsw")
        return len(idx.segments) == 1 and idx.kind == "hnsw" and idx.size == 16

    wait_for(one_segment, 60, "the rebuild into one HNSW segment")
    q = {
        "collection": "hnsw",
        "query": "Who is the harbour master of Galway?",
        "k": 1,
        "mode": "dense",
    }
    assert api.post("/search", json=q).json()["passages"][0]["document_name"] == "galway.txt"

    gone = ["galway.txt", "bergen.txt", "cadiz.txt"]
    for name in gone:
        assert api.delete(f"/documents/{docs[name]['id']}").status_code == 202
    assert api.post("/search", json=q).json()["passages"][0]["document_name"] != "galway.txt"

    def deletes_applied() -> bool:
        # 3 tombstones of 16 stored (19 %): the segment keeps them, filtered by the id selector
        return index_of(stack, "hnsw").size == 13

    wait_for(deletes_applied, 60, "the deletes to reach the index")
    idx = index_of(stack, "hnsw")
    assert idx.kind == "hnsw" and idx.deleted == 3
    assert api.delete(f"/documents/{docs['hull.txt']['id']}").status_code == 202

    def compacted() -> bool:  # 4 of 16 (25 %) > 20 %: the segment is rewritten without them
        idx = index_of(stack, "hnsw")
        return idx.deleted == 0 and idx.size == 12

    wait_for(compacted, 60, "compaction after the fourth delete")
    hits = api.post("/search", json={**q, "k": 20}).json()["passages"]
    names = {p["document_name"] for p in hits}
    assert len(hits) == 12 and not names & {*gone, "hull.txt"}
