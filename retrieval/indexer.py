"""The single writer of the vector and lexical indexes: pending chunks in, deleted ones out.

Vectors live in segments (retrieval/segments.py): each batch of documents becomes a new small
segment, a delete a new tombstone file for the segments it touches, and a tiered merge policy keeps
their number bounded; no step rewrites a segment it did not change. A document becomes ``ready`` in
the same catalog transaction that records the new manifest (the exact segment files) and bumps the
collection's index generation. Running a task twice changes nothing.

Every write of a collection's indexes, under its build lock (``index_store.build_lock``), goes:

1. read the collection's row: its manifest and generation (a reader session, no write transaction);
2. build: new segment and tombstone files that no manifest lists, each fsynced, then its directory
   (``segments.write_segment``); stage the lexical changes. No lock readers wait on is held and no
   catalog transaction is open, however long an HNSW build or a compaction's read takes;
3. commit, under the generation lock: the lexical commit, then one short transaction that checks
   the row is still at the generation read in 1 (for ``switch_model``, also that no chunk it read
   changed), records the manifest and bumps the generation (an apply makes its documents ready in
   it); a row that moved gives the build up (its files removed, the lexical stage dropped) and the
   step is tried again from 1, or left to the next write (a merge);
4. make that commit durable (``index_store.make_durable``), then unlink the files no manifest lists.

A kill between any two of these leaves the old or the new generation complete: before 3, files no
manifest lists (orphans, removed at the next commit) and documents not ready, which a rerun
indexes; between the lexical and the catalog commit, lexical entries of documents the catalog does
not call ready (never returned: the retriever keeps ready documents only; the rerun replaces them)
and an earlier version's entries gone while it is still ready (found by its vectors until the rerun
lands); after 3, files no longer listed (orphans). The failpoints ``index.merge`` (before a merge
writes), ``index.before_replace`` (an apply's files written), ``index.<step>.written``,
``index.<step>.lexical_committed`` and ``index.<step>.catalog_committed`` (step: apply, remove,
merge, compact, switch) and ``index.rename.moved`` stop the process at each of these points.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from core import failpoints, lifecycle, metrics
from core.blobs import BlobStore
from core.catalog import Catalog, Chunk, Collection, DocStatus, Document, stale_vectors, utcnow
from core.files import fsync_dir
from retrieval.embedding import document_label
from retrieval.index_store import (
    ServedModel,
    build_lock,
    collection_dir,
    generation_lock,
    make_durable,
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
    remove_files,
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
# Builds of one step when the collection's row keeps moving under them (only something writing the
# catalog beside the indexer moves it: a document forgotten elsewhere, a second indexer).
COMMIT_ATTEMPTS = 3


class IndexConflict(RuntimeError):
    """The collection's row moved under every attempt of a write; the task is run again later."""


@dataclass(frozen=True)
class _SwitchRead:
    """What ``switch_model`` read of a collection: its commit goes ahead only if all still holds."""

    generation: int
    reembed_at: object  # every batch of new vectors moves it; a restarted re-embedding clears it
    stale: frozenset[str]  # the documents whose vectors the switch swaps


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
        apply_batch: int | None = None,
    ) -> None:
        """:param apply_batch: most documents per apply step (default ``APPLY_BATCH``)"""
        self._catalog = catalog
        self._policy = merge_policy or MergePolicy()
        self._apply_batch_size = apply_batch
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
        self._building_depth: dict[str, int] = {}

    @contextmanager
    def _building(self, collection: str) -> Iterator[None]:
        """Hold the collection's build lock from reading its row to the end of the commit
        (re-entrant: compaction runs inside a rebuild, and before the first write of a
        collection indexed before segments)."""
        depth = self._building_depth.get(collection, 0)
        self._building_depth[collection] = depth + 1
        try:
            if depth:
                yield
            else:
                with build_lock(self._catalog, self._index_dir, collection):
                    yield
        finally:
            self._building_depth[collection] = depth

    def _current(self, collection: str) -> tuple[SegmentedIndex, int]:
        """The collection's segments as the catalog's manifest lists them, and the generation of
        that manifest. A collection indexed before segments (one vector file, no manifest) is
        first rebuilt into one segment from the catalog's ready chunks."""
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
            manifest = manifest_of(coll)
            model = served_model(coll, self._default)
            generation = coll.index_generation if coll is not None else 0
        cached = self._open.get(collection)
        if manifest is not None and manifest.model == model.label:
            if cached is None or cached.manifest != manifest:
                directory = collection_dir(self._index_dir, collection)
                cached = SegmentedIndex.load(directory, manifest, model.dim, cached)
                self._open[collection] = cached
            return cached, generation
        if coll is not None and self._has_ready(collection):
            # indexed before segments: one segment from the catalog
            if not self.compact(collection):
                raise IndexConflict(f"collection {collection} changed under its compaction")
            directory = collection_dir(self._index_dir, collection)
            remove_files(directory, [directory / n for n in (index_file(model.label), INDEX_FILE)])
            return self._current(collection)
        return SegmentedIndex(Manifest(model.label), model.dim), generation

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

    def _commit(
        self,
        collection: str,
        generation: int,
        manifest: Manifest,
        previous: SegmentedIndex,
        step: str,
        change: Callable[[Session, Collection], bool] | None = None,
        lexical: LexicalIndex | None = None,
    ) -> int | None:
        """Steps 3 and 4 (module docstring) for files already built: under the generation lock,
        ``lexical``'s staged changes committed, then ``manifest`` recorded in a short transaction
        if the row is still at ``generation`` and ``change`` (the rest of that transaction's work)
        agrees; once durable, the files no manifest lists go. Then this process holds the new
        segments (read after the lock is let go). Returns the new generation; None when the
        collection is gone or moved on: nothing recorded, the files ``manifest`` added removed,
        the lexical stage dropped. ``previous``: what the build started from."""
        directory = collection_dir(self._index_dir, collection)
        failpoints.hit(f"index.{step}.written")
        recorded: int | None = None
        with generation_lock(self._index_dir, collection, exclusive=True):
            with self._catalog.reader() as s:  # moved on: no lexical commit to take back
                coll = s.get(Collection, collection)
                moved = coll is None or coll.index_generation != generation
            if not moved:
                if lexical is not None:
                    lexical.commit()
                    failpoints.hit(f"index.{step}.lexical_committed")
                with self._catalog.session() as s:
                    coll = s.get(Collection, collection, with_for_update=True)
                    if (
                        coll is not None
                        and coll.index_generation == generation
                        and (change is None or change(s, coll))
                    ):
                        self._record(s, coll, manifest)
                        recorded = coll.index_generation
                    else:
                        s.rollback()
            elif lexical is not None:
                lexical.rollback()
            if recorded is None:
                added = manifest.files - previous.manifest.files
                remove_files(directory, [directory / name for name in sorted(added)])
                log.warning("index write of %s given up: the collection moved on", collection)
                return None
            make_durable(self._catalog)
            failpoints.hit(f"index.{step}.catalog_committed")
            remove_files(directory, orphans(directory, [manifest]))
        self._open[collection] = SegmentedIndex.load(directory, manifest, previous.dim, previous)
        return recorded

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
    def _arrays(rows: Sequence[Sequence[Any]], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) from catalog rows whose first two columns are chunk id and vector bytes."""
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vectors.reshape(len(rows), dim)

    def _commit_lexical(self, collection: str, lexical: LexicalIndex) -> None:
        """Commit the lexical index's staged changes alone, and tell readers a new generation is
        on disk (under the generation lock, as every commit)."""
        with generation_lock(self._index_dir, collection, exclusive=True):
            lexical.commit()
            with self._catalog.session() as s:
                coll = s.get(Collection, collection, with_for_update=True)
                if coll is not None:
                    coll.index_generation += 1

    def _take_out(self, collection: str, ids: np.ndarray, documents: list[str], step: str) -> None:
        """Delete the vectors ``ids`` (new tombstone files) and the lexical entries of
        ``documents``, in one commit."""
        lex = self._lex(collection)
        for _ in range(COMMIT_ATTEMPTS):
            current, generation = self._current(collection)
            manifest = self._tombstoned(collection, current, ids)
            lex.replace_documents({}, removed=documents, commit=False)
            if manifest == current.manifest:
                self._commit_lexical(collection, lex)
                return
            if (
                self._commit(collection, generation, manifest, current, step, lexical=lex)
                is not None
            ):
                return
        raise IndexConflict(f"collection {collection} kept changing under a delete")

    def merge_if_needed(self, collection: str) -> bool:
        """Merge what the policy asks for: segments of one size tier into one, a segment heavy
        with tombstones rewritten without them, and the Flat segments into one HNSW segment once
        together they pass the HNSW threshold. Readers keep the old segments, without waiting,
        until the commit; a row that moved meanwhile leaves the merge to the next write."""
        directory = collection_dir(self._index_dir, collection)
        with self._building(collection):
            current, generation = self._current(collection)
            groups = self._policy.plan(current.manifest)
            flat = [e for e in current.manifest.segments if e.kind == "flat"]
            if len(flat) > 1 and sum(e.live for e in flat) >= self._hnsw_threshold:
                groups = [flat] + [
                    g for g in groups if not {e.name for e in g} & {e.name for e in flat}
                ]
            if not groups:
                return False
            manifest = current.manifest
            for group in groups:
                entry = merged(directory, current, group, self._hnsw_threshold, self._hnsw_m)
                manifest = manifest.replaced([e.name for e in group], [entry] if entry else [])
            if self._commit(collection, generation, manifest, current, "merge") is None:
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
        with self._building(collection):
            if not self.compact(collection):
                return
            with self._catalog.reader() as s:
                rows = s.execute(
                    select(Chunk.id, Chunk.document_id, Document.name, Chunk.text, Chunk.heading)
                    .join(Document, Chunk.document_id == Document.id)
                    .where(Document.collection_id == collection, Document.status == DocStatus.ready)
                    .order_by(Chunk.document_id)
                ).all()
            lex = self._lex(collection)
            lex.replace_all([lexical_doc(*r) for r in rows], commit=False)
            self._commit_lexical(collection, lex)

    def _one_segment(
        self, collection: str, model: ServedModel, rows: Sequence[Sequence[Any]]
    ) -> Manifest:
        """One new segment of ``rows`` (chunk id, vector bytes, document id): fsynced, unlisted."""
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

    def compact(self, collection: str) -> bool:
        """The whole collection as one segment, from the catalog's ready chunks: read in a reader
        session, built outside any transaction, committed if no other commit came between. False
        when the collection is gone (or kept moving)."""
        with self._building(collection):
            for _ in range(COMMIT_ATTEMPTS):
                with self._catalog.reader() as s:  # the row and the chunks: one snapshot
                    coll = s.get(Collection, collection)
                    if coll is None:
                        return False
                    model = served_model(coll, self._default)
                    generation = coll.index_generation
                    was = SegmentedIndex(manifest_of(coll) or Manifest(model.label), model.dim)
                    rows = s.execute(
                        select(Chunk.id, Chunk.vector, Chunk.document_id)
                        .join(Document, Chunk.document_id == Document.id)
                        .where(
                            Document.collection_id == collection,
                            Document.status == DocStatus.ready,
                        )
                    ).all()
                manifest = self._one_segment(collection, model, rows)
                del rows
                if self._commit(collection, generation, manifest, was, "compact") is not None:
                    log.info("compacted %s: %d vectors in one segment", collection, manifest.live)
                    return True
        return False

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
        step_size = self._apply_batch_size or APPLY_BATCH
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
                if len(batch) < step_size and row[1] not in batch.values():
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
        with self._catalog.reader() as s:  # the batch's chunks: no write transaction open
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
        old_chunks = self._chunk_ids(old_ready)
        with self._building(collection):
            for _ in range(COMMIT_ATTEMPTS):
                gone = self._apply_step(
                    collection, batch, rows, older, old_ready, old_chunks, served
                )
                if gone is not None:
                    break
            else:
                raise IndexConflict(f"collection {collection} kept changing under an apply")
            if gone:  # cancelled or failed meanwhile: the index holds only what is ready
                out = np.array([r[1] for r in rows if r[0] in gone], dtype=np.int64)
                self._take_out(collection, out, gone, "apply")
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
                lifecycle.forget(self._catalog, old_id)
        self.merge_if_needed(collection)

    def _apply_step(
        self,
        collection: str,
        batch: dict[str, str],
        rows: Sequence[Row],
        older: dict[str, list[tuple[str, str]]],
        old_ready: list[str],
        old_chunks: np.ndarray,
        served: ServedModel,
    ) -> list[str] | None:
        """One attempt at writing and committing a batch: the documents of the batch no longer
        waiting at the commit (their chunks are discarded, to be taken out of the index by the
        caller), or None when the row moved under the build (nothing committed)."""
        current, generation = self._current(collection)
        directory = collection_dir(self._index_dir, collection)
        manifest = self._tombstoned(collection, current, old_chunks)
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
        lex.replace_documents(per_doc, removed=old_ready, commit=False)
        gone: list[str] = []

        def make_ready(s: Session, coll: Collection) -> bool:
            now = utcnow()
            locked = lifecycle.lock_documents(s, list(batch))
            for doc_id in batch:
                doc = locked.get(doc_id)
                if doc is None or doc.status != DocStatus.indexing:
                    # deleted meanwhile (its remove task takes the vectors out) or cancelled: the
                    # caller takes them out, so the index files hold only what the catalog calls
                    # ready
                    if doc is not None and doc.status != DocStatus.deleted:
                        gone.append(doc_id)
                        lifecycle.discard_chunks(s, doc_id)
                    older[doc_id] = []
                    continue
                lifecycle.make_ready(s, doc, [i for i, _st in older[doc_id]], now)
            coll.embedding_model = served.label
            coll.embedding_dim = served.dim
            return True

        if (
            self._commit(collection, generation, manifest, current, "apply", make_ready, lex)
            is None
        ):
            return None
        return gone

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
        with self._building(collection):
            self._take_out(collection, ids, [document_id], "remove")
            lifecycle.forget(self._catalog, document_id)
        self.merge_if_needed(collection)

    def rename(self, collection: str) -> None:
        """Move a collection marked ``renaming_to`` to its new name: index files and catalog rows in
        one step under the generation lock, so a reader sees either the old name with its files
        or the new name with the same files. A no-op when no rename is pending; a new name taken
        meanwhile cancels the rename. The directory's move is durable before the catalog commit;
        after a crash between the two, the files already lie under the new name, and the rerun
        keeps them there."""
        with (
            self._building(collection),
            generation_lock(self._index_dir, collection, exclusive=True),
        ):
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
                    if _has_index(src) or not target.exists():
                        # no collection has that name: whatever lies there is an empty leftover
                        shutil.rmtree(target, ignore_errors=True)
                        src.rename(target)
                        dst = target
                    # else: an earlier run moved the files and was cut short before its commit
                    fsync_dir(self._index_dir)
                    failpoints.hit("index.rename.moved")
                    lifecycle.rename(s, coll, new)
            except BaseException:
                if dst is not None:  # the catalog kept the old name: so do the files
                    dst.rename(src)
                    fsync_dir(self._index_dir)
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
        with self._building(collection):
            for _ in range(COMMIT_ATTEMPTS):
                read = self._switch_read(collection, target)
                if isinstance(read, str):
                    return read
                seen, old, was, rows = read
                manifest = self._one_segment(collection, ServedModel(target, self._dim), rows)
                del rows

                def swap(s: Session, coll: Collection, seen: _SwitchRead = seen) -> bool:
                    if coll.reembed_to != target or coll.deleted_at is not None:
                        return False
                    if coll.reembed_at != seen.reembed_at:
                        return False  # new vectors written (or the re-embedding restarted)
                    stale = select(Document.id).where(stale_vectors(collection, target))
                    doc_ids = list(s.scalars(stale))
                    if frozenset(doc_ids) != seen.stale:
                        return False
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
                    coll.embedding_model, coll.embedding_dim = target, self._dim
                    coll.reembed_to = None
                    return True

                if (
                    self._commit(collection, seen.generation, manifest, was, "switch", swap)
                    is not None
                ):
                    break
            else:
                raise IndexConflict(f"collection {collection} kept changing under its switch")
            directory = collection_dir(self._index_dir, collection)
            # files from before segments
            remove_files(directory, [directory / n for n in (index_file(old.label), INDEX_FILE)])
        log.info(
            "collection %s switched from %s to %s: %d vectors",
            collection,
            old.label,
            target,
            manifest.live,
        )
        self._apply_waiting(collection)
        return "switched"

    def _switch_read(
        self, collection: str, target: str
    ) -> str | tuple[_SwitchRead, ServedModel, SegmentedIndex, list[tuple[int, bytes, str]]]:
        """What a switch to ``target`` builds from, in one reader snapshot: (what it read, the
        model it leaves, the index it replaces, the ready chunks' new vectors); or its answer
        (``nothing``, ``incomplete``) when there is nothing to build."""
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
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
            swapped = frozenset(s.scalars(stale))
            old = served_model(coll, self._default)
            seen = _SwitchRead(coll.index_generation, coll.reembed_at, swapped)
            was = SegmentedIndex(manifest_of(coll) or Manifest(old.label), self._dim)
            rows = [
                (int(cid), nxt if doc in swapped else vec, doc)
                for cid, vec, nxt, doc in s.execute(
                    select(Chunk.id, Chunk.vector, Chunk.next_vector, Chunk.document_id)
                    .join(Document, Chunk.document_id == Document.id)
                    .where(
                        Document.collection_id == collection,
                        Document.status == DocStatus.ready,
                    )
                ).all()
            ]
        return seen, old, was, rows

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
        """A deleted collection goes: its index files, then its documents, chunks, jobs,
        memberships and conversations in steps, its row last (the blob sweep removes the originals
        no other document uses). Safe to run twice; a no-op for a collection that is not marked
        deleted."""
        if not self._marked_deleted(collection):  # done: no lock files made for a gone name
            return
        with (
            self._building(collection),
            generation_lock(self._index_dir, collection, exclusive=True),
        ):
            # read under the locks: a copy of this task that ran meanwhile may have ended the drop
            # and the name been made again (its files are written under the build lock)
            if not self._marked_deleted(collection):
                return
            self._open.pop(collection, None)
            self._lexical.pop(collection, None)  # releases tantivy's writer lock
            shutil.rmtree(collection_dir(self._index_dir, collection), ignore_errors=True)
            if self._index_dir.is_dir():
                fsync_dir(self._index_dir)
        documents = lifecycle.drop(self._catalog, collection)
        log.info("dropped collection %s (%d documents)", collection, documents)

    def _marked_deleted(self, collection: str) -> bool:
        with self._catalog.reader() as s:
            coll = s.get(Collection, collection)
            return coll is not None and coll.deleted_at is not None


def _has_index(directory: Path) -> bool:
    """Whether ``directory`` holds index files (not only lock files)."""
    return directory.is_dir() and any(not p.name.endswith(".lock") for p in directory.iterdir())
