"""Where each collection's indexes live, who may change them when, and a reader-side cache that
follows generations.

Who writes. One indexer per deployment: ``askdocs up`` starts one, docker-compose runs it with
``replicas: 1``, and it is a Celery worker with the ``solo`` pool, so its tasks run one at a time.
It is the only process that writes a collection's index files; API processes (any number, on any
host sharing the data directory) only read them.

What guarantees what.

- The catalog commit is the commit point. A collection's row holds the manifest (the exact segment
  files, ``retrieval.segments``) and a generation counter. The indexer builds new files that no
  manifest lists yet (fsynced, their directory fsynced), then records them in a short transaction
  that first checks the row is still at the generation the build read; if it moved, the build is
  given up and its unlisted files removed. Files a manifest stops listing are unlinked only after
  the commit that stopped listing them, once that commit is durable (``make_durable``). So after a
  crash at any point the row names a complete generation: the old one or the new one.
- The build lock (``build_lock``) is held by the indexer through a whole write of one collection
  (build and commit): an exclusive ``flock`` on the collection's ``.build.lock`` and, on a
  PostgreSQL catalog, a session advisory lock keyed by the collection's name (``flock`` does not
  coordinate hosts on a network file system; the catalog does). No one else removes a file a build
  has written and not committed yet (``consistency.remove_orphans`` takes it too), and a second
  indexer started by mistake waits rather than interleaves. Readers never take it.
- The generation lock (``generation_lock``) is held exclusively only around the commit: the
  lexical commit, the catalog commit and the unlinking of files no longer listed. A reader holds it
  shared only while it reads the row and reloads its lexical reader (so on one host the lexical
  state it searches is the generation it remembers), and a backup holds it shared to freeze
  generations. A reader therefore waits at most for one commit, never for a build.
- A reader loads the vector files of the manifest it read without any lock: a file that went
  missing meanwhile was replaced by a later commit, so it reads the row again and retries; files
  it has opened or mapped survive their unlink.
- The lexical index commits just before the catalog: between the two, its entries of documents
  the catalog does not call ready are never returned (``Retriever._ready`` keeps only ready
  documents' chunks), and a rerun of the write replaces them (tantivy deletes by document id, then
  adds), so a crash in between is repaired by the indexer's rerun. A reader on another host, where
  ``flock`` orders nothing, may see the lexical index a moment ahead: ``Retriever.search`` searches
  again when the generation moved under it.

The cache. Each collection has its own entry and lock: the cache-wide lock is held only to find or
make an entry, so a reader of one collection never waits on anything of another. An entry not read
for ``idle_seconds`` is dropped at the next access of the cache; a collection whose row is gone
(dropped, renamed away) is dropped as soon as a reader asks for it, and every held collection is
checked against the catalog at most once a ``GONE_CHECK_SECONDS``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text

from core.catalog import Catalog, Collection
from retrieval.chunk_documents import ChunkDocuments
from retrieval.embedding import model_dim, model_label
from retrieval.lexical_index import LexicalIndex
from retrieval.segments import Manifest, Segment, SegmentedIndex, SegmentEntry
from retrieval.vector_index import VectorIndex

# Loads of one collection by a reader when the indexer keeps replacing its files meanwhile.
LOAD_ATTEMPTS = 5
# How often, at most, a reader checks every held collection's row (dropped or renamed ones go).
GONE_CHECK_SECONDS = 60.0


def collection_dir(index_dir: Path, collection: str) -> Path:
    return index_dir / collection


@contextmanager
def _flock(path: Path, exclusive: bool) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def generation_lock(index_dir: Path, collection: str, exclusive: bool) -> Iterator[None]:
    """Exclusive for the indexer around a commit (lexical commit, catalog commit, unlinking);
    shared for a reader reading the row and reloading its lexical reader, or a backup."""
    with _flock(collection_dir(index_dir, collection) / ".generation.lock", exclusive):
        yield


def _advisory_key(collection: str) -> int:
    digest = hashlib.sha256(f"askdocs-index:{collection}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def build_lock(catalog: Catalog, index_dir: Path, collection: str) -> Iterator[None]:
    """Held through a whole write of ``collection``'s index files, from the first file to the
    commit: a ``flock`` (this host) and, on PostgreSQL, an advisory lock (every host). No
    transaction stays open while it is held."""
    with _flock(collection_dir(index_dir, collection) / ".build.lock", exclusive=True):
        if catalog.engine.dialect.name != "postgresql":
            yield
            return
        key = _advisory_key(collection)
        with catalog.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()  # a session lock: it outlives the transaction that took it
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def make_durable(catalog: Catalog) -> None:
    """Make the catalog's last commit survive a power cut before anything that relies on it (the
    unlinking of files it stopped listing). PostgreSQL commits durably; SQLite in WAL mode with
    ``synchronous=NORMAL`` does not, so its WAL (and main file) are fsynced here."""
    if catalog.engine.dialect.name != "sqlite":
        return
    database = catalog.engine.url.database
    if not database or database == ":memory:":
        return
    for path in (f"{database}-wal", database):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
    mmap_over: int | None = None,
) -> SegmentedIndex:
    """The vectors of ``manifest`` (reusing what ``previous`` holds); for a collection indexed
    before segments, its one vector file as a single segment. ``mmap_over``: segments of this many
    vectors or more are memory-mapped (default ``segments.MMAP_OVER``)."""
    if manifest is not None:
        return SegmentedIndex.load(directory, manifest, model.dim, previous, mmap_over)
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


@dataclass(frozen=True)
class IndexSummary:
    """What a collection's indexes hold, for status pages."""

    vectors: int  # live ones
    kind: str  # "flat", "hnsw" or "flat+hnsw"
    segments: int
    lexical: int  # chunks in the lexical index


@dataclass
class _Held:
    """One collection's place in the cache: its own lock, what it holds, when it was last read."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    indexes: CollectionIndexes | None = None
    read_at: float = 0.0


class IndexCache:
    """Readers (the API) keep each collection's indexes in memory and reload them when the catalog's
    generation counter moves past the one they loaded.

    :param idle_seconds: a collection not read for this long is dropped from memory
    :param clock: seconds on a monotonic scale (tests pass their own)
    :param mmap_vectors: segments of this many vectors or more are memory-mapped
        (``ASKDOCS_SEGMENT_MMAP_VECTORS``; default ``segments.MMAP_OVER``)
    """

    def __init__(
        self,
        catalog: Catalog,
        index_dir: Path,
        default: ServedModel,
        idle_seconds: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
        mmap_vectors: int | None = None,
    ) -> None:
        self._catalog = catalog
        self._index_dir = index_dir
        self._mmap_vectors = mmap_vectors
        self.default = default
        self._idle = idle_seconds
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()  # only to find, make or drop an entry: never while loading
        self._checked = clock()

    def generation(self, collection: str) -> Stamp:
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
            return (coll.created_at, coll.index_generation) if coll else (None, 0)

    def loaded(self) -> list[str]:
        """The collections held in memory now."""
        with self._lock:
            return sorted(n for n, h in self._held.items() if h.indexes is not None)

    def get(self, collection: str) -> CollectionIndexes:
        stamp = self.generation(collection)
        now = self._clock()
        self._forget_gone(now)
        with self._lock:
            self._forget_idle(now)
            if stamp[0] is None:  # no such collection (dropped, renamed away, not made yet)
                self._held.pop(collection, None)
                held = _Held()  # loaded for this call only
            else:
                held = self._held.setdefault(collection, _Held())
            held.read_at = now
        with held.lock:  # only readers of this collection wait here
            cached = held.indexes
            if cached is not None and cached.generation == stamp:
                return cached
            held.indexes = self._load(collection, cached)
            return held.indexes

    def summary(self, collection: str) -> IndexSummary:
        """What ``collection``'s indexes hold, without counting as a read (a dashboard polling
        ``/status`` must not keep every collection in memory): from what this process holds when
        that is the current generation, else from the catalog's manifest and the lexical index's
        own count. A collection indexed before segments (no manifest) is loaded."""
        stamp = self.generation(collection)
        with self._lock:
            held = self._held.get(collection)
            indexes = held.indexes if held is not None else None
        if indexes is None or indexes.generation != stamp:
            with self._catalog.reader() as s:
                manifest = manifest_of(s.get(Collection, collection))
            if manifest is not None:
                directory = collection_dir(self._index_dir, collection)
                kinds = sorted({e.kind for e in manifest.segments})
                return IndexSummary(
                    vectors=manifest.live,
                    kind="+".join(kinds) if kinds else "flat",
                    segments=len(manifest.segments),
                    lexical=LexicalIndex(directory).size if directory.is_dir() else 0,
                )
            indexes = self.get(collection)
        return IndexSummary(
            indexes.vectors.size,
            indexes.vectors.kind,
            len(indexes.vectors.segments),
            indexes.lexical.size,
        )

    def _forget_idle(self, now: float) -> None:
        """Under the cache-wide lock: drop the collections not read for ``idle_seconds`` (one
        being loaded right now stays)."""
        for name, held in list(self._held.items()):
            if now - held.read_at >= self._idle and not held.lock.locked():
                del self._held[name]

    def _forget_gone(self, now: float) -> None:
        """At most once a GONE_CHECK_SECONDS: drop the held collections whose row is gone or
        was made again (one query for all)."""
        with self._lock:
            if now - self._checked < min(GONE_CHECK_SECONDS, self._idle):
                return
            self._checked = now
            held = {n: h.indexes.generation[0] for n, h in self._held.items() if h.indexes}
        if not held:
            return
        with self._catalog.reader() as s:
            rows = dict(
                s.execute(
                    select(Collection.id, Collection.created_at).where(Collection.id.in_(held))
                ).all()
            )
        with self._lock:
            for name, created in held.items():
                if rows.get(name) != created:
                    self._held.pop(name, None)

    def _load(self, collection: str, cached: CollectionIndexes | None) -> CollectionIndexes:
        directory = collection_dir(self._index_dir, collection)
        for attempt in range(LOAD_ATTEMPTS):
            with self._row_lock(collection, directory):  # waits at most for one commit
                with self._catalog.reader() as s:
                    coll = s.get(Collection, collection)
                    generation = (coll.created_at, coll.index_generation) if coll else (None, 0)
                    model = served_model(coll, self.default)
                    manifest = manifest_of(coll)
                # the same collection (not one made again under its name): reuse what it holds
                same = cached is not None and cached.generation[0] == generation[0]
                if same and cached is not None and cached.model == model.label:
                    lexical, previous = cached.lexical, cached.vectors
                else:
                    lexical, previous = LexicalIndex(directory), None
                lexical.reload()
            try:
                vectors = load_vectors(
                    self._catalog,
                    directory,
                    collection,
                    manifest,
                    model,
                    previous,
                    self._mmap_vectors,
                )
            except (OSError, RuntimeError):  # FAISS raises RuntimeError for a file it cannot open
                if attempt + 1 < LOAD_ATTEMPTS and not _all_there(directory, manifest):
                    continue  # a later commit replaced them: read the row again
                raise
            return CollectionIndexes(generation, vectors, lexical, model.label)
        raise AssertionError("unreachable")

    @contextmanager
    def _row_lock(self, collection: str, directory: Path) -> Iterator[None]:
        """The shared generation lock, where the collection has a directory (a reader makes
        none: a collection never indexed has no files to wait for)."""
        if not directory.is_dir():
            yield
            return
        with generation_lock(self._index_dir, collection, exclusive=False):
            yield


def _all_there(directory: Path, manifest: Manifest | None) -> bool:
    if manifest is None:
        return True
    return all((directory / name).exists() for name in manifest.files)
