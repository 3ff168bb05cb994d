"""Issuer and period for documents ingested before they were read at ingestion, or read by older
rules (``FIELDS_VERSION``): read off the document's name and its first page's chunks in the
catalog (what ingestion reads off the parse), a batch at a time, by the indexer's janitor."""

from __future__ import annotations

from sqlalchemy import func, select

from core.catalog import Catalog, Chunk, DocStatus, Document
from retrieval.doc_fields import FIELDS_VERSION, extract


def fill_missing(catalog: Catalog, batch: int = 200) -> int:
    """Read the fields of up to ``batch`` ready documents that lack them; how many were read."""
    with catalog.session() as s:
        docs = s.scalars(
            select(Document)
            .where(Document.fields_version < FIELDS_VERSION, Document.status == DocStatus.ready)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for doc in docs:
            first = s.scalar(
                select(func.min(func.coalesce(Chunk.page, 0))).where(Chunk.document_id == doc.id)
            )
            texts = s.scalars(
                select(Chunk.text)
                .where(Chunk.document_id == doc.id, func.coalesce(Chunk.page, 0) == (first or 0))
                .order_by(Chunk.ordinal)
                .limit(40)
            ).all()
            fields = extract(doc.name, "", "\n".join(texts))
            doc.issuer = fields.issuer
            doc.period = fields.period.encode() if fields.period else None
            doc.fields_version = FIELDS_VERSION
        return len(docs)
