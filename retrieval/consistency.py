"""Do the catalog, the FAISS file and the lexical index agree? (`askdocs check`)

For every ready document: chunks in the catalog = vectors in FAISS = chunks in the lexical index; for
every other document: none (documents being indexed right now may have either, and are left alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from core.catalog import Catalog, Chunk, Collection, DocStatus, Document
from retrieval.index_store import ServedModel, collection_dir, served_model
from retrieval.lexical_index import LexicalIndex
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
    unfinished: dict[str, int] = field(default_factory=dict)  # documents per non-terminal state

    @property
    def index_ok(self) -> bool:
        return not (
            self.missing_vectors or self.extra_vectors or self.missing_lexical or self.extra_lexical
        )

    @property
    def ok(self) -> bool:
        return self.index_ok and not self.leftover_chunks


def check(catalog: Catalog, index_dir: Path, collection: str, default: ServedModel) -> Report:
    """``default``: the deployment's embedding model (a collection not indexed yet uses it)."""
    with catalog.reader() as s:
        model = served_model(s.get(Collection, collection), default)
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
    vectors = {
        int(i) for i in np.asarray(VectorIndex.load(directory, model.dim, model.label).live_ids())
    }
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
        unfinished=unfinished,
    )
