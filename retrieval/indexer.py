"""The single writer of the vector and lexical indexes: pending chunks in, deleted ones out.

Vectors live in segments (retrieval/segments.py): each batch of documents becomes a new small
segment, a delete a new tombstone file for the segments it touches, and a tiered merge policy keeps
their number bounded; no step rewrites a segment it did not change. A document becomes ``ready`` in
the same catalog transaction that records the new manifest (the exact segment files) and bumps the
collection's index generation, after those files are on disk; a crash in between leaves files no
manifest lists (orphans, removed at the next write) and a document that is not ready, which a rerun
indexes. Running a task twice changes nothing.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from core import failpoints, lifecycle, metrics
from core.blobs import BlobStore
from core.catalog import Catalog, Chunk, Collection, DocStatus, Document, stale_vectors, utcnow
from retrieval.embedding import document_label
from retrieval.index_store import (
    ServedModel,
    collection_dir,
    generation_lock,
    manifest_of,
    served_model,
)
from retrieval.lexical_index import LEXICAL_FORMAT, LexicalDoc, LexicalIndex
from retrieval.segments import (
    Manifest,
    MergePolicy,
    SegmentedIndex,
    merged,
    orphans,
    write_segment,
    write_tombstones,
)
from retrieval.vector_index import INDEX_FILE, index_file

log = logging.getLogger(__name__)
# Documents one apply takes in at once: one index save and one lexical commit for all of them.
APPLY_BATCH = 256
# An apply task starts no new step after this many seconds: the rest of a long backlog goes on in a
# task of its own, so a warm shutdown (an upgrade, a restart) waits for one step, not the backlog.
APPLY_TASK_SECONDS = 30.0


def lexical_doc(
    chunk_id: int, document_id: str, name: str, text: str, heading: str | None
) -> LexicalDoc:
    """What BM25 sees of a chunk. The heading goes into the body of every chunk of its section
    (measured on SciFact train: 0.693 -> 0.696 nDCG@10); the document's label (what its file name
    says in words, ``document_label``; empty for an id or a hash) is the title field, searched with
    ``title_boost``. The title once held the heading too: boosted, that short field cost SciFact
    0.08 nDCG@10."""
    body = text if not heading or text.startswith(heading) else f"{heading}\n{text}"
    return LexicalDoc(int(chunk_id), document_id, body, document_label(name) or "")


class Indexer:
    def __init__(
        self,
        catalog: Catalog,
        blobs: BlobStore,
        index_dir: Path,
        model_label: str,
        dim: int,
        hnsw_threshold: int = 200_000,
        hnsw_m: int = 32,
        merge_policy: MergePolicy | None = None,
    ) -> None:
        self._catalog = catalog
        self._policy = merge_policy or MergePolicy()
        self._hnsw_threshold = hnsw_threshold
        self._hnsw_m = hnsw_m
        self._blobs = blobs
        self._index_dir = index_dir
        self._model_label = model_label
        self._dim = dim
        self._default = ServedModel(model_label, dim)
        # each collection's segments as of the last commit this process made or read
        self._open: dict[str, SegmentedIndex] = {}
        self._lexical: dict[str, LexicalIndex] = {}
        self._writing_depth: dict[str, int] = {}

    @contextmanager
    def _writing(self, collection: str) -> Iterator[None]:
        """Hold the collection's generation lock from the first file write to the catalog commit
        (re-entrant: compaction runs inside a rebuild)."""
        depth = self._writing_depth.get(collection, 0)
        self._writing_depth[collection] = depth + 1
        try:
            if depth:
                yield
            else:
                with generation_lock(self._index_dir, collection, exclusive=True):
                    yield
        finally:
            self._writing_depth[collection] = depth

    def _current(self, collection: str) -> SegmentedIndex:
        """The collection's segments as the catalog's manifest lists them. A collection indexed
        before segments (one vector file, no manifest) is first rebuilt into one segment from the
        catalog's ready chunks."""
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
            manifest = manifest_of(coll)
            model = served_model(coll, self._default)
        cached = self._open.get(collection)
        if manifest is not None and manifest.model == model.label:
            if cached is None or cached.manifest != manifest:
                directory = collection_dir(self._index_dir, collection)
                cached = SegmentedIndex.load(directory, manifest, model.dim, cached)
                self._open[collection] = cached
            return cached
        if coll is not None and self._has_ready(collection):
            self.compact(collection)  # indexed before segments: one segment from the catalog
            directory = collection_dir(self._index_dir, collection)
            for name in (index_file(model.label), INDEX_FILE):
                (directory / name).unlink(missing_ok=True)
            return self._open[collection]
        return SegmentedIndex(Manifest(model.label), model.dim)

    def _has_ready(self, collection: str) -> bool:
        with self._catalog.reader() as s:
            return (
                s.scalar(
                    select(Document.id)
                    .where(Document.collection_id == collection, Document.status == DocStatus.ready)
                    .limit(1)
                )
                is not None
            )

    def _record(self, s: Session, coll: Collection, manifest: Manifest) -> None:
        """In the caller's transaction: ``manifest`` is the collection's index from now on."""
        coll.segments = manifest.to_json()
        coll.index_generation += 1

    def _commit(self, collection: str, manifest: Manifest, previous: SegmentedIndex) -> bool:
        """Record ``manifest`` and a new generation in a transaction of its own, then hold its
        segments; False when the collection is gone meanwhile."""
        with self._catalog.session() as s:
            coll = s.get(Collection, collection, with_for_update=True)
            if coll is None:
                return False
            self._record(s, coll, manifest)
        self._committed(collection, manifest, previous)
        return True

    def _committed(self, collection: str, manifest: Manifest, previous: SegmentedIndex) -> None:
        """After the commit that recorded ``manifest``: hold its segments, and remove the files
        no manifest lists any more (still under the generation lock: a reader loads the new
        manifest's files, or has read the old ones already)."""
        directory = collection_dir(self._index_dir, collection)
        self._open[collection] = SegmentedIndex.load(directory, manifest, previous.dim, previous)
        for path in orphans(directory, [manifest]):
            path.unlink(missing_ok=True)

    def _tombstoned(self, collection: str, index: SegmentedIndex, ids: np.ndarray) -> Manifest:
        """``index``'s manifest with ``ids`` deleted: a new tombstone file for each segment that
        holds any of them (the others are untouched)."""
        directory = collection_dir(self._index_dir, collection)
        changed = [
            write_tombstones(
                directory,
                next(e for e in index.manifest.segments if e.name == name),
                np.union1d(index.deleted_ids(name), found),
            )
            for name, found in index.holding(ids).items()
        ]
        return index.manifest.updated(changed)

    def _lex(self, collection: str) -> LexicalIndex:
        if collection not in self._lexical:
            self._lexical[collection] = LexicalIndex(
                collection_dir(self._index_dir, collection), writable=True
            )
        return self._lexical[collection]

    @staticmethod
    def _arrays(rows: Sequence[Row], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) from catalog rows whose first two columns are chunk id and vector bytes."""
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vectors.reshape(len(rows), dim)

    def _bump_generation(self, collection: str) -> None:
        """Tell readers a new index generation is on disk (the lexical index changed alone)."""
        with self._catalog.session() as s:
            coll = s.get(Collection, collection)
            if coll is not None:
                coll.index_generation += 1

    def merge_if_needed(self, collection: str) -> bool:
        """Merge what the policy asks for: segments of one size tier into one, a segment heavy
        with tombstones rewritten without them, and the Flat segments into one HNSW segment once
        together they pass the HNSW threshold. Readers keep the old segments until the commit."""
        current = self._current(collection)
        groups = self._policy.plan(current.manifest)
        flat = [e for e in current.manifest.segments if e.kind == "flat"]
        if len(flat) > 1 and sum(e.live for e in flat) >= self._hnsw_threshold:
            groups = [flat] + [
                g for g in groups if not {e.name for e in g} & {e.name for e in flat}
            ]
        if not groups:
            return False
        directory = collection_dir(self._index_dir, collection)
        with self._writing(collection):
            manifest = current.manifest
            for group in groups:
                entry = merged(directory, current, group, self._hnsw_threshold, self._hnsw_m)
                manifest = manifest.replaced([e.name for e in group], [entry] if entry else [])
            failpoints.hit("index.before_replace")
            if not self._commit(collection, manifest, current):
                return False
        log.info(
            "merged %s: %d segments into %d, %d vectors",
            collection,
            len(current.manifest.segments),
            len(manifest.segments),
            manifest.live,
        )
        return True

    def outdated_lexical(self) -> list[str]:
        """Collections whose lexical index was written in an older format (``LEXICAL_FORMAT``):
        the indexer rebuilds them when it starts, so an upgrade needs no ``askdocs reindex``."""
        with self._catalog.reader() as s:
            names = s.scalars(select(Collection.id)).all()
        return [
            name
            for name in names
            if (found := LexicalIndex.format_of(collection_dir(self._index_dir, name))) is not None
            and found < LEXICAL_FORMAT
        ]

    def rebuild(self, collection: str) -> None:
        """Rebuild both indexes of a collection from the catalog (after a format or analyzer
        change, or to repair a disagreement)."""
        with self._catalog.reader() as s:
            if s.get(Collection, collection) is None:  # renamed or dropped since it was asked
                return
        with self._writing(collection):
            self.compact(collection)
            with self._catalog.session() as s:
                rows = s.execute(
                    select(Chunk.id, Chunk.document_id, Document.name, Chunk.text, Chunk.heading)
                    .join(Document, Chunk.document_id == Document.id)
                    .where(Document.collection_id == collection, Document.status == DocStatus.ready)
                    .order_by(Chunk.document_id)
                ).all()
            self._lex(collection).replace_all([lexical_doc(*r) for r in rows])
            self._bump_generation(collection)

    def _ready_segment(self, s: Session, collection: str, model: ServedModel) -> Manifest:
        """One new segment of the collection's ready chunks' vectors, as ``s`` sees them."""
        rows = s.execute(
            select(Chunk.id, Chunk.vector, Chunk.document_id)
            .join(Document, Chunk.document_id == Document.id)
            .where(Document.collection_id == collection, Document.status == DocStatus.ready)
        ).all()
        if not rows:
            return Manifest(model.label)
        ids, vectors = self._arrays(rows, model.dim)
        directory = collection_dir(self._index_dir, collection)
        entry = write_segment(
            directory,
            ids,
            vectors,
            [r[2] for r in rows],
            model.dim,
            self._hnsw_threshold,
            self._hnsw_m,
        )
        return Manifest(model.label, (entry,))

    def compact(self, collection: str) -> None:
        """The whole collection as one segment, from the catalog's ready chunks."""
        with self._writing(collection):
            with self._catalog.session() as s:
                coll = s.get(Collection, collection, with_for_update=True)
                if coll is None:
                    return
                model = served_model(coll, self._default)
                manifest = self._ready_segment(s, collection, model)
                failpoints.hit("index.before_replace")
                self._record(s, coll, manifest)
            self._committed(collection, manifest, SegmentedIndex(manifest, model.dim))
        log.info("compacted %s: %d vectors in one segment", collection, manifest.live)

    def apply(self, document_id: str, seconds: float | None = None) -> str | None:
        """Add pending vectors and flip documents to ``ready``: every document of this one's
        collection that waits in ``indexing`` when the task starts, in steps of up to APPLY_BATCH
        with one segment and one lexical commit each. So one task covers every document that
        reached ``indexing`` before it was sent: an ingest batch sends one for all its documents
        (``ingest.pipeline``), and a document a task finds already indexed was indexed by a task
        that started after it was waiting, with all the others waiting then. Older documents of the
        same name (earlier versions) leave in the same step: the catalog transaction that makes the
        new version ready deletes them, so exactly one version is searchable at every moment.

        With ``seconds``, no step starts after that long (the first always runs): returns a
        document still waiting, for which the caller sends the task again (that task takes every
        document waiting then, these included); None when none is left."""
        started = time.monotonic()
        with self._catalog.reader() as s:
            doc = s.get(Document, document_id)
            if doc is None:
                log.info("apply %s: nothing to do (gone)", document_id)
                return
            collection = doc.collection_id
            waiting = s.execute(
                select(Document.id, Document.name)
                .where(Document.collection_id == collection, Document.status == DocStatus.indexing)
                .order_by(Document.created_at)
            ).all()
        if not waiting:
            log.info("apply %s: nothing to do (%s)", document_id, doc.status)
            return None
        steps = 0
        while waiting:
            if steps and seconds is not None and time.monotonic() - started >= seconds:
                log.info(
                    "apply %s: %d documents of %s left for the next task after %d steps",
                    document_id,
                    len(waiting),
                    collection,
                    steps,
                )
                return str(waiting[0][0])
            batch: dict[str, str] = {}
            later: list[Row] = []
            for row in waiting:  # one version of a name per step: the oldest goes first
                if len(batch) < APPLY_BATCH and row[1] not in batch.values():
                    batch[row[0]] = row[1]
                else:
                    later.append(row)
            self._apply_batch(collection, batch)
            steps += 1
            waiting = later
        return None

    def _apply_batch(self, collection: str, batch: dict[str, str]) -> None:
        with self._catalog.session() as s:
            coll = s.get(Collection, collection)
            assert coll is not None
            served = served_model(coll, self._default)
            for doc_id, made_by in s.execute(
                select(Document.id, Document.embedded_with).where(Document.id.in_(list(batch)))
            ).all():
                made_by = made_by or served.label  # rows of an older version: the index's model
                if made_by == served.label:
                    continue
                del batch[doc_id]
                if made_by == coll.reembed_to:
                    continue  # waits in `indexing` until the collection switches to its model
                doc = s.get(Document, doc_id, with_for_update=True)
                if doc is not None and doc.status == DocStatus.indexing:
                    lifecycle.fail(
                        s,
                        doc,
                        "model_mismatch",
                        f"embedded with {made_by}, but collection {coll.id} is indexed with "
                        f"{served.label}; retry the document to embed it again",
                    )
            if not batch:
                return
            rows = s.execute(
                select(Chunk.document_id, Chunk.id, Chunk.vector, Chunk.text, Chunk.heading).where(
                    Chunk.document_id.in_(list(batch))
                )
            ).all()
            created = {
                i: (at, source)
                for i, at, source in s.execute(
                    select(Document.id, Document.created_at, Document.source_id).where(
                        Document.id.in_(list(batch))
                    )
                ).all()
            }
            # the live documents of the batch's names, in one query
            by_name: dict[str, list[tuple[str, str, str | None, datetime]]] = {}
            for i, st, src, at, name in s.execute(
                select(
                    Document.id,
                    Document.status,
                    Document.source_id,
                    Document.created_at,
                    Document.name,
                ).where(
                    Document.collection_id == collection,
                    Document.name.in_(set(batch.values())),
                    Document.status.not_in([DocStatus.deleted, DocStatus.failed]),
                )
            ).all():
                by_name.setdefault(name, []).append((i, st, src, at))
            older: dict[str, list[tuple[str, str]]] = {}
            for doc_id, name in batch.items():
                at, source = created[doc_id]
                # a name is one document per origin: uploads replace uploads, a source's files
                # replace that source's files; earlier versions only
                older[doc_id] = [
                    (i, st)
                    for i, st, other_source, other_at in by_name.get(name, [])
                    if other_source == source and other_at <= at and i != doc_id and i not in batch
                ]
        old_ready = [i for olds in older.values() for i, st in olds if st == DocStatus.ready]
        metrics.INDEX_BATCH_DOCUMENTS.observe(len(batch))
        writing = time.perf_counter()
        with self._writing(collection):  # files and generation change together
            current = self._current(collection)
            directory = collection_dir(self._index_dir, collection)
            manifest = self._tombstoned(collection, current, self._chunk_ids(old_ready))
            if manifest.model != served.label:  # an empty collection: its first segment's model
                manifest = Manifest(served.label, manifest.segments)
            if rows:
                ids, vectors = self._arrays([(r[1], r[2]) for r in rows], served.dim)
                entry = write_segment(
                    directory,
                    ids,
                    vectors,
                    [r[0] for r in rows],
                    served.dim,
                    self._hnsw_threshold,
                    self._hnsw_m,
                )
                manifest = manifest.added([entry])
            failpoints.hit("index.before_replace")
            lex = self._lex(collection)
            per_doc: dict[str, list[LexicalDoc]] = {doc_id: [] for doc_id in batch}
            for doc_id, chunk, _vec, text, heading in rows:
                per_doc[doc_id].append(lexical_doc(chunk, doc_id, batch[doc_id], text, heading))
            lex.replace_documents(per_doc, removed=old_ready)
            gone: list[str] = []
            with self._catalog.session() as s:
                coll = s.get(Collection, collection, with_for_update=True)
                assert coll is not None
                now = utcnow()
                locked = lifecycle.lock_documents(s, list(batch))
                for doc_id in batch:
                    doc = locked.get(doc_id)
                    if doc is None or doc.status != DocStatus.indexing:
                        # deleted meanwhile (its remove task takes the vectors out) or cancelled: take
                        # them out below, so the index files hold only what the catalog calls ready
                        if doc is not None and doc.status != DocStatus.deleted:
                            gone.append(doc_id)
                            lifecycle.discard_chunks(s, doc_id)
                        older[doc_id] = []
                        continue
                    lifecycle.make_ready(s, doc, [i for i, _st in older[doc_id]], now)
                coll.embedding_model = served.label
                coll.embedding_dim = served.dim
                self._record(s, coll, manifest)
            self._committed(collection, manifest, current)
            if gone:
                held = self._open[collection]
                out = np.array([r[1] for r in rows if r[0] in gone], dtype=np.int64)
                manifest = self._tombstoned(collection, held, out)
                lex.replace_documents({doc_id: [] for doc_id in gone})
                self._commit(collection, manifest, held)
        took = time.perf_counter() - writing
        metrics.INDEX_COMMIT_SECONDS.observe(took)
        log.info(
            "indexed %d documents of %s in %.3f s",
            len(batch),
            collection,
            took,
            extra={"collection": collection, "documents": sorted(batch), "seconds": round(took, 3)},
        )
        for olds in older.values():
            for old_id, _status in olds:
                lifecycle.forget(self._catalog, self._blobs, old_id)
        self.merge_if_needed(collection)

    def _chunk_ids(self, document_ids: list[str]) -> np.ndarray:
        if not document_ids:
            return np.array([], dtype=np.int64)
        with self._catalog.session() as s:
            found = s.scalars(select(Chunk.id).where(Chunk.document_id.in_(document_ids))).all()
        return np.array(found, dtype=np.int64)

    def remove(self, document_id: str) -> None:
        """Take a deleted document's vectors out of the index (a new tombstone file for the
        segments holding them), then its rows out of the catalog."""
        with self._catalog.session() as s:
            doc = s.get(Document, document_id)
            if doc is None or doc.status != DocStatus.deleted:
                return
            collection = doc.collection_id
            ids = np.array(
                s.scalars(select(Chunk.id).where(Chunk.document_id == document_id)).all(),
                dtype=np.int64,
            )
        with self._writing(collection):
            current = self._current(collection)
            manifest = self._tombstoned(collection, current, ids)
            self._lex(collection).remove_document(document_id)
            if manifest != current.manifest:
                failpoints.hit("index.before_replace")
                self._commit(collection, manifest, current)
            lifecycle.forget(self._catalog, self._blobs, document_id)
        self.merge_if_needed(collection)

    def rename(self, collection: str) -> None:
        """Move a collection marked ``renaming_to`` to its new name: index files and catalog rows in
        one step under the generation lock, so a reader sees either the old name with its files
        or the new name with the same files. A no-op when no rename is pending; a new name taken
        meanwhile cancels the rename."""
        with self._writing(collection):
            src = collection_dir(self._index_dir, collection)
            dst: Path | None = None
            try:
                with self._catalog.session() as s:
                    coll = s.get(Collection, collection, with_for_update=True)
                    new = lifecycle.pending_rename(s, coll)
                    if coll is None or new is None:
                        return
                    self._open.pop(collection, None)
                    self._lexical.pop(collection, None)  # releases tantivy's writer lock
                    target = collection_dir(self._index_dir, new)
                    # no collection has that name: whatever lies there is an empty leftover
                    shutil.rmtree(target, ignore_errors=True)
                    src.rename(target)
                    dst = target
                    lifecycle.rename(s, coll, new)
            except BaseException:
                if dst is not None:  # the catalog kept the old name: so do the files
                    dst.rename(src)
                raise
        log.info("renamed collection %s to %s", collection, new)

    def switch_model(self, collection: str) -> str:
        """End a re-embedding: when every chunk of the collection's ready (and indexing) documents
        has its vector from the new model, write the new model's segment, then in one catalog
        commit move those vectors in, name the new model, record its manifest and bump the
        generation. Readers load the manifest the catalog names, so until that commit they keep
        the old segments (a crash in between leaves an orphan, removed later). Returns
        ``switched``, ``incomplete`` (chunks still lack a new vector) or ``nothing``."""
        target = self._model_label
        with self._writing(collection):
            with self._catalog.session() as s:
                coll = s.get(Collection, collection, with_for_update=True)
                if coll is None or coll.reembed_to != target or coll.deleted_at is not None:
                    return "nothing"
                stale = select(Document.id).where(stale_vectors(collection, target))
                missing = s.scalar(
                    select(func.count())
                    .select_from(Chunk)
                    .where(Chunk.document_id.in_(stale), Chunk.next_vector.is_(None))
                )
                if missing:
                    log.info("switch of %s: %d chunks not re-embedded yet", collection, missing)
                    return "incomplete"
                doc_ids = list(s.scalars(stale))
                s.execute(  # right-hand sides read the row as it was: a swap in one statement
                    update(Chunk)
                    .where(Chunk.document_id.in_(doc_ids))
                    .values(vector=Chunk.next_vector, next_vector=None)
                    .execution_options(synchronize_session=False)
                )
                s.execute(
                    update(Document)
                    .where(Document.id.in_(doc_ids))
                    .values(embedded_with=target)
                    .execution_options(synchronize_session=False)
                )
                s.flush()
                manifest = self._ready_segment(s, collection, self._default)
                old = served_model(coll, self._default)
                coll.embedding_model, coll.embedding_dim = target, self._dim
                coll.reembed_to = None
                self._record(s, coll, manifest)
            self._committed(collection, manifest, SegmentedIndex(manifest, self._dim))
            directory = collection_dir(self._index_dir, collection)
            for name in (index_file(old.label), INDEX_FILE):  # files from before segments
                (directory / name).unlink(missing_ok=True)
        log.info(
            "collection %s switched from %s to %s: %d vectors",
            collection,
            old.label,
            target,
            manifest.live,
        )
        self._apply_waiting(collection)
        return "switched"

    def _apply_waiting(self, collection: str) -> None:
        """Index the documents that waited in ``indexing`` for the collection's new model."""
        seen: set[str] = set()
        while True:
            with self._catalog.reader() as s:
                first = s.scalar(
                    select(Document.id)
                    .where(
                        Document.collection_id == collection,
                        Document.status == DocStatus.indexing,
                        Document.id.not_in(seen),
                    )
                    .order_by(Document.created_at)
                    .limit(1)
                )
            if first is None:
                return
            seen.add(first)
            self.apply(first)

    def drop(self, collection: str) -> None:
        """A deleted collection goes: its index files, then (under the blob lock) its documents,
        chunks, jobs, memberships and conversations, its row, and the originals no other document
        uses. Safe to run twice; a no-op for a collection that is not marked deleted."""
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
            if coll is None or coll.deleted_at is None:
                return
        with self._writing(collection):
            self._open.pop(collection, None)
            self._lexical.pop(collection, None)  # releases tantivy's writer lock
            shutil.rmtree(collection_dir(self._index_dir, collection), ignore_errors=True)
        unused = lifecycle.drop(self._catalog, self._blobs, collection)
        log.info("dropped collection %s (%d originals deleted)", collection, unused)
