"""Routes for ingest jobs: make one, follow it, cancel it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import delete, select

from api.deps import Caller, Services, owner_of_new, require
from api.errors import ApiError, errors
from api.schemas import JobIn, JobOut
from api.views import job_out as _job_out
from askdocs.auth import Principal, Role, audit, role_in
from askdocs.catalog import (
    TERMINAL,
    Chunk,
    Collection,
    DocStatus,
    Document,
    Job,
    JobDocument,
    utcnow,
)


def jobs_router(services: Services) -> APIRouter:
    catalog = services.catalog
    router = APIRouter()

    def job_out(job_id: str, who: Principal, with_documents: bool = True) -> JobOut:
        return _job_out(catalog, job_id, who, with_documents=with_documents)

    @router.post("/jobs", response_model=JobOut, status_code=201, responses=errors(401, 403, 404))
    def create_job(body: JobIn, who: Caller) -> JobOut:
        """An empty job to add many upload requests to (`job_id` form field of POST /documents),
        so that one progress bar covers a whole folder."""
        with catalog.session() as s:
            if s.get(Collection, body.collection) is None:
                catalog.ensure_collection(s, body.collection, owner=owner_of_new(who))
            require(s, who, body.collection, Role.write)
            job_id = str(uuid.uuid4())
            s.add(Job(id=job_id, collection_id=body.collection, created_by=who.user))
        return job_out(job_id, who)

    @router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(401, 404))
    def get_job(
        job_id: str,
        who: Caller,
        documents: Annotated[
            bool, Query(description="Include every document (false: the numbers only).")
        ] = True,
    ) -> JobOut:
        return job_out(job_id, who, with_documents=documents)

    @router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=errors(401, 403, 404))
    def cancel_job(job_id: str, who: Caller) -> JobOut:
        """Queued documents are dropped, running ones stop at their next step; nothing of them
        becomes searchable. Finished ones stay."""
        with catalog.session() as s:
            job = s.get(Job, job_id)
            if job is None or role_in(s, who, job.collection_id) is None:
                raise ApiError(404, "not_found", f"no job {job_id}")
            require(s, who, job.collection_id, Role.write)
            now = utcnow()
            job.cancelled_at = job.cancelled_at or now
            members = select(JobDocument.document_id).where(JobDocument.job_id == job_id)
            running = s.scalars(
                select(Document)
                .where(Document.id.in_(members), Document.status.not_in(TERMINAL))
                .with_for_update()
            ).all()
            for d in running:
                d.status = DocStatus.cancelled
                d.error_code, d.error = "cancelled", f"cancelled by {who.user}"
                d.finished_at, d.lease_owner, d.lease_until = now, None, None
            ids = [d.id for d in running]
            if ids:
                s.execute(delete(Chunk).where(Chunk.document_id.in_(ids)))
            audit(
                s,
                who.user,
                "job_cancelled",
                job.collection_id,
                detail={"job": job_id, "stopped": len(ids)},
            )
        return job_out(job_id, who)

    return router
