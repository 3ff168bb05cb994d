"""Where each collection's indexes live, and a reader-side cache that follows generations."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from askdocs.catalog import Catalog, Collection
from retrieval.lexical_index import LexicalIndex
from retrieval.vector_index import VectorIndex


def collection_dir(index_dir: Path, collection: str) -> Path:
    return index_dir / collection


@dataclass
class CollectionIndexes:
    generation: int
    vectors: VectorIndex
    lexical: LexicalIndex


class IndexCache:
    """Readers (the API) keep each collection's indexes in memory and reload them when the catalog's
    generation counter moves past the one they loaded."""

    def __init__(self, catalog: Catalog, index_dir: Path) -> None:
        self._catalog = catalog
        self._index_dir = index_dir
        self._loaded: dict[str, CollectionIndexes] = {}
        self._lock = threading.Lock()

    def get(self, collection: str, dim: int) -> CollectionIndexes:
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
            generation = coll.index_generation if coll else 0
        with self._lock:
            cached = self._loaded.get(collection)
            if cached and cached.generation >= generation:
                return cached
            directory = collection_dir(self._index_dir, collection)
            lexical = cached.lexical if cached else LexicalIndex(directory)
            lexical.reload()
            loaded = CollectionIndexes(generation, VectorIndex.load(directory, dim), lexical)
            self._loaded[collection] = loaded
            return loaded
