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
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from core import blob_refs, celery_app, failpoints, lifecycle, metrics
from core.blobs import BlobStore
from core.catalog import Catalog, Chunk, DocStatus, Document, JobDocument
from core.celery_app import TaskOutOfTime
from core.lifecycle import Claim
from core.settings import Settings
from ingest import doc_fields, guards, parsing, sandbox
from ingest.chunking import chunk_blocks
from ingest.errors import EmptyDocument, IngestError, MissingOriginal, TooLarge
from ingest.text import normal_document
from ingest.types import Attachment, ChunkDraft, PageBoxes, ParsedDocument, ParseProgress
from retrieval.embedding import Embedder, model_label, passage_text

log = logging.getLogger(__name__)


def ingest_embedder(settings: Settings) -> Embedder:
    """The passage encoder of an ingest process: one thread (one process per core), onnxruntime
    once ``enable_onnx()`` has run where ``onnx_passages`` is on."""
    return Embedder(
        settings.embedding_model,
        batch_size=settings.embed_batch_size,
        threads=1,
        onnx_dir=settings.model_dir if settings.onnx_passages else None,
        onnx_passages=settings.onnx_passages,
    )


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
        max_ocr_seconds=settings.parse_max_ocr_seconds,
        parse_user=settings.parse_user,
        address_space_bytes=settings.parse_address_space_mb * 2**20,
        max_processes=settings.parse_max_processes,
        max_file_bytes=settings.parse_max_file_mb * 2**20,
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
    with ctx.catalog.reader() as s:
        if lifecycle.past_worker(s, document_id):
            return Claim("skip")
    lease = timedelta(seconds=ctx.settings.lease_seconds)
    with ctx.catalog.session() as s:
        return lifecycle.claim(s, document_id, owner, lease, ctx.settings.max_attempts)


class Lease:
    """Renews the leases of a worker's claimed documents from a thread while the (blocking) work
    runs; a document that is no longer the worker's (deleted, cancelled, taken over) is ``lost``."""

    def __init__(self, ctx: IngestContext, document_ids: Sequence[str], owner: str) -> None:
        self._ctx, self._ids, self._owner = ctx, list(document_ids), owner
        self._stop = threading.Event()
        self.lost: set[str] = set()
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
                held = [i for i in self._ids if i not in self.lost]
                with self._ctx.catalog.session() as s:
                    still = lifecycle.renew_all(s, held, self._owner, lease)
                self.lost.update(set(held) - still)
            except Exception:  # noqa: BLE001 - a missed renewal is retried; expiry is the backstop
                log.warning("lease renewal of %s failed", self._ids, exc_info=True)


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
    metrics.INGEST_DOCUMENTS.labels("failed", code).inc()
    log.info("failed %s: %s", document_id, code, extra={"document_id": document_id, "code": code})


@dataclass
class _Work:
    """One claimed document of a worker's batch, and what it came to."""

    document_id: str
    name: str
    size: int
    blob: str
    counted: bool = True  # its attempt is counted (a batch's others: when it starts on them)
    parsed: ParsedDocument | None = None
    drafts: list[ChunkDraft] | None = None
    vectors: np.ndarray | None = None  # one row per draft
    done: bool = False  # handed to the indexer, failed, or no longer this worker's
    preparing: bool = False  # being parsed and chunked right now


def process_document(ctx: IngestContext, document_id: str, owner: str | None = None) -> Claim:
    """Parse, chunk and embed one queued document; permanent errors end it in ``failed``.

    A small document takes other small queued documents of its collection along (up to
    ``ingest_batch_docs``): each is parsed alone and fails alone, their chunks are embedded in one
    call, and they reach the indexer together, which makes them searchable in one commit (a third
    of the indexer's work per document, measured by bench/ingest_throughput.py)."""
    owner = owner or new_owner()
    got = claim(ctx, document_id, owner)
    if got.outcome != "run":
        log.info("%s %s", got.outcome, document_id)
        return got
    batch = [_Work(document_id, got.name, got.size, got.blob)]
    if got.size <= celery_app.INGEST_BATCH_BYTES:
        batch += _claim_neighbours(ctx, document_id, owner, ctx.settings.ingest_batch_docs - 1)
    # this task's own document stays its own on an error: the task fails it or tries it again
    _run_claimed(ctx, batch, owner, release_first=False)
    return got


def process_documents(
    ctx: IngestContext, document_ids: Sequence[str], owner: str | None = None
) -> dict[str, float]:
    """Ingest a group of small queued documents sent in one task (an upload's small files), as a
    batch: each is parsed alone and fails alone, as a batch's neighbours do, and its attempt is
    counted when the batch starts on it. Room left in the batch takes neighbours, as
    ``process_document`` does. Returns those another worker holds, with the seconds left on its
    lease (the caller sends them again after that); done, deleted or cancelled ones are skipped.
    """
    owner = owner or new_owner()
    batch, busy = _claim_group(ctx, document_ids, owner)
    if not batch:
        return busy
    room = ctx.settings.ingest_batch_docs - len(batch)
    if room > 0:
        batch += _claim_neighbours(ctx, batch[0].document_id, owner, room)
    _run_claimed(ctx, batch, owner, release_first=True)
    return busy


def _run_claimed(ctx: IngestContext, batch: list[_Work], owner: str, release_first: bool) -> None:
    """Run a claimed batch under one lease; what it did not finish (an error stopped it, or time
    ran out) is queued again with a task of its own.

    When the task's soft time limit passes, only the task's own document, and only while it was
    being parsed, is to blame: the limit is re-raised for the task to fail it. Otherwise (a
    neighbour's parse, the batch's embedding, a group task) every unfinished document goes back
    to the queue, each with a task and a whole time limit of its own, so that a document that
    really is too slow times out alone."""
    keep_first = not release_first
    with Lease(ctx, [w.document_id for w in batch], owner) as lease:
        try:
            _run_batch(ctx, batch, owner, lease)
        except TaskOutOfTime:
            if keep_first and batch[0].preparing:
                raise
            keep_first = False
            log.warning(
                "the task's time ran out in a batch; %d documents go back to the queue",
                sum(not w.done for w in batch),
            )
        finally:
            _release(ctx, [w for w in batch[(1 if keep_first else 0) :] if not w.done], owner)


def _claim_group(
    ctx: IngestContext, document_ids: Sequence[str], owner: str
) -> tuple[list[_Work], dict[str, float]]:
    """Claim, without counting, those of ``document_ids`` still for the workers, in one
    transaction (rows locked in id order, as every batch transaction locks them)."""
    with ctx.catalog.reader() as s:  # most groups are whole; a redelivered one may be done
        live = lifecycle.in_worker(s, list(dict.fromkeys(document_ids)))
    taken: list[_Work] = []
    busy: dict[str, float] = {}
    if not live:
        return taken, busy
    lease = timedelta(seconds=ctx.settings.lease_seconds)
    with ctx.catalog.session() as s:
        locked = lifecycle.lock_documents(s, live)
        for doc_id in live:
            got = lifecycle.claim(
                s, doc_id, owner, lease, ctx.settings.max_attempts, count=False, locked=locked
            )
            if got.outcome == "run":
                taken.append(_Work(doc_id, got.name, got.size, got.blob, counted=False))
            elif got.outcome == "busy":
                busy[doc_id] = got.wait
    return taken, busy


def _claim_neighbours(ctx: IngestContext, document_id: str, owner: str, limit: int) -> list[_Work]:
    """Claim up to ``limit`` other small queued documents of ``document_id``'s collection, in one
    transaction."""
    lease = timedelta(seconds=ctx.settings.lease_seconds)
    taken: list[_Work] = []
    if limit <= 0:
        return taken
    with ctx.catalog.session() as s:
        collection = s.scalar(select(Document.collection_id).where(Document.id == document_id))
        if collection is None:
            return taken
        found = lifecycle.neighbours(
            s, collection, document_id, celery_app.INGEST_BATCH_BYTES, limit
        )
        locked = {d.id: d for d in found}
        for other in locked:
            got = lifecycle.claim(
                s, other, owner, lease, ctx.settings.max_attempts, count=False, locked=locked
            )
            if got.outcome == "run":
                taken.append(_Work(other, got.name, got.size, got.blob, counted=False))
    return taken


def _release(ctx: IngestContext, works: Sequence[_Work], owner: str) -> None:
    """Queue again the claimed documents this worker will not finish, and send their tasks (their
    first ones may have found them busy)."""
    if not works:
        return
    with ctx.catalog.session() as s:
        released = [w.document_id for w in works if lifecycle.release(s, w.document_id, owner)]
    for doc_id in released:
        ctx.enqueue_process(doc_id)


def _time_for_another(ctx: IngestContext, started: float) -> bool:
    """Whether one more document's parse, run to its hard limit, still ends before the task's
    soft time limit (so a batch never makes a task time out that one document would not)."""
    left = ctx.settings.task_soft_time_limit - (time.monotonic() - started)
    return left > ctx.settings.parse_hard_seconds + 30


def _run_batch(ctx: IngestContext, batch: list[_Work], owner: str, lease: Lease) -> None:
    """Parse each document of the batch alone, then, for those that parsed, one transaction moves
    them to ``embedding``, one embedding call makes their vectors and one transaction stores their
    chunks and hands them to the indexer: per document only its attempt is a transaction of its
    own (a crash counts against the document it happened in)."""
    started = time.monotonic()
    for i, work in enumerate(batch):
        if i and not _time_for_another(ctx, started):
            break  # the rest are released by the caller
        own = work.counted  # this task's own document (a group has none): counted at its claim
        work.preparing = True
        try:
            _prepare(ctx, work, owner)
        except TaskOutOfTime:
            raise  # the caller decides whom it blames
        except IngestError as e:
            fail(ctx.catalog, work.document_id, e.code, e.message)
        except Exception as e:
            if own:
                raise  # the task fails it and reports the bug
            log.exception("ingesting %s failed", work.document_id)
            fail(
                ctx.catalog, work.document_id, "internal", f"internal error while ingesting: {e!r}"
            )
        work.preparing = False
        work.done = work.drafts is None  # failed, or no longer this worker's
    parsed = _to_embedding(ctx, [w for w in batch if w.drafts is not None], owner, lease)
    if not parsed:
        return
    # The document's label and the heading travel with the text into the vector: "2023 Q1 AAPL"
    # and "Risks > FX" help a query find it.
    texts = [passage_text(d.heading, d.text, w.name) for w in parsed for d in w.drafts or []]
    embedding = time.perf_counter()
    vectors = ctx.embedder.embed(texts)
    metrics.EMBED_SECONDS.inc(time.perf_counter() - embedding)
    metrics.EMBED_CHUNKS.inc(len(texts))
    failpoints.hit("ingest.embedding")
    at = 0
    for work in parsed:
        n = len(work.drafts or [])
        work.vectors, at = vectors[at : at + n], at + n
    written = _write_pending(ctx, [w for w in parsed if w.document_id not in lease.lost], owner)
    for work in parsed:
        work.done = True
    if written:  # one indexer task for the batch: it indexes every document waiting when it starts
        ctx.enqueue_index(written[-1])


def _to_embedding(ctx: IngestContext, works: list[_Work], owner: str, lease: Lease) -> list[_Work]:
    """Move the parsed documents of a batch to ``embedding`` in one transaction; those no longer
    this worker's are done (their drafts dropped). Returns the rest."""
    kept: list[_Work] = []
    if not works:
        return kept
    with ctx.catalog.session() as s:
        locked = lifecycle.lock_documents(s, [w.document_id for w in works])
        for w in works:
            pages = w.parsed.pages if w.parsed is not None else None
            if w.document_id not in lease.lost and lifecycle.advance(
                s, w.document_id, owner, DocStatus.embedding, locked, pages=pages, pages_done=pages
            ):
                kept.append(w)
            else:
                w.parsed = w.drafts = None
                w.done = True
    return kept


def _prepare(ctx: IngestContext, work: _Work, owner: str) -> None:
    """Parse and chunk one claimed document (``work.parsed``, ``work.drafts``); None left there
    when it is no longer this worker's. Raises the ``IngestError`` that fails it."""
    name, document_id = work.name, work.document_id
    if not work.counted:
        with ctx.catalog.session() as s:
            if not lifecycle.attempt(s, document_id, owner):
                return  # deleted, cancelled or taken over since the batch claimed it
        work.counted = True
    if work.size > ctx.settings.max_upload_bytes:
        raise TooLarge(
            f"{name} is {work.size} bytes, above the limit of {ctx.settings.max_upload_bytes}"
        )
    path = ctx.blobs.path(work.blob)
    if not path.exists():
        raise MissingOriginal(f"the stored original of {name} is gone; upload it again")
    guards.check(path, name, ctx.settings)

    def progress(p: ParseProgress) -> None:  # pages read so far, for the job's numbers and ETA
        _set_status(
            ctx, document_id, owner, DocStatus.parsing, pages=p.pages, pages_done=p.pages_done
        )

    started = time.perf_counter()
    kind = parsing.in_process_kind(path, parsing.PARSE_IN_PROCESS_BYTES)
    if kind is not None:  # small plain text: the child's round trip would cost more than the parse
        parsed = parsing.parse(path, name, ocr=False, kind=kind)
    else:
        parsed = sandbox.parse_isolated(path, name, parse_limits(ctx.settings), progress)
    parsed = normal_document(parsed)  # every parser's text in one form before chunking
    metrics.PARSE_SECONDS.labels(metrics.file_type(name)).observe(time.perf_counter() - started)
    metrics.PARSE_PAGES.labels(metrics.file_type(name)).inc(parsed.pages or 0)
    failpoints.hit("ingest.parsing")
    if not any(b.text.strip() for b in parsed.blocks):
        raise EmptyDocument(f"no text found in {name}: is it empty or an image without OCR?")
    work.parsed = parsed
    work.drafts = chunk_blocks(
        parsed.blocks,
        ctx.embedder.count_tokens,
        max_tokens=ctx.settings.chunk_tokens,
        overlap_tokens=ctx.settings.chunk_overlap,
    )


def _add_attachments(
    s: Session, mail: Document, files: list[Attachment], blobs: list[str]
) -> list[str]:
    """Queue each attachment of ``mail`` as a document of its own, in the mail's jobs; the same
    bytes already in the collection are not queued again. Returns the ids to enqueue."""
    queued: list[str] = []
    if not files:  # most documents: no reads for the mail's nesting and jobs
        return queued
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


def _write_pending(ctx: IngestContext, works: list[_Work], owner: str) -> list[str]:
    """Store the chunks of a batch's embedded documents and move each to ``indexing``, in one
    transaction; the ids written (those still this worker's). The indexer task is the caller's to
    send (one per batch)."""
    if not works:
        return []
    blobs = {w.document_id: [ctx.blobs.put(a.data) for a in _parsed(w).attachments] for w in works}
    attached = {
        b: a.data
        for w in works
        for b, a in zip(blobs[w.document_id], _parsed(w).attachments, strict=True)
    }
    written: list[tuple[_Work, list[str]]] = []
    rows: list[dict[str, object]] = []
    with ctx.catalog.session() as s:
        for sha, data in sorted(attached.items()):  # in use before any row names them
            blob_refs.hold(s, ctx.blobs, sha, len(data), lambda data=data: ctx.blobs.put(data))
        locked = lifecycle.lock_documents(s, [w.document_id for w in works])
        for w in works:
            drafts, parsed = w.drafts or [], _parsed(w)
            doc = lifecycle.owned(s, w.document_id, owner, locked)
            if doc is None:
                continue
            doc.meta = json.dumps(parsed.metadata, default=str) if parsed.metadata else None
            doc_fields.set_fields(doc, parsed)
            children = _add_attachments(s, doc, parsed.attachments, blobs[w.document_id])
            assert w.vectors is not None, "only embedded documents are written"
            rows += [chunk_row(w.document_id, d, v) for d, v in zip(drafts, w.vectors, strict=True)]
            lifecycle.to_indexing(doc, ctx.model_label, len(drafts))
            written.append((w, children))
        if written:  # a rerun's rows go first; then every row of the batch in one statement
            ids = [w.document_id for w, _ in written]
            s.execute(delete(Chunk).where(Chunk.document_id.in_(ids)))
        if rows:
            s.execute(insert(Chunk), rows)
    for w, children in written:
        metrics.INGEST_DOCUMENTS.labels("embedded", "ok").inc()
        log.info(
            "embedded %s: %d chunks",
            w.document_id,
            len(w.drafts or []),
            extra={"document_id": w.document_id, "chunks": len(w.drafts or [])},
        )
        for child in children:
            ctx.enqueue_process(child)
    return [w.document_id for w, _ in written]


def _parsed(work: _Work) -> ParsedDocument:
    assert work.parsed is not None, "only parsed documents are written"
    return work.parsed


def boxes_json(boxes: PageBoxes) -> str | None:
    """A chunk's boxes as stored: compact JSON {"page": [[x0, top, x1, bottom], ...]}."""
    if not boxes:
        return None
    return json.dumps(
        {str(p): [list(r) for r in rs] for p, rs in boxes.items()}, separators=(",", ":")
    )


def chunk_row(document_id: str, d: ChunkDraft, vec: np.ndarray) -> dict[str, object]:
    """The values of one ``Chunk`` row (the batch's rows go in as one bulk insert)."""
    return {
        "id": chunk_id(document_id, d.ordinal, d.text),
        "document_id": document_id,
        "ordinal": d.ordinal,
        "text": d.text,
        "page": d.page,
        "page_end": d.page_end,
        "page_marks": json.dumps(d.page_marks) if d.page_marks else None,
        "heading": d.heading,
        "element_type": d.element_type,
        "char_start": d.char_start,
        "char_end": d.char_end,
        "boxes": boxes_json(d.boxes),
        "vector": np.asarray(vec, dtype=np.float32).tobytes(),
    }
