"""The indexer's segments through the real pipeline: a batch per segment, deletes as tombstones,
merges that bound the count, readers that load only what changed, and search results equal to
one index over the same vectors. A segment written but never committed is an orphan: `askdocs
check` reports it and its repair (or the indexer's next commit) removes it."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from core.catalog import Chunk, Collection, DocStatus, Document
from retrieval import indexer as indexer_module
from retrieval.consistency import check, remove_orphans
from retrieval.index_store import ServedModel, collection_dir, manifest_of
from retrieval.indexer import Indexer
from retrieval.segments import MergePolicy, merged, write_segment
from retrieval.vector_index import VectorIndex
from tests.service.conftest import Harness

pytestmark = pytest.mark.service

TOPICS = ["harbour", "orchard", "glacier", "foundry", "library", "vineyard", "observatory", "mill"]


def _text(i: int) -> bytes:
    topic = TOPICS[i % len(TOPICS)]
    return f"Report {i}: the {topic} of district {i} opened in year {1900 + i}.".encode()


def _manifest(h: Harness, collection: str):  # type: ignore[no-untyped-def]
    with h.services.catalog.reader() as s:
        return manifest_of(s.get(Collection, collection))


def _one_index(h: Harness, collection: str) -> VectorIndex:
    with h.services.catalog.reader() as s:
        rows = s.execute(
            select(Chunk.id, Chunk.vector)
            .join(Document, Chunk.document_id == Document.id)
            .where(Document.collection_id == collection, Document.status == DocStatus.ready)
        ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    return VectorIndex.build(ids, vecs, vecs.shape[1], 10**9)


def test_segments_grow_merge_and_search_as_one_index(harness: Harness) -> None:
    h = harness
    small = Indexer(
        h.services.catalog,
        h.services.blobs,
        h.settings.index_dir,
        h.indexer._model_label,
        h.indexer._dim,
        merge_policy=MergePolicy(factor=3, floor=1),
    )
    h.indexer = small  # the harness's work() runs this indexer from here on
    cache = h.services.retriever._indexes
    docs: list[dict] = []
    counts: list[int] = []
    for batch in range(6):
        docs += h.upload("grow", *((f"r{batch}-{i}.txt", _text(batch * 3 + i)) for i in range(3)))[
            "documents"
        ]
        held = cache.get("grow")
        h.work()
        now = cache.get("grow")
        counts.append(len(now.vectors.segments))
        # a reader loads only the new segments: the ones it held are the same objects
        old = {s.entry.name: s for s in held.vectors.segments}
        kept = [s for s in now.vectors.segments if s.entry.name in old]
        assert all(s is old[s.entry.name] or s.index is old[s.entry.name].index for s in kept)
    assert max(counts) <= 3  # merged whenever a tier reached three segments
    manifest = _manifest(h, "grow")
    assert manifest is not None and manifest.live == 18

    single = _one_index(h, "grow")
    segmented = cache.get("grow").vectors
    embed = h.services.embedder.embed_query
    for q in ("harbour district", "the glacier opened", "vineyard 1910", "report of the mill"):
        a, b = segmented.search(embed(q), 10), single.search(embed(q), 10)
        assert [i for i, _ in a] == [i for i, _ in b]
        assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-5)

    # deletes are tombstones in the segments that hold them; search never returns them
    for d in docs[:4]:
        assert h.client.delete(f"/documents/{d['id']}").status_code == 202
    h.work()
    manifest = _manifest(h, "grow")
    assert manifest.live == 14
    found = {p["document_id"] for p in h.search("grow", "district report", k=18)}
    assert not found & {d["id"] for d in docs[:4]} and len(found) == 14
    single = _one_index(h, "grow")
    a = cache.get("grow").vectors.search(embed("orchard"), 14)
    assert [i for i, _ in a] == [i for i, _ in single.search(embed("orchard"), 14)]


def test_an_uncommitted_segment_is_an_orphan(harness: Harness) -> None:
    h = harness
    h.upload("orphans", ("a.txt", _text(100)))
    h.work()
    directory = collection_dir(h.settings.index_dir, "orphans")
    model = ServedModel.of(h.settings.embedding_model)
    # what a crash between writing a segment and the catalog commit leaves behind
    stray = write_segment(directory, np.array([7]), np.ones((1, model.dim)), ["x"], model.dim, 10)
    report = check(h.services.catalog, h.settings.index_dir, "orphans", model)
    assert report.orphan_files == 2 and report.index_ok and not report.ok
    assert remove_orphans(h.services.catalog, h.settings.index_dir, "orphans") == 2
    assert not (directory / f"{stray.name}.faiss").exists()
    assert check(h.services.catalog, h.settings.index_dir, "orphans", model).ok
    # the indexer's next commit removes one too
    write_segment(directory, np.array([8]), np.ones((1, model.dim)), ["y"], model.dim, 10)
    h.upload("orphans", ("b.txt", _text(101)))
    h.work()
    assert check(h.services.catalog, h.settings.index_dir, "orphans", model).ok


def test_a_build_whose_collection_moved_meanwhile_is_given_up_and_its_files_removed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit checks the row is at the generation the build read: a merge that finds it moved
    records nothing and leaves no file behind; the next write merges."""
    h = harness
    small = Indexer(
        h.services.catalog,
        h.services.blobs,
        h.settings.index_dir,
        h.indexer._model_label,
        h.indexer._dim,
        merge_policy=MergePolicy(factor=2, floor=1),
    )
    h.indexer = small
    h.upload("moved", ("a.txt", _text(200)))
    h.work()
    model = ServedModel.of(h.settings.embedding_model)
    directory = collection_dir(h.settings.index_dir, "moved")
    built: list[str] = []

    def merged_while_moving(*args, **kwargs):  # type: ignore[no-untyped-def]
        entry = merged(*args, **kwargs)
        built.append(entry.name)
        with h.services.catalog.session() as s:  # another commit lands while the merge builds
            coll = s.get(Collection, "moved")
            assert coll is not None
            coll.index_generation += 1
        return entry

    monkeypatch.setattr(indexer_module, "merged", merged_while_moving)
    h.upload("moved", ("b.txt", _text(201)))
    h.work()  # two segments: the policy merges them, and the row moves meanwhile
    monkeypatch.setattr(indexer_module, "merged", merged)
    assert len(built) == 1
    manifest = _manifest(h, "moved")
    assert len(manifest.segments) == 2 and built[0] not in {e.name for e in manifest.segments}
    report = check(h.services.catalog, h.settings.index_dir, "moved", model)
    assert report.ok and report.orphan_files == 0, report
    assert {p.name for p in directory.iterdir() if p.name.startswith("seg-")} == manifest.files
    assert small.merge_if_needed("moved")
    assert len(_manifest(h, "moved").segments) == 1
    assert check(h.services.catalog, h.settings.index_dir, "moved", model).ok
