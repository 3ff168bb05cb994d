"""One document through parse -> chunk -> embed -> pending chunks, then handed to the indexer.

Plain functions: the Celery task, the CLI and tests call the same code. Safe to run twice: it re-reads
the document's state, and chunk ids derive from content, so a rerun writes the same rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete

from askdocs.blobs import BlobStore
from askdocs.catalog import Catalog, Chunk, DocStatus, Document
from askdocs.settings import Settings
from ingest import guards, parsing
from ingest.chunking import chunk_blocks
from ingest.errors import EmptyDocument, IngestError, MissingOriginal, TooLarge
from ingest.types import ChunkDraft
from retrieval.embedding import Embedder

log = logging.getLogger(__name__)

RUNNABLE = {DocStatus.queued, DocStatus.parsing, DocStatus.embedding}


@dataclass
class IngestContext:
    settings: Settings
    catalog: Catalog
    blobs: BlobStore
    embedder: Embedder
    enqueue_index: Callable[[str], None]


def chunk_id(document_id: str, ordinal: int, text: str) -> int:
    """A 63-bit id from document, position and text: the catalog key and the FAISS id."""
    digest = hashlib.sha256(f"{document_id}:{ordinal}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def _set_status(ctx: IngestContext, document_id: str, status: DocStatus, **fields: object) -> bool:
    """Move a still-runnable document to ``status``; False when it was deleted meanwhile."""
    with ctx.catalog.session() as s:
        doc = s.get(Document, document_id)
        if doc is None or doc.status not in RUNNABLE:
            return False
        doc.status = status
        for k, v in fields.items():
            setattr(doc, k, v)
        return True


def fail(catalog: Catalog, document_id: str, code: str, message: str) -> None:
    with catalog.session() as s:
        doc = s.get(Document, document_id)
        if doc is not None and doc.status != DocStatus.deleted:
            doc.status = DocStatus.failed
            doc.error_code = code
            doc.error = message
            s.execute(delete(Chunk).where(Chunk.document_id == document_id))


def process_document(ctx: IngestContext, document_id: str) -> None:
    """Parse, chunk and embed one queued document; permanent errors end it in ``failed``."""
    with ctx.catalog.session() as s:
        doc = s.get(Document, document_id)
        if doc is None or doc.status not in RUNNABLE:
            log.info("skip %s: %s", document_id, doc.status if doc else "gone")
            return
        doc.status = DocStatus.parsing
        doc.attempts += 1
        doc.error = doc.error_code = None
        name, size, blob = doc.name, doc.size_bytes, doc.blob
    try:
        if size > ctx.settings.max_upload_bytes:
            raise TooLarge(
                f"{name} is {size} bytes, above the limit of {ctx.settings.max_upload_bytes}"
            )
        path = ctx.blobs.path(blob)
        if not path.exists():
            raise MissingOriginal(f"the stored original of {name} is gone; upload it again")
        guards.check(path, name, ctx.settings)
        parsed = parsing.parse(path, name, ocr=ctx.settings.ocr)
        if not any(b.text.strip() for b in parsed.blocks):
            raise EmptyDocument(f"no text found in {name}: is it empty or an image without OCR?")
        if not _set_status(ctx, document_id, DocStatus.embedding, pages=parsed.pages):
            return
        drafts = chunk_blocks(
            parsed.blocks,
            ctx.embedder.count_tokens,
            max_tokens=ctx.settings.chunk_tokens,
            overlap_tokens=ctx.settings.chunk_overlap,
        )
        # The heading travels with the text into the vector: "Risks > FX" helps a query find it.
        vectors = ctx.embedder.embed(
            [f"{d.heading}\n{d.text}" if d.heading else d.text for d in drafts]
        )
    except IngestError as e:
        fail(ctx.catalog, document_id, e.code, e.message)
        return
    _write_pending(ctx, document_id, drafts, vectors)


def _write_pending(
    ctx: IngestContext, document_id: str, drafts: list[ChunkDraft], vectors: np.ndarray
) -> None:
    with ctx.catalog.session() as s:
        doc = s.get(Document, document_id)
        if doc is None or doc.status not in RUNNABLE:
            return
        s.execute(delete(Chunk).where(Chunk.document_id == document_id))
        for d, vec in zip(drafts, vectors, strict=True):
            s.add(
                Chunk(
                    id=chunk_id(document_id, d.ordinal, d.text),
                    document_id=document_id,
                    ordinal=d.ordinal,
                    text=d.text,
                    page=d.page,
                    heading=d.heading,
                    element_type=d.element_type,
                    char_start=d.char_start,
                    char_end=d.char_end,
                    vector=np.asarray(vec, dtype=np.float32).tobytes(),
                )
            )
        doc.status = DocStatus.indexing
        doc.chunk_count = len(drafts)
    ctx.enqueue_index(document_id)
