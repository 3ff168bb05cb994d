"""The one wrapper of FAISS: an ``IndexIDMap2`` over exact inner product (Flat) or, above a size
threshold, HNSW; saved atomically (temp file + ``os.replace``) together with its deleted ids.

HNSW has no ``remove_ids`` (not even under IDMap2): removed ids go to a deleted set that searches
exclude with an id selector, and the indexer rebuilds the index (compaction) when too many pile up.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path

import faiss
import numpy as np

from core import failpoints

INDEX_FILE = "vectors.idx"  # before file names carried the model (still read)
_MAGIC = b"ASKVEC01"


def index_file(model: str | None) -> str:
    """The file of a collection's vectors made by ``model``: one file per model, so switching
    models writes a new file and the catalog commit picks it (the old one serves until then)."""
    if model is None:
        return INDEX_FILE
    return f"vectors-{hashlib.sha256(model.encode()).hexdigest()[:12]}.idx"


class VectorIndex:
    """Vectors keyed by 63-bit chunk ids. Only the indexer process writes one to disk."""

    def __init__(self, index: faiss.Index, dim: int, deleted: np.ndarray | None = None) -> None:
        self._index = index
        self.dim = dim
        self._deleted: set[int] = set(int(i) for i in deleted) if deleted is not None else set()
        self._selector_cache: tuple[object, object] | None = None
        inner = faiss.downcast_index(index.index)
        self.kind = "hnsw" if isinstance(inner, faiss.IndexHNSW) else "flat"

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), dim)

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        dim: int,
        hnsw_threshold: int,
        hnsw_m: int = 32,
        ef_construction: int = 80,
    ) -> VectorIndex:
        """A fresh index of the right kind for its size: Flat below the threshold, HNSW above."""
        if len(ids) >= hnsw_threshold:
            inner = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = ef_construction
        else:
            inner = faiss.IndexFlatIP(dim)
        index = cls(faiss.IndexIDMap2(inner), dim)
        if len(ids):
            index._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )
        return index

    @classmethod
    def load(cls, directory: Path, dim: int, model: str | None = None) -> VectorIndex:
        """The saved index of ``directory`` made by ``model``, or an empty one when none was saved
        yet."""
        faiss.omp_set_num_threads(1)  # measured: 2 threads made single queries 3x slower
        path = directory / index_file(model)
        if not path.exists():
            path = directory / INDEX_FILE  # written by an older version, for the same model
        if not path.exists():
            return cls.empty(dim)
        with path.open("rb") as f:
            if f.read(8) != _MAGIC:
                raise ValueError(f"{path} is not an askdocs vector index")
            (n_deleted,) = struct.unpack("<q", f.read(8))
            deleted = np.frombuffer(f.read(8 * n_deleted), dtype=np.int64)
            index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
        if index.d != dim:
            raise ValueError(f"{path} holds {index.d}-d vectors, the model makes {dim}-d ones")
        return cls(index, dim, deleted)

    @property
    def size(self) -> int:
        """Live vectors (stored minus deleted)."""
        return int(self._index.ntotal) - len(self._deleted)

    @property
    def deleted(self) -> int:
        return len(self._deleted)

    @property
    def faiss_index(self) -> faiss.Index:
        """The FAISS index itself (a segment reader shares it across tombstone versions)."""
        return self._index

    def deleted_ids(self) -> np.ndarray:
        return np.fromiter(self._deleted, dtype=np.int64, count=len(self._deleted))

    def live_ids(self) -> np.ndarray:
        """Ids a search can return: stored and not deleted."""
        stored = self._stored_ids()
        if not self._deleted:
            return stored
        return stored[~np.isin(stored, np.fromiter(self._deleted, dtype=np.int64))]

    def _stored_ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors; adding ids that are already there changes nothing."""
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.kind == "flat":
            self._index.remove_ids(ids)
        else:  # ids are content-derived: a stored id holds the same vector, just revive it
            self._deleted.difference_update(int(i) for i in ids)
            self._selector_cache = None
            fresh = ~np.isin(ids, self._stored_ids())
            ids, vectors = ids[fresh], vectors[fresh]
        if len(ids):
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        if self.kind == "flat":
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))
        else:
            stored = self._stored_ids()
            self._deleted.update(int(i) for i in np.asarray(ids)[np.isin(ids, stored)])
            self._selector_cache = None

    def _not_deleted_selector(self) -> tuple[faiss.IDSelector, faiss.IDSelector]:
        """(inner, selector excluding deleted ids), built once per deleted set, not per query. The
        caller holds the pair for the whole search: the Not selector points into the inner one."""
        pair = self._selector_cache
        if pair is None:
            gone = faiss.IDSelectorBatch(np.fromiter(self._deleted, dtype=np.int64))
            pair = (gone, faiss.IDSelectorNot(gone))
            self._selector_cache = pair
        return pair

    def needs_compaction(self, hnsw_threshold: int, max_deleted_fraction: float = 0.2) -> bool:
        """Too many tombstones, or the index kind no longer fits its size."""
        stored = int(self._index.ntotal)
        if stored and len(self._deleted) / stored > max_deleted_fraction:
            return True
        if self.kind == "flat":
            return self.size >= hnsw_threshold
        return self.size < hnsw_threshold // 2

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        ef_search: int = 128,
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, inner product) pairs for one query vector; ``allowed_ids`` and deletions
        filter inside the search (id selectors), so a filter never empties a top-k cut."""
        if self.size <= 0 or (allowed_ids is not None and len(allowed_ids) == 0):
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        keep: list[object] = []  # selectors must outlive the search call
        sel = None
        if allowed_ids is not None:
            sel = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            keep.append(sel)
        if self._deleted:
            pair = self._not_deleted_selector()
            keep.append(pair)
            not_gone = pair[1]
            sel = faiss.IDSelectorAnd(sel, not_gone) if sel is not None else not_gone
            keep.append(sel)
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(ef_search, k))
            if sel is not None:
                params.sel = sel
        else:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        scores, ids = self._index.search(q, min(k, int(self._index.ntotal)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def write(self, path: str) -> None:
        """The FAISS index alone, as a plain FAISS file (a segment's; its tombstones live apart)."""
        faiss.write_index(self._index, path)

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (a merge copies them into a new segment)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.vstack([self._index.reconstruct(int(i)) for i in ids]).astype(np.float32)

    def save(self, directory: Path, model: str | None = None, drop_unnamed: bool = True) -> None:
        """Write a new file and ``os.replace`` it in: readers see the old or the new, never half.
        ``drop_unnamed``: remove an older version's unnamed file, which held ``model``'s vectors."""
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".idx")
        try:
            with os.fdopen(fd, "wb") as f:
                deleted = np.fromiter(self._deleted, dtype=np.int64, count=len(self._deleted))
                f.write(_MAGIC + struct.pack("<q", len(deleted)) + deleted.tobytes())
                faiss.write_index(self._index, faiss.PyCallbackIOWriter(f.write))
                f.flush()
                os.fsync(f.fileno())
            failpoints.hit("index.before_replace")
            os.replace(tmp, directory / index_file(model))
            if model is not None and drop_unnamed:  # superseded by the file just written
                (directory / INDEX_FILE).unlink(missing_ok=True)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
