"""Dense retrieval: embed the query, search the collection's FAISS index, keep ready chunks only."""

from __future__ import annotations

from sqlalchemy import select

from askdocs.catalog import Catalog, Chunk, DocStatus, Document
from retrieval.embedding import Embedder
from retrieval.index_store import IndexCache
from retrieval.types import ScoredChunk

# Vectors of documents that are not (or no longer) ready may sit in the index until the indexer
# removes them; fetch a few more than asked so the catalog filter still leaves k.
OVERFETCH = 4


class Retriever:
    def __init__(self, catalog: Catalog, embedder: Embedder, indexes: IndexCache) -> None:
        self._catalog = catalog
        self._embedder = embedder
        self._indexes = indexes

    def search(self, collection: str, query: str, k: int = 5) -> list[ScoredChunk]:
        """The ``k`` best passages of ready documents in ``collection``, best first."""
        index = self._indexes.get(collection, self._embedder.dim)
        hits = index.search(self._embedder.embed_query(query), k * OVERFETCH)
        if not hits:
            return []
        scores = dict(hits)
        with self._catalog.session() as s:
            rows = s.execute(
                select(Chunk, Document.name)
                .join(Document, Chunk.document_id == Document.id)
                .where(
                    Chunk.id.in_(list(scores)),
                    Document.status == DocStatus.ready,
                    Document.collection_id == collection,
                )
            ).all()
        found = [
            ScoredChunk(
                chunk_id=c.id,
                document_id=c.document_id,
                document_name=name,
                collection=collection,
                text=c.text,
                page=c.page,
                heading=c.heading,
                score=scores[c.id],
            )
            for c, name in rows
        ]
        found.sort(key=lambda p: p.score, reverse=True)
        return found[:k]
