"""Segments on real FAISS: added, tombstoned, merged and reloaded, a segmented index answers exactly
as one index over the same live vectors (ids and scores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.segments import (
    Manifest,
    MergePolicy,
    SearchThreads,
    SegmentedIndex,
    merged,
    orphans,
    write_segment,
    write_tombstones,
)
from retrieval.vector_index import VectorIndex

pytestmark = pytest.mark.unit

DIM = 16


def _data(n: int, seed: int, start: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(start, start + n, dtype=np.int64) * 7919 + 3
    docs = [f"doc-{(start + i) // 5}" for i in range(n)]
    return ids, vecs, docs


def _one_index(parts: list[tuple[np.ndarray, np.ndarray]], gone: np.ndarray) -> VectorIndex:
    ids = np.concatenate([p[0] for p in parts])
    vecs = np.concatenate([p[1] for p in parts])
    keep = ~np.isin(ids, gone)
    return VectorIndex.build(ids[keep], vecs[keep], DIM, hnsw_threshold=10**9)


def _same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> None:
    assert [i for i, _ in a] == [i for i, _ in b]
    assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-5)


def _build(tmp: Path, sizes: list[int]) -> tuple[Manifest, list]:
    parts, entries, start = [], [], 0
    for seed, n in enumerate(sizes):
        ids, vecs, docs = _data(n, seed, start)
        start += n
        parts.append((ids, vecs))
        entries.append(write_segment(tmp, ids, vecs, docs, DIM, hnsw_threshold=10**9))
    return Manifest("model-a", tuple(entries)), parts


# the segments searched by the calling thread alone, and split over it and two pool threads
THREADS = [None, SearchThreads.make(2)]


@pytest.mark.parametrize("pool", THREADS, ids=["caller", "pool"])
def test_segments_answer_as_one_index(tmp_path: Path, pool: SearchThreads | None) -> None:
    manifest, parts = _build(tmp_path, [40, 25, 60, 33])
    index = SegmentedIndex.load(tmp_path, manifest, DIM)
    single = _one_index(parts, np.empty(0, dtype=np.int64))
    assert index.size == single.size == 158
    rng = np.random.default_rng(99)
    for q in rng.normal(size=(10, DIM)).astype(np.float32):
        _same(index.search(q, 10, pool=pool), single.search(q, 10))
    allowed = np.concatenate([parts[1][0][::3], parts[3][0][::4]])
    q = rng.normal(size=DIM).astype(np.float32)
    _same(index.search(q, 5, allowed, pool=pool), single.search(q, 5, allowed))
    ids, _, docs = _data(25, 1, 40)
    assert index.document_of(ids[:3].tolist()) == {
        int(i): d for i, d in zip(ids[:3], docs[:3], strict=True)
    }


def test_tombstones_merge_and_reload(tmp_path: Path) -> None:
    manifest, parts = _build(tmp_path, [30, 30, 30])
    first = SegmentedIndex.load(tmp_path, manifest, DIM)
    gone = np.concatenate([parts[0][0][:5], parts[2][0][10:12]])
    held = first.holding(gone)
    assert {len(v) for v in held.values()} == {5, 2}
    entries = {e.name: e for e in manifest.segments}
    changed = [write_tombstones(tmp_path, entries[name], ids) for name, ids in held.items()]
    after = manifest.replaced([e.name for e in changed], changed)
    second = SegmentedIndex.load(tmp_path, after, DIM, previous=first)
    # the untouched segment is the same object; a tombstoned one shares its FAISS index
    untouched = next(s for s in first.segments if s.entry.name not in held)
    assert any(s is untouched for s in second.segments)
    for s in second.segments:
        if s.entry.name in held:
            old = next(o for o in first.segments if o.entry.name == s.entry.name)
            assert s.index is old.index
    single = _one_index(parts, gone)
    assert second.size == single.size == 83
    q = np.random.default_rng(5).normal(size=DIM).astype(np.float32)
    _same(second.search(q, 20), single.search(q, 20))

    # every segment in one: tombstones purged, the same answers
    group = list(after.segments)
    entry = merged(tmp_path, second, group, hnsw_threshold=10**9)
    assert entry is not None and entry.size == 83 and entry.deleted == 0
    third = SegmentedIndex.load(tmp_path, after.replaced([e.name for e in group], [entry]), DIM)
    assert len(third.segments) == 1
    _same(third.search(q, 20), single.search(q, 20))
    assert third.document_of([int(parts[1][0][0])]) == second.document_of([int(parts[1][0][0])])
    # what no manifest lists any more is an orphan
    left = {p.name for p in orphans(tmp_path, [third.manifest])}
    assert {f for e in after.segments for f in e.files} <= left
    assert not left & third.manifest.files


def test_hnsw_segments_find_what_flat_finds(tmp_path: Path) -> None:
    ids, vecs, docs = _data(400, 3)
    entry = write_segment(tmp_path, ids, vecs, docs, DIM, hnsw_threshold=100)
    assert entry.kind == "hnsw"
    index = SegmentedIndex.load(tmp_path, Manifest("m", (entry,)), DIM)
    flat = VectorIndex.build(ids, vecs, DIM, hnsw_threshold=10**9)
    q = vecs[17]
    assert index.search(q, 1)[0][0] == flat.search(q, 1)[0][0] == int(ids[17])


def test_merge_policy_is_tiered_and_purges() -> None:
    from retrieval.segments import SegmentEntry

    policy = MergePolicy(factor=4, floor=100)
    small = [SegmentEntry(f"seg-{i}", 50, "flat") for i in range(4)]
    big = [SegmentEntry("seg-big", 5000, "flat"), SegmentEntry("seg-dead", 1000, "flat", 300)]
    plan = policy.plan(Manifest("m", tuple(small + big)))
    assert [sorted(e.name for e in g) for g in plan] == [
        sorted(e.name for e in small),
        ["seg-dead"],  # 30% tombstones: rewritten without them
    ]
    assert policy.plan(Manifest("m", tuple(small[:3] + big[:1]))) == []


def test_manifest_round_trip() -> None:
    from retrieval.segments import SegmentEntry

    m = Manifest("model", (SegmentEntry("seg-a", 3, "flat", 1, "seg-a.del-x.npy"),))
    assert Manifest.from_json(m.to_json()) == m
    assert m.files == {"seg-a.faiss", "seg-a.docs.npz", "seg-a.del-x.npy"}


@pytest.mark.parametrize("pool", THREADS, ids=["caller", "pool"])
def test_hnsw_segments_find_a_topic_that_landed_in_one_segment(
    tmp_path: Path, pool: SearchThreads | None
) -> None:
    """Two-round search: each HNSW segment first gives its share of k; a segment whose whole share
    beats the round's k-th best (here: the one batch that holds every passage near the query) is
    searched again for all k. The result is the exact top k."""
    rng = np.random.default_rng(5)
    q = rng.normal(size=DIM).astype(np.float32)
    q /= np.linalg.norm(q)
    parts, entries = [], []
    for seg in range(4):
        ids, vecs, docs = _data(1500, 10 + seg, seg * 1500)
        if seg == 2:  # the topic of the query: 150 passages close to it, all in this segment
            near = q + 0.15 * rng.normal(size=(150, DIM)).astype(np.float32)
            vecs[:150] = near / np.linalg.norm(near, axis=1, keepdims=True)
        parts.append((ids, vecs))
        entries.append(write_segment(tmp_path, ids, vecs, docs, DIM, hnsw_threshold=1000))
    index = SegmentedIndex.load(tmp_path, Manifest("model-a", tuple(entries)), DIM)
    assert index.kind == "hnsw"
    exact = _one_index(parts, np.empty(0, dtype=np.int64))
    got = index.search(q, 100, pool=pool)
    assert [i for i, _ in got] == [i for i, _ in exact.search(q, 100)]
    assert set(i for i, _ in got) <= set(parts[2][0][:150].tolist())
    # hits spread over the segments: the top k still matches the exact one (HNSW at this size)
    for other in rng.normal(size=(5, DIM)).astype(np.float32):
        want = {i for i, _ in exact.search(other, 20)}
        assert len(want & {i for i, _ in index.search(other, 20, pool=pool)}) >= 19
