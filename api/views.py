"""Response shapes built from catalog rows, shared by the document and job routes."""

from __future__ import annotations

import json
from collections.abc import Sequence, Set

from sqlalchemy import func, select, true

from api.errors import ApiError
from api.schemas import DocumentOut, JobOut
from core.auth import Principal, role_in
from core.catalog import TERMINAL, Catalog, Document, Job, JobDocument, utcnow


def doc_out(d: Document, duplicate: bool = False) -> DocumentOut:
    return DocumentOut(
        id=d.id,
        collection=d.collection_id,
        name=d.name,
        sha256=d.blob,
        content_type=d.content_type,
        tags=json.loads(d.tags) if d.tags else [],
        size_bytes=d.size_bytes,
        status=d.status,
        error_code=d.error_code,
        error=d.error,
        pages=d.pages,
        pages_done=d.pages_done,
        chunks=d.chunk_count,
        attempts=d.attempts,
        created_at=d.created_at,
        updated_at=d.updated_at,
        duplicate=duplicate,
        metadata=json.loads(d.meta) if d.meta else {},
        parent_id=d.parent_id,
        source_id=d.source_id,
        origin=d.origin,
        issuer=d.issuer,
        period=d.period,
    )


def job_progress(job: Job, counts: dict[str, int], pages: int, docs: list[DocumentOut]) -> JobOut:
    """A job's numbers: counts per state, pages read so far, rate and ETA from the pace so far."""
    total = sum(counts.values())
    finished = sum(n for st, n in counts.items() if st in TERMINAL)
    elapsed = max((utcnow() - job.created_at).total_seconds(), 1e-3)
    rate = finished / elapsed if finished else None
    running = job.cancelled_at is None and finished < total
    eta = (total - finished) / rate if rate and running else None
    return JobOut(
        id=job.id,
        collection=job.collection_id,
        created_at=job.created_at,
        created_by=job.created_by,
        cancelled_at=job.cancelled_at,
        total=total,
        finished=finished,
        counts=counts,
        done=finished == total,
        pages=pages,
        elapsed_s=round(elapsed, 1),
        documents_per_s=round(rate, 3) if rate else None,
        eta_s=round(eta, 1) if eta is not None else None,
        documents=docs,
    )


def job_out(
    catalog: Catalog,
    job_id: str,
    who: Principal,
    duplicates: Set[str] = frozenset(),
    with_documents: bool = True,
    only: Sequence[str] | None = None,
) -> JobOut:
    """The job's numbers, and its documents (``only`` those of these ids: an upload into a job
    lists the files it sent, not the whole job again, which grew quadratically with a folder)."""
    with catalog.reader() as s:
        job = s.get(Job, job_id)
        if job is None or role_in(s, who, job.collection_id) is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        members = select(JobDocument.document_id).where(JobDocument.job_id == job_id)
        counts = {
            str(status): int(n)
            for status, n in s.execute(
                select(Document.status, func.count())
                .where(Document.id.in_(members))
                .group_by(Document.status)
            )
        }
        pages = s.scalar(
            select(
                func.coalesce(func.sum(func.coalesce(Document.pages_done, Document.pages)), 0)
            ).where(Document.id.in_(members))
        )
        docs: list[DocumentOut] = []
        if with_documents:
            docs = [
                doc_out(d, d.id in duplicates)
                for d in s.scalars(
                    select(Document)
                    .where(
                        Document.id.in_(members),
                        Document.id.in_(list(only)) if only is not None else true(),
                    )
                    .order_by(Document.name)
                )
            ]
        return job_progress(job, counts, int(pages or 0), docs)
