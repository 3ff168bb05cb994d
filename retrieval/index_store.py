"""Where each collection's vector index lives, and a reader-side cache that follows generations."""

from __future__ import annotations

import threading
from pathlib import Path

from askdocs.catalog import Catalog, Collection
from retrieval.vector_index import VectorIndex


def collection_dir(index_dir: Path, collection: str) -> Path:
    return index_dir / collection


class IndexCache:
    """Readers (the API) keep each collection's index in memory and reload it when the catalog's
    generation counter moves past the one they loaded."""

    def __init__(self, catalog: Catalog, index_dir: Path) -> None:
        self._catalog = catalog
        self._index_dir = index_dir
        self._loaded: dict[str, tuple[int, VectorIndex]] = {}
        self._lock = threading.Lock()

    def get(self, collection: str, dim: int) -> VectorIndex:
        with self._catalog.session() as s:
            coll = s.get(Collection, collection)
            generation = coll.index_generation if coll else 0
        with self._lock:
            cached = self._loaded.get(collection)
            if cached and cached[0] >= generation:
                return cached[1]
            index = VectorIndex.load(collection_dir(self._index_dir, collection), dim)
            self._loaded[collection] = (generation, index)
            return index
