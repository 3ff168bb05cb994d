"""The one wrapper of FAISS: an ``IndexIDMap2`` over exact inner product, saved atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import faiss
import numpy as np

INDEX_FILE = "vectors.faiss"


class VectorIndex:
    """Vectors keyed by 63-bit chunk ids. Only the indexer process writes one to disk."""

    def __init__(self, index: faiss.Index, dim: int) -> None:
        self._index = index
        self.dim = dim

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), dim)

    @classmethod
    def load(cls, directory: Path, dim: int) -> VectorIndex:
        """The saved index of ``directory``, or an empty one when none was saved yet."""
        faiss.omp_set_num_threads(1)  # measured: 2 threads made single queries 3x slower
        path = directory / INDEX_FILE
        if not path.exists():
            return cls.empty(dim)
        index = faiss.read_index(str(path))
        if index.d != dim:
            raise ValueError(f"{path} holds {index.d}-d vectors, the model makes {dim}-d ones")
        return cls(index, dim)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.remove(ids)  # adding the same ids twice changes nothing
        self._index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
        )

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(
        self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (id, inner product) pairs for one query vector; ``allowed_ids`` filters inside
        the search (an id selector), so a filter never empties a top-k cut."""
        if self.size == 0 or (allowed_ids is not None and len(allowed_ids) == 0):
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed_ids is not None:
            params = faiss.SearchParameters(
                sel=faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
            )
        scores, ids = self._index.search(q, min(k, self.size), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self, directory: Path) -> None:
        """Write a new file and ``os.replace`` it in: readers see the old or the new, never half."""
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".faiss")
        os.close(fd)
        try:
            faiss.write_index(self._index, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, directory / INDEX_FILE)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
