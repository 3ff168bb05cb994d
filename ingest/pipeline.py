"""One document through parse -> chunk -> embed -> pending chunks, then handed to the indexer.

Plain functions: the Celery task, the CLI and tests call the same code. Safe to run twice: it re-reads
the document's state, and chunk ids derive from content, so a rerun writes the same rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import failpoints, lifecycle
from core.blobs import BlobStore
from core.catalog import Catalog, Chunk, DocStatus, Document, JobDocument
from core.lifecycle import Claim
from core.settings import Settings
from ingest import guards, sandbox
from ingest.chunking import chunk_blocks
from ingest.errors import EmptyDocument, IngestError, MissingOriginal, TooLarge
from ingest.types import Attachment, ChunkDraft, ParsedDocument, ParseProgress
from retrieval.embedding import Embedder, model_label, passage_text

log = logging.getLogger(__name__)


@dataclass
class IngestContext:
    settings: Settings
    catalog: Catalog
    blobs: BlobStore
    embedder: Embedder
    enqueue_index: Callable[[str], None]
    enqueue_process: Callable[[str], None] = lambda _id: None
    # any task by name, with its id argument (the re-embedding's next batch, the model switch)
    enqueue: Callable[[str, str], None] = lambda _task, _id: None

    @property
    def model_label(self) -> str:
        """The embedding model this worker's vectors come from."""
        return model_label(self.embedder.name)


# Attachments of attachments are ingested this many levels down (a mail in a zip is level 2).
MAX_NESTING = 3


def parse_limits(settings: Settings) -> sandbox.Limits:
    return sandbox.Limits(
        soft_seconds=settings.parse_soft_seconds,
        hard_seconds=settings.parse_hard_seconds,
        memory_bytes=settings.parse_memory_mb * 2**20,
        max_pages=settings.max_pages,
        ocr=settings.ocr,
        pdf_tables=settings.pdf_tables,
        pdf_reader=settings.pdf_reader,
        ocr_page_seconds=settings.ocr_page_seconds,
    )


def chunk_id(document_id: str, ordinal: int, text: str) -> int:
    """A 63-bit id from document, position and text: the catalog key and the FAISS id."""
    digest = hashlib.sha256(f"{document_id}:{ordinal}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def new_owner() -> str:
    """A lease owner id: host, process and this run (a redelivery in the same process is another)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:128]


def claim(ctx: IngestContext, document_id: str, owner: str) -> Claim:
    """Take the lease on a runnable document (``lifecycle.claim``)."""
    lease = timedelta(seconds=ctx.settings.lease_seconds)
    with ctx.catalog.session() as s:
        return lifecycle.claim(s, document_id, owner, lease, ctx.settings.max_attempts)


class Lease:
    """Renews a claimed document's lease from a thread while the (blocking) work runs."""

    def __init__(self, ctx: IngestContext, document_id: str, owner: str) -> None:
        self._ctx, self._id, self._owner = ctx, document_id, owner
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        every = max(0.5, self._ctx.settings.lease_seconds / 3)
        while not self._stop.wait(every):
            try:
                lease = timedelta(seconds=self._ctx.settings.lease_seconds)
                with self._ctx.catalog.session() as s:
                    found = lifecycle.renew(s, self._id, self._owner, lease)
                if not found:
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a missed renewal is retried; expiry is the backstop
                log.warning("lease renewal of %s failed", self._id, exc_info=True)


def _set_status(
    ctx: IngestContext, document_id: str, owner: str, status: DocStatus, **fields: object
) -> bool:
    """Move a document this worker still owns to ``status``; False when it was deleted, cancelled
    or taken over meanwhile (then this worker stops)."""
    with ctx.catalog.session() as s:
        return lifecycle.advance(s, document_id, owner, status, **fields)


def fail(catalog: Catalog, document_id: str, code: str, message: str) -> None:
    with catalog.session() as s:
        lifecycle.fail_id(s, document_id, code, message)


def process_document(ctx: IngestContext, document_id: str, owner: str | None = None) -> Claim:
    """Parse, chunk and embed one queued document; permanent errors end it in ``failed``."""
    owner = owner or new_owner()
    got = claim(ctx, document_id, owner)
    if got.outcome != "run":
        log.info("%s %s", got.outcome, document_id)
        return got
    with Lease(ctx, document_id, owner) as lease:
        try:
            _run(ctx, document_id, owner, lease, got.name, got.size, got.blob)
        except IngestError as e:
            fail(ctx.catalog, document_id, e.code, e.message)
    return got


def _run(
    ctx: IngestContext, document_id: str, owner: str, lease: Lease, name: str, size: int, blob: str
) -> None:
    if size > ctx.settings.max_upload_bytes:
        raise TooLarge(
            f"{name} is {size} bytes, above the limit of {ctx.settings.max_upload_bytes}"
        )
    path = ctx.blobs.path(blob)
    if not path.exists():
        raise MissingOriginal(f"the stored original of {name} is gone; upload it again")
    guards.check(path, name, ctx.settings)

    def progress(p: ParseProgress) -> None:  # pages read so far, for the job's numbers and ETA
        _set_status(
            ctx, document_id, owner, DocStatus.parsing, pages=p.pages, pages_done=p.pages_done
        )

    parsed = sandbox.parse_isolated(path, name, parse_limits(ctx.settings), progress)
    failpoints.hit("ingest.parsing")
    if not any(b.text.strip() for b in parsed.blocks):
        raise EmptyDocument(f"no text found in {name}: is it empty or an image without OCR?")
    if lease.lost or not _set_status(
        ctx,
        document_id,
        owner,
        DocStatus.embedding,
        pages=parsed.pages,
        pages_done=parsed.pages,
    ):
        return
    drafts = chunk_blocks(
        parsed.blocks,
        ctx.embedder.count_tokens,
        max_tokens=ctx.settings.chunk_tokens,
        overlap_tokens=ctx.settings.chunk_overlap,
    )
    # The heading travels with the text into the vector: "Risks > FX" helps a query find it.
    vectors = ctx.embedder.embed([passage_text(d.heading, d.text) for d in drafts])
    failpoints.hit("ingest.embedding")
    if not lease.lost:
        _write_pending(ctx, document_id, owner, drafts, vectors, parsed)


def _add_attachments(
    s: Session, mail: Document, files: list[Attachment], blobs: list[str]
) -> list[str]:
    """Queue each attachment of ``mail`` as a document of its own, in the mail's jobs; the same
    bytes already in the collection are not queued again. Returns the ids to enqueue."""
    queued: list[str] = []
    depth, parent = 0, mail.parent_id
    while parent is not None and depth < MAX_NESTING:
        depth += 1
        parent = s.scalar(select(Document.parent_id).where(Document.id == parent))
    if depth >= MAX_NESTING:  # a zip in a mail in a zip...: the fan-out stops here
        log.warning("%s: attachments nested %d deep are not ingested", mail.name, depth + 1)
        return queued
    jobs = s.scalars(select(JobDocument.job_id).where(JobDocument.document_id == mail.id)).all()
    tags = json.loads(mail.tags) if mail.tags else None
    for att, blob in zip(files, blobs, strict=True):
        got = lifecycle.admit(
            s,
            mail.collection_id,
            blob,
            f"{mail.name}/{att.name}"[:512],
            len(att.data),
            tags=tags,
            parent_id=mail.id,
            job_ids=jobs,
        )
        if got.queued:
            queued.append(got.document_id)
    return queued


def _write_pending(
    ctx: IngestContext,
    document_id: str,
    owner: str,
    drafts: list[ChunkDraft],
    vectors: np.ndarray,
    parsed: ParsedDocument,
) -> None:
    blobs = [ctx.blobs.put(a.data) for a in parsed.attachments]
    with ctx.blobs.lock(), ctx.catalog.session() as s:
        doc = lifecycle.owned(s, document_id, owner)
        if doc is None:
            return
        doc.meta = json.dumps(parsed.metadata, default=str) if parsed.metadata else None
        children = _add_attachments(s, doc, parsed.attachments, blobs)
        s.execute(delete(Chunk).where(Chunk.document_id == document_id))
        for d, vec in zip(drafts, vectors, strict=True):
            s.add(
                Chunk(
                    id=chunk_id(document_id, d.ordinal, d.text),
                    document_id=document_id,
                    ordinal=d.ordinal,
                    text=d.text,
                    page=d.page,
                    page_end=d.page_end,
                    page_marks=json.dumps(d.page_marks) if d.page_marks else None,
                    heading=d.heading,
                    element_type=d.element_type,
                    char_start=d.char_start,
                    char_end=d.char_end,
                    vector=np.asarray(vec, dtype=np.float32).tobytes(),
                )
            )
        lifecycle.to_indexing(doc, ctx.model_label, len(drafts))
    ctx.enqueue_index(document_id)
    for child in children:
        ctx.enqueue_process(child)
