"""A collection's vectors as segments: immutable FAISS files, each with its own tombstones and its
chunk -> document map, listed by a manifest that the catalog keeps with the collection's generation.

The indexer adds a small segment per batch and never rewrites a segment it did not change: a delete
writes a new tombstone file for the segments it touches, a merge writes one segment in place of
several. A reader at generation G loads exactly the files of G's manifest, reusing the segments it
holds already (only new files are read; a changed tombstone file is a small read); large segments
are memory-mapped. A file that no manifest lists (a write cut short by a crash, or one a later
generation replaced) is an orphan: ``orphans`` finds them, the indexer removes them. Every file is
fsynced, and then its directory, before it is listed (``_atomic_write``), so a listed file is whole
after a power cut.

Files, in the collection's index directory: ``seg-<token>.faiss`` (a plain FAISS ``IndexIDMap2``,
Flat or HNSW), ``seg-<token>.docs.npz`` (its chunk ids, sorted, and their documents), and
``seg-<token>.del-<token>.npy`` (its deleted chunk ids).
"""

from __future__ import annotations

import heapq
import json
import math
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import faiss
import numpy as np

from core import failpoints
from core.files import fsync_dir
from retrieval.chunk_documents import ChunkDocuments, as_ids
from retrieval.vector_index import VectorIndex

PREFIX = "seg-"
# Segments at least this large are memory-mapped by readers (FAISS reads smaller ones whole; a
# mapped 100k Flat segment searched 25 % slower than one in memory, measured in-process).
MMAP_OVER = 500_000
# A segment's first-round share of a search's k, beyond twice its share of the vectors.
SHARE_MARGIN = 8


@dataclass(frozen=True)
class SearchThreads:
    """Threads that search some of a query's segments beside the calling thread (one per other
    core: FAISS lets go of the GIL while it searches)."""

    count: int
    executor: ThreadPoolExecutor

    @classmethod
    def make(cls, count: int | None = None, cores: int | None = None) -> SearchThreads:
        """``count`` threads; None: one per core beyond the caller's, at most 3."""
        if count is None:
            count = max(0, min(3, (cores or os.cpu_count() or 1) - 1))
        return cls(count, ThreadPoolExecutor(max(1, count), thread_name_prefix="segments"))


# One search of one segment: (segment, k, allowed ids, beam).
_Planned = tuple[int, int, "np.ndarray | None", int]


def _score(hit: tuple[int, float]) -> float:
    return hit[1]


@dataclass(frozen=True)
class SegmentEntry:
    """One segment as a manifest lists it."""

    name: str  # "seg-<token>": the stem of its files
    size: int  # vectors stored in its file
    kind: str  # "flat" or "hnsw"
    deleted: int = 0  # how many of them are tombstoned
    tombstones: str | None = None  # the file of its deleted ids (None: none deleted)

    @property
    def live(self) -> int:
        return self.size - self.deleted

    @property
    def files(self) -> tuple[str, ...]:
        own = (f"{self.name}.faiss", f"{self.name}.docs.npz")
        return own + ((self.tombstones,) if self.tombstones else ())


@dataclass(frozen=True)
class Manifest:
    """The exact files of one generation of a collection's vectors, and the model that made them."""

    model: str
    segments: tuple[SegmentEntry, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {"model": self.model, "segments": [e.__dict__ for e in self.segments]},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(data["model"], tuple(SegmentEntry(**e) for e in data["segments"]))

    @property
    def files(self) -> set[str]:
        return {f for e in self.segments for f in e.files}

    @property
    def live(self) -> int:
        return sum(e.live for e in self.segments)

    def updated(self, entries: Iterable[SegmentEntry]) -> Manifest:
        """This manifest with ``entries`` in place of the segments of the same names."""
        new = {e.name: e for e in entries}
        return Manifest(self.model, tuple(new.get(e.name, e) for e in self.segments))

    def added(self, entries: Iterable[SegmentEntry]) -> Manifest:
        return Manifest(self.model, self.segments + tuple(entries))

    def replaced(self, old: Iterable[str], new: Iterable[SegmentEntry]) -> Manifest:
        """This manifest with the segments named ``old`` left out and ``new`` added."""
        gone = set(old)
        kept = tuple(e for e in self.segments if e.name not in gone)
        return Manifest(self.model, kept + tuple(new))


def _token() -> str:
    return secrets.token_hex(6)


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through a temp file in the same directory, fsync, rename into place, fsync the
    directory: when this returns, the file is on disk under its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_segment(
    directory: Path,
    ids: np.ndarray,
    vectors: np.ndarray,
    documents: Sequence[str],
    dim: int,
    hnsw_threshold: int,
    hnsw_m: int = 32,
) -> SegmentEntry:
    """A new segment of ``vectors`` (chunk ``ids``, of ``documents``, aligned), Flat or HNSW by its
    size; its files are on disk (fsynced, and their names) when this returns, listed by no
    manifest yet."""
    directory.mkdir(parents=True, exist_ok=True)
    ids = np.asarray(ids, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, dim, hnsw_threshold, hnsw_m)
    name = f"{PREFIX}{_token()}"
    _atomic_write(directory / f"{name}.faiss", index.write)
    names = sorted(set(documents))
    code_of = {d: i for i, d in enumerate(names)}
    order = np.argsort(ids, kind="stable")
    codes = np.fromiter((code_of[d] for d in documents), dtype=np.int32, count=len(documents))

    def write_docs(path: str) -> None:
        with open(path, "wb") as f:
            np.savez(f, ids=ids[order], codes=codes[order], documents=np.array(names, dtype=str))

    _atomic_write(directory / f"{name}.docs.npz", write_docs)
    return SegmentEntry(name, len(ids), index.kind)


def write_tombstones(directory: Path, entry: SegmentEntry, deleted: np.ndarray) -> SegmentEntry:
    """The entry of ``entry``'s segment with ``deleted`` (all of its deleted ids, the earlier ones
    included) as its tombstones, in a new file."""
    deleted = np.unique(np.asarray(deleted, dtype=np.int64))
    if deleted.size == 0:
        return replace(entry, deleted=0, tombstones=None)
    name = f"{entry.name}.del-{_token()}.npy"

    def write(path: str) -> None:
        with open(path, "wb") as f:
            np.save(f, deleted)

    _atomic_write(directory / name, write)
    return replace(entry, deleted=int(deleted.size), tombstones=name)


def remove_files(directory: Path, paths: Iterable[Path]) -> int:
    """Unlink ``paths`` (files of ``directory``), then make their removal durable."""
    removed = 0
    for path in paths:
        path.unlink(missing_ok=True)
        removed += 1
    if removed and directory.is_dir():
        fsync_dir(directory)
    return removed


def orphans(directory: Path, manifests: Iterable[Manifest]) -> list[Path]:
    """Segment files in ``directory`` that none of ``manifests`` lists, and temp files."""
    listed = set().union(*(m.files for m in manifests))
    if not directory.exists():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if (p.name.startswith(PREFIX) and p.name not in listed) or p.name.startswith(".tmp-")
    )


@dataclass
class Segment:
    """A loaded segment: its vectors (with its tombstones as the deleted set) and its chunk ->
    document map."""

    entry: SegmentEntry
    index: faiss.Index  # the FAISS index read from the file (shared by its tombstone versions)
    vectors: VectorIndex
    documents: ChunkDocuments

    @classmethod
    def load(
        cls, directory: Path, entry: SegmentEntry, dim: int, mmap_over: int | None = None
    ) -> Segment:
        """:param mmap_over: map segments of this many vectors or more (default ``MMAP_OVER``)"""
        faiss.omp_set_num_threads(1)  # as VectorIndex.load: 2 threads made one query 3-4x slower
        path = directory / f"{entry.name}.faiss"
        # MMAP_IFC maps a Flat or HNSW index's vectors (page cache, shared by every API process);
        # IO_FLAG_MMAP alone copied them into each process (bench/api_memory.py)
        limit = MMAP_OVER if mmap_over is None else mmap_over
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if entry.size >= limit else 0
        index = faiss.read_index(str(path), flags)
        if index.d != dim:
            raise ValueError(f"{path} holds {index.d}-d vectors, the model makes {dim}-d ones")
        with np.load(directory / f"{entry.name}.docs.npz", allow_pickle=False) as docs:
            documents = ChunkDocuments(
                docs["ids"], docs["codes"], tuple(str(d) for d in docs["documents"])
            )
        return cls(entry, index, _vectors(index, dim, directory, entry), documents)

    def with_entry(self, directory: Path, entry: SegmentEntry) -> Segment:
        """The same segment under another entry of its (its tombstones changed): no vector read."""
        return Segment(
            entry,
            self.index,
            _vectors(self.index, dim=self.vectors.dim, directory=directory, entry=entry),
            self.documents,
        )


def _vectors(index: faiss.Index, dim: int, directory: Path, entry: SegmentEntry) -> VectorIndex:
    deleted = None
    if entry.tombstones:
        deleted = np.load(directory / entry.tombstones, allow_pickle=False)
    return VectorIndex(index, dim, deleted)


@dataclass
class SegmentedIndex:
    """Every segment of one manifest, searched as one index."""

    manifest: Manifest
    dim: int
    segments: list[Segment] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        directory: Path,
        manifest: Manifest,
        dim: int,
        previous: SegmentedIndex | None = None,
        mmap_over: int | None = None,
    ) -> SegmentedIndex:
        """The segments of ``manifest``; those ``previous`` holds are reused (a new tombstone file
        is read, the vectors are not). ``mmap_over``: as ``Segment.load``'s."""
        held = {s.entry.name: s for s in previous.segments} if previous is not None else {}
        loaded: list[Segment] = []
        for entry in manifest.segments:
            had = held.get(entry.name)
            if had is None:
                loaded.append(Segment.load(directory, entry, dim, mmap_over))
            elif had.entry == entry:
                loaded.append(had)
            else:
                loaded.append(had.with_entry(directory, entry))
        return cls(manifest, dim, loaded)

    @property
    def size(self) -> int:
        """Live vectors."""
        return sum(s.vectors.size for s in self.segments)

    @property
    def deleted(self) -> int:
        return sum(s.vectors.deleted for s in self.segments)

    @property
    def kind(self) -> str:
        kinds = sorted({s.vectors.kind for s in self.segments})
        return "+".join(kinds) if kinds else "flat"

    def live_ids(self) -> np.ndarray:
        parts = [s.vectors.live_ids() for s in self.segments]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def holding(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Segment name -> the ones of ``ids`` it stores (deleted or not)."""
        ids = np.asarray(ids, dtype=np.int64)
        out: dict[str, np.ndarray] = {}
        if ids.size == 0:
            return out
        for s in self.segments:
            stored = s.documents.chunk_ids  # sorted: a binary search per id, not a set of all
            if stored.size == 0:
                continue
            pos = np.minimum(np.searchsorted(stored, ids), stored.size - 1)
            found = ids[stored[pos] == ids]
            if found.size:
                out[s.entry.name] = found
        return out

    def deleted_ids(self, name: str) -> np.ndarray:
        seg = next(s for s in self.segments if s.entry.name == name)
        return seg.vectors.deleted_ids()

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        ef_search: int = 128,
        pool: SearchThreads | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, inner product) over every segment, merged; ``pool``'s threads search
        some of the segments beside the calling thread. Over Flat segments this is
        exactly the top ``k`` of one index of the same vectors.

        HNSW segments are searched in two rounds (as Lucene's collectors share a minimum competitive
        score across segments): first each for its share of ``k`` (twice its share of the live
        vectors, plus a margin) with a beam narrowed in proportion; then, once the round's k-th best
        score is known, every segment whose whole share still beats it (more of its passages may
        belong in the top ``k``: a batch of documents on one topic lands in one segment) is searched
        again for all ``k`` with the full beam. Where the hits spread over the segments, as they do
        in a large collection, no segment is searched twice."""
        faiss.omp_set_num_threads(1)  # per calling thread: one query is faster on one thread
        if len(self.segments) == 1:
            return self.segments[0].vectors.search(query, k, allowed_ids, ef_search)
        total = max(1, self.size)
        first: list[_Planned] = []
        for i, s in enumerate(self.segments):
            share = min(k, math.ceil(2 * k * s.vectors.size / total) + SHARE_MARGIN)
            if s.vectors.kind != "hnsw" or allowed_ids is not None or share >= k:
                first.append((i, k, allowed_ids, ef_search))
            else:
                first.append((i, share, None, max(share, math.ceil(ef_search * share / k))))
        found = dict(zip([p[0] for p in first], self._search_each(query, first, pool), strict=True))
        # the segments searched for a share of k that filled it
        full_share = [i for i, n, _a, _b in first if n < k and len(found[i]) == n]
        if full_share:
            best = heapq.nlargest(k, (h for hits in found.values() for h in hits), key=_score)
            bar = best[-1][1] if len(best) >= k else -math.inf
            again: list[_Planned] = [
                (i, k, None, ef_search) for i in full_share if found[i][-1][1] >= bar
            ]
            found.update(
                zip([p[0] for p in again], self._search_each(query, again, pool), strict=True)
            )
        return heapq.nlargest(k, (h for hits in found.values() for h in hits), key=_score)

    def _search_each(
        self, query: np.ndarray, plan: Sequence[_Planned], pool: SearchThreads | None
    ) -> list[list[tuple[int, float]]]:
        """The hits of each planned search, in plan order: this thread searches one run of the
        segments, each of ``pool``'s threads another."""

        def run(part: Sequence[_Planned]) -> list[list[tuple[int, float]]]:
            faiss.omp_set_num_threads(1)  # per thread, as above
            return [self.segments[i].vectors.search(query, n, a, b) for i, n, a, b in part]

        runs = min(len(plan), 1 + (pool.count if pool is not None else 0))
        if runs <= 1:
            return run(plan)
        parts = [plan[j::runs] for j in range(runs)]  # large and small segments spread evenly
        assert pool is not None
        pending = [pool.executor.submit(run, part) for part in parts[1:]]
        done = [run(parts[0])] + [f.result() for f in pending]
        out: list[list[tuple[int, float]]] = [[] for _ in plan]
        for j, hits in enumerate(done):
            out[j::runs] = hits
        return out

    def document_of(self, chunk_ids: Iterable[int]) -> dict[int, str]:
        """chunk id -> document id over every segment (each id is looked up until a segment holds
        it: a chunk lives in one segment)."""
        wanted = as_ids(chunk_ids)
        out: dict[int, str] = {}
        for s in self.segments:
            if wanted.size == 0:
                break
            got, wanted = s.documents.found(wanted)
            out.update(got)
        return out


# -- the merge policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergePolicy:
    """Tiered, as Lucene's: segments fall in tiers by live size (powers of ``factor`` above
    ``floor``); ``factor`` segments of one tier merge into one of the next. A segment whose
    tombstones pass ``max_deleted`` of it is rewritten without them."""

    factor: int = 8
    floor: int = 1000
    max_deleted: float = 0.2

    def tier(self, entry: SegmentEntry) -> int:
        live = max(entry.live, 1)
        if live <= self.floor:
            return 0
        return 1 + int(math.log(live / self.floor, self.factor))

    def plan(self, manifest: Manifest) -> list[list[SegmentEntry]]:
        """Groups of segments to merge (a group of one: purge its tombstones)."""
        groups: list[list[SegmentEntry]] = []
        chosen: set[str] = set()
        tiers: dict[int, list[SegmentEntry]] = {}
        for e in manifest.segments:
            tiers.setdefault(self.tier(e), []).append(e)
        for _tier, members in sorted(tiers.items()):
            if len(members) >= self.factor:
                group = sorted(members, key=lambda e: e.live)[: self.factor]
                groups.append(group)
                chosen.update(e.name for e in group)
        for e in manifest.segments:
            if e.name not in chosen and e.size and e.deleted / e.size > self.max_deleted:
                groups.append([e])
        return groups


def merged(
    directory: Path,
    index: SegmentedIndex,
    group: Sequence[SegmentEntry],
    hnsw_threshold: int,
    hnsw_m: int = 32,
) -> SegmentEntry | None:
    """One new segment holding the live vectors of ``group`` (None when nothing of it is live)."""
    names = {e.name for e in group}
    ids_parts, vec_parts, docs = [], [], []
    for s in index.segments:
        if s.entry.name not in names:
            continue
        live = s.vectors.live_ids()
        if live.size == 0:
            continue
        ids_parts.append(live)
        vec_parts.append(s.vectors.reconstruct(live))
        doc_of = s.documents.of(live.tolist())
        docs.extend(doc_of[int(i)] for i in live)
    if not ids_parts:
        return None
    failpoints.hit("index.merge")
    return write_segment(
        directory,
        np.concatenate(ids_parts),
        np.concatenate(vec_parts),
        docs,
        index.dim,
        hnsw_threshold,
        hnsw_m,
    )
