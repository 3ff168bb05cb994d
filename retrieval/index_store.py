"""Where each collection's indexes live, and a reader-side cache that follows generations.

The index files and the catalog's generation counter change together: the indexer holds a
collection's write lock (exclusive ``flock``) from writing the files until the catalog commit that
bumps the generation, and a reader loads the files under the shared lock, so the generation it
remembers describes exactly the files it loaded. A reader that later finds the catalog at another
generation reloads and searches again (``Retriever.search``); nothing it returns mixes two states.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.catalog import Catalog, Collection
from retrieval.chunk_documents import ChunkDocuments
from retrieval.embedding import model_dim, model_label
from retrieval.lexical_index import LexicalIndex
from retrieval.vector_index import VectorIndex


def collection_dir(index_dir: Path, collection: str) -> Path:
    return index_dir / collection


@contextmanager
def generation_lock(index_dir: Path, collection: str, exclusive: bool) -> Iterator[None]:
    """Exclusive for the indexer between writing files and committing the generation; shared for
    a reader loading them."""
    directory = collection_dir(index_dir, collection)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".generation.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# Which files a reader holds: the collection row's creation time and its generation counter (a
# collection deleted or renamed away and made again under the same name restarts its counter).
Stamp = tuple[datetime | None, int]


@dataclass
class CollectionIndexes:
    generation: Stamp
    vectors: VectorIndex
    lexical: LexicalIndex
    model: str  # the embedding model its vectors come from: queries must use the same
    documents: ChunkDocuments  # chunk -> document, as of the same generation


@dataclass(frozen=True)
class ServedModel:
    """Which embedding model made a collection's index, and its dimension."""

    label: str
    dim: int

    @classmethod
    def of(cls, model: str) -> ServedModel:
        """A configured model (``ASKDOCS_EMBEDDING_MODEL``), from its config files: no torch."""
        return cls(model_label(model), model_dim(model))


def served_model(coll: Collection | None, default: ServedModel) -> ServedModel:
    """The model of ``coll``'s index; ``default`` (the deployment's) for one not built yet."""
    if coll is None or not coll.embedding_model or not coll.embedding_dim:
        return default
    return ServedModel(coll.embedding_model, coll.embedding_dim)


class IndexCache:
    """Readers (the API) keep each collection's indexes in memory and reload them when the catalog's
    generation counter moves past the one they loaded."""

    def __init__(self, catalog: Catalog, index_dir: Path, default: ServedModel) -> None:
        self._catalog = catalog
        self._index_dir = index_dir
        self.default = default
        self._loaded: dict[str, CollectionIndexes] = {}
        self._lock = threading.Lock()

    def generation(self, collection: str) -> Stamp:
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
            return (coll.created_at, coll.index_generation) if coll else (None, 0)

    def get(self, collection: str) -> CollectionIndexes:
        generation = self.generation(collection)
        with self._lock:
            cached = self._loaded.get(collection)
            if cached and cached.generation == generation:
                return cached
            with generation_lock(self._index_dir, collection, exclusive=False):
                with self._catalog.reader() as s:  # what the files now on disk hold
                    coll = s.get(Collection, collection)
                    generation = (coll.created_at, coll.index_generation) if coll else (None, 0)
                    model = served_model(coll, self.default)
                directory = collection_dir(self._index_dir, collection)
                lexical = LexicalIndex(directory)
                lexical.reload()
                vectors = VectorIndex.load(directory, model.dim, model.label)
                documents = ChunkDocuments.load(self._catalog, collection)
            loaded = CollectionIndexes(generation, vectors, lexical, model.label, documents)
            self._loaded[collection] = loaded
            return loaded
