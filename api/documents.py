"""Routes for documents and ingest jobs: upload, list, inspect, preview, download, delete."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select

from api.deps import Caller, ServicesDep, clean_name, document_for, owner_of_new, require
from api.errors import ApiError, errors
from api.schemas import (
    COLLECTION_PATTERN,
    ChunkOut,
    DocumentOut,
    JobOut,
    KnownOut,
    LookupIn,
    LookupOut,
    RetriedOut,
    RetryIn,
)
from api.views import doc_out, job_out
from core import blob_refs, celery_app, lifecycle
from core.auth import Role, audit, readable, role_in
from core.blobs import BlobStore, TooLarge
from core.catalog import (
    RESTARTABLE,
    Chunk,
    Collection,
    DocStatus,
    Document,
    Job,
    KnownDocuments,
)
from core.celery_app import PROCESS_TASK, REMOVE_TASK, enqueue, enqueue_ingest

TAG = r"[A-Za-z0-9_.+-]{1,64}"
TAG_PATTERN = re.compile(TAG)
MAX_TAGS = 20
# the same rule in the OpenAPI schema (ASCII classes only: JSON Schema and Python read \w apart)
TAGS_FORM_PATTERN = rf"^( *{TAG} *(, *{TAG} *){{0,{MAX_TAGS - 1}}})?$"


def parse_tags(text: str | None) -> list[str]:
    """``"q3, finance"`` -> ``["finance", "q3"]``: lower case, unique, sorted; 422 for a bad one."""
    if not text:
        return []
    tags = sorted({t.strip().lower() for t in text.split(",") if t.strip()})
    bad = [t for t in tags if not TAG_PATTERN.fullmatch(t)]
    if bad or len(tags) > MAX_TAGS:
        raise ApiError(
            422,
            "validation_error",
            f"tags are up to {MAX_TAGS} labels of letters, digits, _ . + - (at most 64 each)"
            + (f"; not {bad[0][:80]!r}" if bad else ""),
        )
    return tags


router = APIRouter()


@dataclass(frozen=True)
class _Stored:
    """One file of an upload, in the blob store."""

    content: str  # sha256
    size: int
    name: str
    content_type: str | None
    upload: UploadFile


def _store(blobs: BlobStore, f: UploadFile, limit: int) -> _Stored:
    """Stream one uploaded file into the blob store (413 past ``limit``, nothing kept of it)."""
    name = clean_name(f.filename or "upload")
    f.file.seek(0)
    try:
        content, size = blobs.put_stream(f.file, limit)
    except TooLarge:
        raise ApiError(
            413, "too_large", f"{name} is larger than the limit of {limit} bytes"
        ) from None
    return _Stored(content, size, name, (f.content_type or "")[:128] or None, f)


def _store_again(blobs: BlobStore, x: _Stored) -> None:
    """Put a file's bytes back: the blob sweep removed the original since ``_store``."""
    x.upload.file.seek(0)
    blobs.put_stream(x.upload.file, x.size)


@router.post(
    "/documents",
    response_model=JobOut,
    status_code=202,
    responses=errors(401, 403, 404, 409, 413),
)
def upload(
    services: ServicesDep,
    who: Caller,
    files: list[UploadFile] = File(..., description="One or more files", min_length=1),  # noqa: B008
    collection: str = Form("default", pattern=COLLECTION_PATTERN),
    job_id: str | None = Form(
        None, max_length=36, description="Add the files to this job (POST /jobs made it)."
    ),
    replace: bool = Form(
        True,
        description="A file with the name of a document in the collection replaces it once "
        "indexed; false keeps both (the new one gets a numbered name).",
    ),
    tags: str | None = Form(
        None,
        max_length=1400,
        pattern=TAGS_FORM_PATTERN,
        description="Comma-separated labels for these files, up to 20 of letters, digits, "
        "_ . + - (search can filter on them).",
    ),
) -> JobOut:
    """Store the files by hash and queue each new one; a collection that does not exist yet is
    made, owned by the caller. The same bytes again are no new work. A plain function: FastAPI
    runs it in its thread pool, so storing large files never holds up other requests; each file
    is streamed from its spooled copy into the blob store in pieces."""
    settings, catalog, blobs = services.settings, services.catalog, services.blobs
    labels = parse_tags(tags)
    if len(files) > settings.max_files_per_upload:
        raise ApiError(
            413,
            "too_many_files",
            f"{len(files)} files in one request; the limit is {settings.max_files_per_upload}",
        )
    with catalog.reader() as s:  # check before storing anything
        if s.get(Collection, collection) is not None:
            require(s, who, collection, Role.write)
        if job_id is not None:
            job = s.get(Job, job_id)
            if job is None or role_in(s, who, job.collection_id) is None:
                raise ApiError(404, "not_found", f"no job {job_id}")
            if job.collection_id != collection:
                raise ApiError(
                    409, "conflict", f"job {job_id} belongs to collection {job.collection_id!r}"
                )
    stored = [_store(blobs, f, settings.max_upload_bytes) for f in files]
    job_id = job_id or lifecycle.new_job_id()
    to_enqueue: list[str] = []
    small: set[str] = set()  # batched by the workers: sent together, one task per batch
    duplicates: set[str] = set()
    with catalog.session() as s:
        # each original marked in use first: the blob sweep cannot remove it under our rows
        by_content: dict[str, _Stored] = {}
        for x in stored:
            by_content.setdefault(x.content, x)
        for content, x in sorted(by_content.items()):
            blob_refs.hold(s, blobs, content, x.size, lambda x=x: _store_again(blobs, x))
        if s.get(Collection, collection) is None:
            catalog.ensure_collection(s, collection, owner=owner_of_new(who))
        require(s, who, collection, Role.write)
        if s.get(Job, job_id) is None:
            s.add(Job(id=job_id, collection_id=collection, created_by=who.user))
            s.flush()
        known = KnownDocuments.read(s, collection, [x.content for x in stored])
        for x in stored:
            got = lifecycle.admit(
                s,
                collection,
                x.content,
                x.name,
                x.size,
                content_type=x.content_type,
                tags=labels,
                keep_both=not replace,
                job_ids=[job_id],
                known=known,
            )
            if not got.queued:
                duplicates.add(got.document_id)
                continue
            to_enqueue.append(got.document_id)
            if x.size <= celery_app.INGEST_BATCH_BYTES:
                small.add(got.document_id)
            detail = {"name": got.name, "bytes": x.size}
            audit(s, who.user, "upload", collection, got.document_id, detail)
    enqueue_ingest(services.celery, settings, to_enqueue, small)
    return job_out(catalog, job_id, who, duplicates, only=[*to_enqueue, *duplicates])


@router.post(
    "/documents/{document_id}/retry",
    response_model=DocumentOut,
    status_code=202,
    responses=errors(401, 403, 404, 409),
)
def retry_document(services: ServicesDep, document_id: str, who: Caller) -> DocumentOut:
    """Run a failed or cancelled document again, from the start."""
    settings, catalog = services.settings, services.catalog
    with catalog.session() as s:
        d = document_for(s, who, document_id, Role.write)
        lifecycle.retry(s, d)
        audit(s, who.user, "retry", d.collection_id, d.id, {"name": d.name})
        out = doc_out(d)
    enqueue(services.celery, settings, PROCESS_TASK, document_id)
    return out


# Documents queued again per transaction by a collection's retry (each batch's tasks sent after it).
RETRY_STEP = 1000


@router.post(
    "/collections/{name}/retry",
    response_model=RetriedOut,
    status_code=202,
    responses=errors(401, 403, 404),
)
def retry_collection(
    services: ServicesDep,
    name: Annotated[str, Path(pattern=COLLECTION_PATTERN)],
    who: Caller,
    body: RetryIn | None = None,
) -> RetriedOut:
    """Run every failed and/or cancelled document of a collection again, from the start (only
    those failed with one of ``codes`` when given: after an outage, ``["unavailable"]``). Small
    documents are sent in batches, as an upload's are."""
    body = body or RetryIn()
    settings, catalog = services.settings, services.catalog
    statuses = [DocStatus(x) for x in body.statuses]
    retried, after = 0, ""
    while True:  # in id order: a document failed again meanwhile is not taken twice
        with catalog.session() as s:
            coll = s.get(Collection, name)
            if coll is None or coll.deleted_at is not None:
                raise ApiError(404, "not_found", f"no collection {name!r}")
            require(s, who, name, Role.write)
            got = lifecycle.retry_many(s, name, statuses, body.codes, RETRY_STEP, after)
            if got:
                detail = {"documents": len(got), "statuses": body.statuses, "codes": body.codes}
                audit(s, who.user, "retry", name, None, detail)
        if not got:
            return RetriedOut(retried=retried)
        ids = [i for i, _ in got]
        after = ids[-1]
        small = {i for i, size in got if size <= celery_app.INGEST_BATCH_BYTES}
        enqueue_ingest(services.celery, settings, ids, small)
        retried += len(got)


@router.post(
    "/collections/{name}/lookup",
    response_model=LookupOut,
    responses=errors(401, 404),
)
def lookup(
    services: ServicesDep,
    name: Annotated[str, Path(pattern=COLLECTION_PATTERN)],
    body: LookupIn,
    who: Caller,
) -> LookupOut:
    """Which of these file hashes the collection holds already (a client skips those)."""
    catalog = services.catalog
    with catalog.reader() as s:
        require(s, who, name, Role.read)
        found = s.execute(
            select(Document.content_sha256, Document.id, Document.name, Document.status).where(
                Document.collection_id == name,
                Document.content_sha256.in_(list(set(body.sha256))),
                Document.status.not_in(RESTARTABLE),
            )
        ).all()
    return LookupOut(known={h: KnownOut(id=i, name=n, status=st) for h, i, n, st in found})


@router.get("/documents", response_model=list[DocumentOut], responses=errors(401, 404))
def list_documents(
    services: ServicesDep,
    who: Caller,
    collection: Annotated[str | None, Query(pattern=COLLECTION_PATTERN)] = None,
    status: Annotated[list[DocStatus] | None, Query(description="Repeat for several.")] = None,
    name: Annotated[
        str | None, Query(max_length=200, description="Part of the name, any case.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[DocumentOut]:
    """Documents of the collections the caller may read, newest first."""
    catalog = services.catalog
    with catalog.reader() as s:
        q = select(Document).where(Document.status != DocStatus.deleted)
        if collection:
            require(s, who, collection, Role.read)
            q = q.where(Document.collection_id == collection)
        else:
            visible = readable(s, who)
            if visible is not None:
                q = q.where(Document.collection_id.in_(visible))
        if status:
            q = q.where(Document.status.in_(status))
        if name:
            q = q.where(Document.name.ilike(f"%{_like_escaped(name)}%", escape="\\"))
        q = q.order_by(Document.created_at.desc(), Document.id).limit(limit).offset(offset)
        return [doc_out(d) for d in s.scalars(q)]


def _like_escaped(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (its ``%`` and ``_`` are not wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@router.get("/documents/{document_id}", response_model=DocumentOut, responses=errors(401, 404))
def get_document(services: ServicesDep, document_id: str, who: Caller) -> DocumentOut:
    catalog = services.catalog
    with catalog.reader() as s:
        return doc_out(document_for(s, who, document_id, Role.read))


@router.get(
    "/documents/{document_id}/chunks",
    response_model=list[ChunkOut],
    responses=errors(401, 404),
)
def document_chunks(
    services: ServicesDep,
    document_id: str,
    who: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[ChunkOut]:
    """The chunks a document was cut into, in order (a preview of what search sees)."""
    catalog = services.catalog
    with catalog.reader() as s:
        document_for(s, who, document_id, Role.read)
        rows = s.scalars(
            select(Chunk)
            .where(Chunk.document_id == document_id)
            .order_by(Chunk.ordinal)
            .limit(limit)
            .offset(offset)
        )
        return [
            ChunkOut(
                ordinal=c.ordinal,
                page=c.page,
                page_end=c.page_end,
                heading=c.heading,
                element_type=c.element_type,
                text=c.text,
            )
            for c in rows
        ]


@router.get(
    "/documents/{document_id}/file",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The original"},
        **errors(401, 404),
    },
)
def document_file(services: ServicesDep, document_id: str, who: Caller) -> FileResponse:
    """The original bytes, as an attachment (never rendered by the browser on our origin)."""
    catalog, blobs = services.catalog, services.blobs
    with catalog.reader() as s:
        doc = document_for(s, who, document_id, Role.read)
        name, blob = doc.name, doc.blob
    path = blobs.path(blob)
    if not path.exists():
        raise ApiError(404, "not_found", f"the original of {document_id} is gone")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=name,
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.delete(
    "/documents/{document_id}",
    response_model=DocumentOut,
    status_code=202,
    responses=errors(401, 403, 404),
)
def delete_document(services: ServicesDep, document_id: str, who: Caller) -> DocumentOut:
    """Hidden from search at once; the indexer removes its vectors and rows next."""
    settings, catalog = services.settings, services.catalog
    with catalog.session() as s:
        d = document_for(s, who, document_id, Role.write)
        gone = lifecycle.delete_document(s, d)  # an e-mail's attachments go with it
        audit(s, who.user, "delete", d.collection_id, d.id, {"name": d.name})
        out = doc_out(d)
    for doc_id in gone:
        enqueue(services.celery, settings, REMOVE_TASK, doc_id)
    return out
