"""Routes for documents and ingest jobs: upload, list, inspect, preview, download, delete."""

from __future__ import annotations

import uuid
from collections.abc import Set
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select

from api.deps import Caller, Services, clean_name, document_for, owner_of_new, require
from api.errors import ApiError, errors
from api.schemas import COLLECTION_PATTERN, ChunkOut, DocumentOut, JobOut
from askdocs.auth import Principal, Role, audit, readable, role_in
from askdocs.catalog import (
    TERMINAL,
    Chunk,
    Collection,
    DocStatus,
    Document,
    Job,
    JobDocument,
)
from askdocs.catalog import (
    document_id as make_document_id,
)
from askdocs.celery_app import PROCESS_TASK, REMOVE_TASK, enqueue


def doc_out(d: Document, duplicate: bool = False) -> DocumentOut:
    return DocumentOut(
        id=d.id,
        collection=d.collection_id,
        name=d.name,
        sha256=d.blob,
        content_type=d.content_type,
        size_bytes=d.size_bytes,
        status=d.status,
        error_code=d.error_code,
        error=d.error,
        pages=d.pages,
        chunks=d.chunk_count,
        attempts=d.attempts,
        created_at=d.created_at,
        updated_at=d.updated_at,
        duplicate=duplicate,
    )


def documents_router(services: Services) -> APIRouter:
    settings, catalog, blobs = services.settings, services.catalog, services.blobs
    router = APIRouter()

    @router.post(
        "/documents",
        response_model=JobOut,
        status_code=202,
        responses=errors(401, 403, 404, 409, 413),
    )
    async def upload(
        who: Caller,
        files: list[UploadFile] = File(..., description="One or more files", min_length=1),  # noqa: B008
        collection: str = Form("default", pattern=COLLECTION_PATTERN),
    ) -> JobOut:
        """Store the files by hash and queue each new one; a collection that does not exist yet is
        made, owned by the caller."""
        if not files:
            raise ApiError(422, "validation_error", "no files in the request")
        if len(files) > settings.max_files_per_upload:
            raise ApiError(
                413,
                "too_many_files",
                f"{len(files)} files in one request; the limit is {settings.max_files_per_upload}",
            )
        with catalog.session() as s:  # check before storing anything
            if s.get(Collection, collection) is not None:
                require(s, who, collection, Role.write)
        stored: list[tuple[str, str, str | None, int, UploadFile]] = []
        for f in files:
            data = await f.read(settings.max_upload_bytes + 1)
            name = clean_name(f.filename or "upload")
            if len(data) > settings.max_upload_bytes:
                raise ApiError(
                    413,
                    "too_large",
                    f"{name} is larger than the limit of {settings.max_upload_bytes} bytes",
                )
            content = blobs.put(data)
            ctype = (f.content_type or "")[:128] or None
            stored.append((content, name, ctype, len(data), f))
        job_id = str(uuid.uuid4())
        to_enqueue: list[str] = []
        duplicates: set[str] = set()
        # Under the blob lock: a concurrent removal of the last document using the same bytes cannot
        # delete the blob between our check and our commit.
        with blobs.lock(), catalog.session() as s:
            if s.get(Collection, collection) is None:
                catalog.ensure_collection(s, collection, owner=owner_of_new(who))
            require(s, who, collection, Role.write)
            s.add(Job(id=job_id, collection_id=collection))
            s.flush()
            for content, name, ctype, size, f in stored:
                if not blobs.path(content).exists():  # removed since we stored it
                    await f.seek(0)
                    blobs.put(await f.read())
                doc_id = make_document_id(collection, content)
                doc = s.get(Document, doc_id)
                if doc is not None and doc.status != DocStatus.deleted:
                    duplicates.add(doc_id)
                else:
                    if doc is None:
                        doc = Document(
                            id=doc_id,
                            content_sha256=content,
                            collection_id=collection,
                            name=name,
                            content_type=ctype,
                            size_bytes=size,
                        )
                        s.add(doc)
                    else:  # re-uploaded while its delete was pending: bring it back
                        doc.name, doc.version = name, doc.version + 1
                    doc.status = DocStatus.queued
                    doc.error = doc.error_code = None
                    to_enqueue.append(doc_id)
                    audit(s, who.user, "upload", collection, doc_id, {"name": name, "bytes": size})
                if s.get(JobDocument, (job_id, doc_id)) is None:
                    s.add(JobDocument(job_id=job_id, document_id=doc_id))
        for digest in to_enqueue:
            enqueue(services.celery, settings, PROCESS_TASK, digest)
        return job_out(job_id, who, duplicates)

    def job_out(job_id: str, who: Principal, duplicates: Set[str] = frozenset()) -> JobOut:
        with catalog.session() as s:
            job = s.get(Job, job_id)
            if job is None or role_in(s, who, job.collection_id) is None:
                raise ApiError(404, "not_found", f"no job {job_id}")
            docs = s.scalars(
                select(Document)
                .join(JobDocument, JobDocument.document_id == Document.id)
                .where(JobDocument.job_id == job_id)
                .order_by(Document.name)
            ).all()
            counts: dict[str, int] = {}
            for d in docs:
                counts[d.status] = counts.get(d.status, 0) + 1
            return JobOut(
                id=job.id,
                collection=job.collection_id,
                created_at=job.created_at,
                total=len(docs),
                counts=counts,
                done=all(d.status in TERMINAL for d in docs),
                documents=[doc_out(d, d.id in duplicates) for d in docs],
            )

    @router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(401, 404))
    def get_job(job_id: str, who: Caller) -> JobOut:
        return job_out(job_id, who)

    @router.get("/documents", response_model=list[DocumentOut], responses=errors(401, 404))
    def list_documents(
        who: Caller,
        collection: Annotated[str | None, Query(pattern=COLLECTION_PATTERN)] = None,
        status: DocStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    ) -> list[DocumentOut]:
        """Documents of the collections the caller may read, newest first."""
        with catalog.session() as s:
            q = select(Document).where(Document.status != DocStatus.deleted)
            if collection:
                require(s, who, collection, Role.read)
                q = q.where(Document.collection_id == collection)
            else:
                visible = readable(s, who)
                if visible is not None:
                    q = q.where(Document.collection_id.in_(visible))
            if status:
                q = q.where(Document.status == status)
            q = q.order_by(Document.created_at.desc(), Document.id).limit(limit).offset(offset)
            return [doc_out(d) for d in s.scalars(q)]

    @router.get("/documents/{document_id}", response_model=DocumentOut, responses=errors(401, 404))
    def get_document(document_id: str, who: Caller) -> DocumentOut:
        with catalog.session() as s:
            return doc_out(document_for(s, who, document_id, Role.read))

    @router.get(
        "/documents/{document_id}/chunks",
        response_model=list[ChunkOut],
        responses=errors(401, 404),
    )
    def document_chunks(
        document_id: str,
        who: Caller,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    ) -> list[ChunkOut]:
        """The chunks a document was cut into, in order (a preview of what search sees)."""
        with catalog.session() as s:
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
    def document_file(document_id: str, who: Caller) -> FileResponse:
        """The original bytes, as an attachment (never rendered by the browser on our origin)."""
        with catalog.session() as s:
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
    def delete_document(document_id: str, who: Caller) -> DocumentOut:
        """Hidden from search at once; the indexer removes its vectors and rows next."""
        with catalog.session() as s:
            d = document_for(s, who, document_id, Role.write)
            d.status = DocStatus.deleted
            audit(s, who.user, "delete", d.collection_id, d.id, {"name": d.name})
            out = doc_out(d)
        enqueue(services.celery, settings, REMOVE_TASK, document_id)
        return out

    return router
