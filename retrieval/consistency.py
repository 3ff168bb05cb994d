"""Do the catalog, the FAISS segments and the lexical index agree? (`askdocs check`)

For every ready document: chunks in the catalog = vectors in FAISS = chunks in the lexical index; for
every other document: none (documents being indexed right now may have either, and are left alone).
A segment file the manifest lists but the disk lacks counts its vectors as missing; a chunk live in
two segments is a duplicate (a search would return it twice); a segment file no manifest lists is an
orphan (``remove_orphans`` deletes them under the build lock, so never a file a build has written
and not committed yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from core.catalog import Catalog, Chunk, Collection, DocStatus, Document
from retrieval.index_store import (
    ServedModel,
    build_lock,
    collection_dir,
    generation_lock,
    manifest_of,
    served_model,
)
from retrieval.lexical_index import LexicalIndex
from retrieval.segments import Manifest, Segment, orphans, remove_files
from retrieval.vector_index import VectorIndex


@dataclass(frozen=True)
class Report:
    collection: str
    ready_documents: int
    catalog_chunks: int  # chunks of ready documents
    vectors: int  # live vectors in FAISS
    lexical_chunks: int
    missing_vectors: int  # ready chunks FAISS lacks
    extra_vectors: int  # FAISS vectors of no ready (or indexing) chunk
    missing_lexical: int
    extra_lexical: int
    leftover_chunks: int  # catalog chunk rows of failed or cancelled documents
    orphan_files: int = 0  # segment files no manifest lists (a write a crash cut short)
    missing_files: int = 0  # segment files the manifest lists that are not on disk
    duplicate_vectors: int = 0  # chunks live in more than one segment
    unfinished: dict[str, int] = field(default_factory=dict)  # documents per non-terminal state

    @property
    def index_ok(self) -> bool:
        return not (
            self.missing_vectors
            or self.extra_vectors
            or self.missing_lexical
            or self.extra_lexical
            or self.duplicate_vectors
        )

    @property
    def ok(self) -> bool:
        return self.index_ok and not self.leftover_chunks and not self.orphan_files


def check(catalog: Catalog, index_dir: Path, collection: str, default: ServedModel) -> Report:
    """``default``: the deployment's embedding model (a collection not indexed yet uses it)."""
    with catalog.reader() as s:
        coll = s.get(Collection, collection)
        model = served_model(coll, default)
        manifest = manifest_of(coll)
        rows = s.execute(
            select(Chunk.id, Document.status)
            .join(Document, Chunk.document_id == Document.id)
            .where(Document.collection_id == collection)
        ).all()
        states = s.execute(
            select(Document.status).where(Document.collection_id == collection)
        ).scalars()
        unfinished: dict[str, int] = {}
        ready_docs = 0
        for st in states:
            if st == DocStatus.ready:
                ready_docs += 1
            elif st in (
                DocStatus.queued,
                DocStatus.parsing,
                DocStatus.embedding,
                DocStatus.indexing,
            ):
                unfinished[st] = unfinished.get(st, 0) + 1
    ready = {int(i) for i, st in rows if st == DocStatus.ready}
    in_flight = {int(i) for i, st in rows if st == DocStatus.indexing}
    leftover = sum(1 for _, st in rows if st in (DocStatus.failed, DocStatus.cancelled))
    directory = collection_dir(index_dir, collection)
    vectors, missing_files, duplicates = _vectors(directory, manifest, model)
    orphan_files = len(orphans(directory, [manifest])) if manifest is not None else 0
    lexical = set(LexicalIndex(directory).chunk_ids())
    return Report(
        collection=collection,
        ready_documents=ready_docs,
        catalog_chunks=len(ready),
        vectors=len(vectors),
        lexical_chunks=len(lexical),
        missing_vectors=len(ready - vectors),
        extra_vectors=len(vectors - ready - in_flight),
        missing_lexical=len(ready - lexical),
        extra_lexical=len(lexical - ready - in_flight),
        leftover_chunks=leftover,
        orphan_files=orphan_files,
        missing_files=missing_files,
        duplicate_vectors=duplicates,
        unfinished=unfinished,
    )


def _vectors(
    directory: Path, manifest: Manifest | None, model: ServedModel
) -> tuple[set[int], int, int]:
    """Live vector ids of the manifest's segments (of the one file of a collection indexed before
    segments), how many listed segment files could not be read, and how many live ids more than
    one segment holds."""
    if manifest is None:
        legacy = VectorIndex.load(directory, model.dim, model.label)
        return {int(i) for i in legacy.live_ids()}, 0, 0
    ids: set[int] = set()
    missing = duplicates = 0
    for entry in manifest.segments:
        try:
            segment = Segment.load(directory, entry, model.dim)
        except (OSError, RuntimeError):  # FAISS raises RuntimeError for a file it cannot read
            missing += 1
            continue
        live = {int(i) for i in segment.vectors.live_ids()}
        duplicates += len(ids & live)
        ids |= live
    return ids, missing, duplicates


def remove_orphans(catalog: Catalog, index_dir: Path, collection: str) -> int:
    """Delete the collection's segment files that its manifest does not list, under the build
    lock (so never a segment the indexer has written and not committed yet) and the generation
    lock (so never while a backup copies)."""
    with (
        build_lock(catalog, index_dir, collection),
        generation_lock(index_dir, collection, exclusive=True),
    ):
        with catalog.reader() as s:
            manifest = manifest_of(s.get(Collection, collection))
        if manifest is None:
            return 0
        directory = collection_dir(index_dir, collection)
        return remove_files(directory, orphans(directory, [manifest]))
