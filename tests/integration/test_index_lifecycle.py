"""The indexer switches a growing collection to HNSW, deletes through the id filter, and compacts."""

from __future__ import annotations

import httpx
import pytest

from retrieval.vector_index import VectorIndex
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


def index_of(stack: Stack, collection: str) -> VectorIndex:
    return VectorIndex.load(stack.data_dir / "index" / collection, 384, "packaged:all-MiniLM-L6-v2")


def test_growth_to_hnsw_then_deletes_and_compaction(api: httpx.Client, stack: Stack) -> None:
    files = [
        ("files", (f"{t.lower()}.txt", f"The harbour master of {t} is called {t}son.".encode()))
        for t in TOWNS
    ]
    job = api.post("/documents", data={"collection": "hnsw"}, files=files).json()
    docs = {d["name"]: d for d in wait_job(api, job["id"])["documents"]}
    assert all(d["status"] == "ready" for d in docs.values())
    assert index_of(stack, "hnsw").kind == "hnsw"  # 16 vectors >= threshold 12
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
        # 3 tombstones of 16 stored (19 %): HNSW keeps them, filtered by the id selector
        return index_of(stack, "hnsw").size == 13

    wait_for(deletes_applied, 60, "the deletes to reach the index")
    idx = index_of(stack, "hnsw")
    assert idx.kind == "hnsw" and idx.deleted == 3
    assert api.delete(f"/documents/{docs['hull.txt']['id']}").status_code == 202

    def compacted() -> bool:  # 4 of 16 (25 %) > 20 %: rebuilt from the catalog's ready chunks
        idx = index_of(stack, "hnsw")
        return idx.deleted == 0 and idx.size == 12

    wait_for(compacted, 60, "compaction after the fourth delete")
    hits = api.post("/search", json={**q, "k": 20}).json()["passages"]
    names = {p["document_name"] for p in hits}
    assert len(hits) == 12 and not names & {*gone, "hull.txt"}
