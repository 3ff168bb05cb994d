"""Routes for ingest jobs: make one, follow it, cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Caller, ServicesDep, owner_of_new, require
from api.errors import ApiError, errors
from api.schemas import JobIn, JobOut
from api.views import job_out
from core import lifecycle
from core.auth import Role, audit, role_in
from core.catalog import (
    Collection,
    Job,
)

router = APIRouter()


@router.post("/jobs", response_model=JobOut, status_code=201, responses=errors(401, 403, 404))
def create_job(services: ServicesDep, body: JobIn, who: Caller) -> JobOut:
    """An empty job to add many upload requests to (`job_id` form field of POST /documents),
    so that one progress bar covers a whole folder."""
    catalog = services.catalog
    with catalog.session() as s:
        if s.get(Collection, body.collection) is None:
            catalog.ensure_collection(s, body.collection, owner=owner_of_new(who))
        require(s, who, body.collection, Role.write)
        job_id = lifecycle.new_job_id()
        s.add(Job(id=job_id, collection_id=body.collection, created_by=who.user))
    return job_out(catalog, job_id, who)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(401, 404))
def get_job(
    services: ServicesDep,
    job_id: str,
    who: Caller,
    documents: Annotated[
        bool, Query(description="Include every document (false: the numbers only).")
    ] = True,
) -> JobOut:
    return job_out(services.catalog, job_id, who, with_documents=documents)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=errors(401, 403, 404))
def cancel_job(services: ServicesDep, job_id: str, who: Caller) -> JobOut:
    """Queued documents are dropped, running ones stop at their next step; nothing of them
    becomes searchable. Finished ones stay."""
    catalog = services.catalog
    with catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None or role_in(s, who, job.collection_id) is None:
            raise ApiError(404, "not_found", f"no job {job_id}")
        require(s, who, job.collection_id, Role.write)
        ids = lifecycle.cancel_job(s, job, who.user)
        audit(
            s,
            who.user,
            "job_cancelled",
            job.collection_id,
            detail={"job": job_id, "stopped": len(ids)},
        )
    return job_out(catalog, job_id, who)
