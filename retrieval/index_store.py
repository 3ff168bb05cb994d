"""Where each collection's indexes live, and a reader-side cache that follows generations.

The index files and the catalog's generation counter change together: the indexer holds a
collection's write lock (exclusive ``flock``) from writing the files until the catalog commit that
records their manifest and bumps the generation, and a reader loads the files under the shared
lock, so the generation it remembers describes exactly the files it loaded. A reader that later
finds the catalog at another generation loads what changed (new segments, new tombstones; the
lexical index reloads its reader) and searches again (``Retriever.search``); nothing it returns
mixes two states.
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
from retrieval.segments import Manifest, Segment, SegmentedIndex, SegmentEntry
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
    vectors: SegmentedIndex  # with the chunk -> document map, as of the same generation
    lexical: LexicalIndex
    model: str  # the embedding model its vectors come from: queries must use the same


def manifest_of(coll: Collection | None) -> Manifest | None:
    """The segments a collection's index is made of now (None: none recorded yet)."""
    if coll is None or not coll.segments:
        return None
    return Manifest.from_json(coll.segments)


def load_vectors(
    catalog: Catalog,
    directory: Path,
    collection: str,
    manifest: Manifest | None,
    model: ServedModel,
    previous: SegmentedIndex | None = None,
) -> SegmentedIndex:
    """The vectors of ``manifest`` (reusing what ``previous`` holds); for a collection indexed
    before segments, its one vector file as a single segment."""
    if manifest is not None:
        return SegmentedIndex.load(directory, manifest, model.dim, previous)
    legacy = VectorIndex.load(directory, model.dim, model.label)
    entry = SegmentEntry("legacy", legacy.size + legacy.deleted, legacy.kind, legacy.deleted)
    documents = ChunkDocuments.load(catalog, collection)
    segment = Segment(entry, legacy.faiss_index, legacy, documents)
    return SegmentedIndex(Manifest(model.label, (entry,)), model.dim, [segment])


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
                    manifest = manifest_of(coll)
                directory = collection_dir(self._index_dir, collection)
                # the same collection (not one made again under its name): reuse what it holds
                same = cached is not None and cached.generation[0] == generation[0]
                if same and cached is not None and cached.model == model.label:
                    lexical, previous = cached.lexical, cached.vectors
                else:
                    lexical, previous = LexicalIndex(directory), None
                lexical.reload()
                vectors = load_vectors(
                    self._catalog, directory, collection, manifest, model, previous
                )
            loaded = CollectionIndexes(generation, vectors, lexical, model.label)
            self._loaded[collection] = loaded
            return loaded
