"""A segment at or above ``MMAP_OVER`` vectors is memory-mapped (its vectors stay in the page
cache, shared by every API process; bench/api_memory.py measures it): loaded that way, Flat and
HNSW segments, with tombstones, answer exactly as when read into memory. The threshold is lowered
here so that small segments take the mapped path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval import segments
from retrieval.segments import Manifest, SegmentedIndex, write_segment, write_tombstones

pytestmark = pytest.mark.unit

DIM = 16


@pytest.mark.parametrize("hnsw_threshold", [10**9, 10], ids=["flat", "hnsw"])
def test_a_mapped_segment_answers_as_one_read_into_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hnsw_threshold: int
) -> None:
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(400, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(400, dtype=np.int64) * 31 + 5
    docs = [f"doc-{i // 4}" for i in range(400)]
    entry = write_segment(tmp_path, ids, vecs, docs, DIM, hnsw_threshold)
    entry = write_tombstones(tmp_path, entry, ids[:50])
    manifest = Manifest("model-a", (entry,))
    queries = rng.normal(size=(5, DIM)).astype(np.float32)

    in_memory = SegmentedIndex.load(tmp_path, manifest, DIM)
    monkeypatch.setattr(segments, "MMAP_OVER", 1)
    mapped = SegmentedIndex.load(tmp_path, manifest, DIM)
    for q in queries:
        got, want = mapped.search(q, 10), in_memory.search(q, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
        assert not set(ids[:50].tolist()) & {i for i, _ in got}  # tombstoned stay out


def test_the_mmap_threshold_is_the_callers(tmp_path: Path) -> None:
    """``ASKDOCS_SEGMENT_MMAP_VECTORS`` reaches the load: a segment at or above it is mapped (its
    file shows in this process's mappings), one below it is read into memory."""
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(100, DIM)).astype(np.float32)
    ids = np.arange(100, dtype=np.int64)
    entry = write_segment(tmp_path, ids, vecs, [f"d{i}" for i in range(100)], DIM, 10**9)
    manifest = Manifest("model-a", (entry,))
    path = str(tmp_path / f"{entry.name}.faiss")

    def mapped() -> bool:
        return path in Path("/proc/self/maps").read_text()

    held = SegmentedIndex.load(tmp_path, manifest, DIM, mmap_over=101)
    assert not mapped()
    held_mapped = SegmentedIndex.load(tmp_path, manifest, DIM, mmap_over=100)
    assert mapped()
    assert held.search(vecs[0], 3) == held_mapped.search(vecs[0], 3)
