"""The HTTP API. Routes translate; the work happens in catalog, retrieval and generation code.

The API enqueues ingestion by task name and never imports unstructured.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from dataclasses import asdict

import redis
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from kombu.exceptions import OperationalError
from sqlalchemy import func, select

from api.schemas import (
    COLLECTION_PATTERN,
    AskIn,
    CollectionIn,
    CollectionOut,
    DocumentOut,
    HealthOut,
    JobOut,
    PassageOut,
    SearchIn,
    SearchOut,
)
from askdocs.blobs import BlobStore
from askdocs.catalog import (
    TERMINAL,
    Catalog,
    Collection,
    DocStatus,
    Document,
    Job,
    JobDocument,
)
from askdocs.celery_app import PROCESS_TASK, REMOVE_TASK, create_celery, enqueue
from askdocs.settings import Settings
from generation.client import GeneratorClient, GeneratorUnavailable
from generation.rag import Answer, answer
from retrieval.embedding import Embedder
from retrieval.index_store import IndexCache
from retrieval.search import Retriever, SearchConfig
from retrieval.types import ScoredChunk

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, type_: str, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.detail = status, type_, message, detail


def _envelope(status: int, type_: str, message: str, detail: object = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "message": message, "detail": detail}}, status_code=status
    )


def _doc_out(d: Document, duplicate: bool = False) -> DocumentOut:
    return DocumentOut(
        id=d.id,
        collection=d.collection_id,
        name=d.name,
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


def _passages_out(passages: list[ScoredChunk]) -> list[PassageOut]:
    return [
        PassageOut(
            n=i,
            chunk_id=p.chunk_id,
            document_id=p.document_id,
            document_name=p.document_name,
            page=p.page,
            heading=p.heading,
            score=p.score,
            text=p.text,
        )
        for i, p in enumerate(passages, start=1)
    ]


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def create_app(settings: Settings) -> FastAPI:
    """Build the API for ``settings``; the embedding model loads at start-up, not at import."""
    catalog = Catalog(settings.catalog_url)
    blobs = BlobStore(settings.blob_dir)
    celery = create_celery(settings)
    embedder = Embedder(
        settings.embedding_model,
        batch_size=settings.embed_batch_size,
        onnx_dir=settings.model_dir if settings.onnx_queries else None,
    )
    retriever = Retriever(
        catalog,
        embedder,
        IndexCache(catalog, settings.index_dir),
        SearchConfig(
            mode=settings.retrieval_mode,
            fusion=settings.fusion,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            dense_depth=settings.dense_depth,
            lexical_depth=settings.lexical_depth,
            title_boost=settings.title_boost,
            ef_search=settings.hnsw_ef_search,
        ),
    )
    generator = GeneratorClient(
        settings.generator_url,
        model=settings.generator_model,
        api_key=settings.generator_api_key,
        timeout=settings.generator_timeout,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        catalog.create()
        with catalog.session() as s:
            catalog.ensure_collection(s, "default")
        embedder.load()
        embedder.enable_onnx_queries()
        yield
        catalog.engine.dispose()

    app = FastAPI(title="askdocs", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(ApiError)
    async def _api_error(_r: Request, e: ApiError) -> JSONResponse:
        return _envelope(e.status, e.type, e.message, e.detail)

    @app.exception_handler(HTTPException)
    async def _http_error(_r: Request, e: HTTPException) -> JSONResponse:
        return _envelope(e.status_code, "http_error", str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_r: Request, e: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(x["loc"]), "msg": x["msg"]} for x in e.errors()]
        return _envelope(422, "validation_error", "the request is not valid", detail)

    @app.exception_handler(GeneratorUnavailable)
    async def _gen_down(_r: Request, e: GeneratorUnavailable) -> JSONResponse:
        return _envelope(503, "generator_unavailable", str(e))

    @app.exception_handler(OperationalError)
    @app.exception_handler(redis.exceptions.ConnectionError)
    async def _queue_down(_r: Request, e: Exception) -> JSONResponse:
        return _envelope(503, "queue_unavailable", f"the job queue (Redis) is unreachable: {e}")

    @app.exception_handler(Exception)
    async def _unexpected(_r: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _envelope(500, "internal", "internal error; the server log has the details")

    @app.get("/health", response_model=HealthOut)
    def health() -> HealthOut:
        components: dict[str, dict[str, object]] = {}
        try:
            redis.Redis.from_url(settings.redis_url, socket_timeout=2).ping()
            components["redis"] = {"ok": True, "url": settings.redis_url}
        except redis.RedisError as e:
            components["redis"] = {"ok": False, "error": str(e)}
        try:
            with catalog.session() as s:
                n = s.scalar(select(func.count()).select_from(Document))
            components["catalog"] = {"ok": True, "documents": n}
        except Exception as e:  # noqa: BLE001 - report any catalog failure
            components["catalog"] = {"ok": False, "error": str(e)}
        try:
            components["generator"] = {
                "ok": True,
                "url": settings.generator_url,
                "models": generator.models(),
            }
        except GeneratorUnavailable as e:
            components["generator"] = {"ok": False, "url": settings.generator_url, "error": str(e)}
        ok = all(c["ok"] for c in components.values())
        return HealthOut(status="ok" if ok else "degraded", components=components)

    @app.post("/collections", response_model=CollectionOut, status_code=201)
    def create_collection(body: CollectionIn) -> CollectionOut:
        with catalog.session() as s:
            if s.get(Collection, body.name) is not None:
                raise ApiError(409, "conflict", f"collection {body.name!r} exists already")
            catalog.ensure_collection(s, body.name)
        return CollectionOut(
            name=body.name, documents=0, ready=0, embedding_model=None, index_generation=0
        )

    @app.get("/collections", response_model=list[CollectionOut])
    def list_collections() -> list[CollectionOut]:
        with catalog.session() as s:
            out = []
            for c in s.scalars(select(Collection).order_by(Collection.id)):
                counts = dict(
                    s.execute(
                        select(Document.status, func.count())
                        .where(Document.collection_id == c.id)
                        .group_by(Document.status)
                    ).all()
                )
                out.append(
                    CollectionOut(
                        name=c.id,
                        documents=sum(v for k, v in counts.items() if k != DocStatus.deleted),
                        ready=counts.get(DocStatus.ready, 0),
                        embedding_model=c.embedding_model,
                        index_generation=c.index_generation,
                    )
                )
            return out

    @app.post("/documents", response_model=JobOut, status_code=202)
    async def upload(
        files: list[UploadFile] = File(..., description="One or more files"),  # noqa: B008
        collection: str = Form("default", pattern=COLLECTION_PATTERN),
    ) -> JobOut:
        if not files:
            raise ApiError(422, "validation_error", "no files in the request")
        stored: list[tuple[str, str, str | None, int]] = []
        for f in files:
            data = await f.read(settings.max_upload_bytes + 1)
            name = _clean_name(f.filename or "upload")
            if len(data) > settings.max_upload_bytes:
                raise ApiError(
                    413,
                    "too_large",
                    f"{name} is larger than the limit of {settings.max_upload_bytes} bytes",
                )
            digest = blobs.put(data)
            stored.append((digest, name, f.content_type, len(data)))
        job_id = str(uuid.uuid4())
        to_enqueue: list[str] = []
        duplicates: set[str] = set()
        with catalog.session() as s:
            catalog.ensure_collection(s, collection)
            s.add(Job(id=job_id, collection_id=collection))
            s.flush()
            for digest, name, ctype, size in stored:
                doc = s.get(Document, digest)
                if doc is not None and doc.collection_id != collection:
                    raise ApiError(
                        409,
                        "conflict",
                        f"{name} has the same bytes as {doc.name!r} in collection "
                        f"{doc.collection_id!r}; one file lives in one collection",
                    )
                if doc is not None and doc.status != DocStatus.deleted:
                    duplicates.add(digest)
                else:
                    if doc is None:
                        doc = Document(
                            id=digest,
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
                    to_enqueue.append(digest)
                if s.get(JobDocument, (job_id, digest)) is None:
                    s.add(JobDocument(job_id=job_id, document_id=digest))
        for digest in to_enqueue:
            enqueue(celery, settings, PROCESS_TASK, digest)
        return _job_out(job_id, duplicates)

    def _job_out(job_id: str, duplicates: AbstractSet[str] = frozenset()) -> JobOut:
        with catalog.session() as s:
            job = s.get(Job, job_id)
            if job is None:
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
                documents=[_doc_out(d, d.id in duplicates) for d in docs],
            )

    @app.get("/jobs/{job_id}", response_model=JobOut)
    def get_job(job_id: str) -> JobOut:
        return _job_out(job_id)

    @app.get("/documents", response_model=list[DocumentOut])
    def list_documents(
        collection: str | None = None, status: str | None = None
    ) -> list[DocumentOut]:
        with catalog.session() as s:
            q = select(Document).where(Document.status != DocStatus.deleted)
            if collection:
                q = q.where(Document.collection_id == collection)
            if status:
                q = q.where(Document.status == status)
            return [_doc_out(d) for d in s.scalars(q.order_by(Document.created_at.desc()))]

    @app.get("/documents/{document_id}", response_model=DocumentOut)
    def get_document(document_id: str) -> DocumentOut:
        with catalog.session() as s:
            d = s.get(Document, document_id)
            if d is None or d.status == DocStatus.deleted:
                raise ApiError(404, "not_found", f"no document {document_id}")
            return _doc_out(d)

    @app.delete("/documents/{document_id}", response_model=DocumentOut, status_code=202)
    def delete_document(document_id: str) -> DocumentOut:
        """Hidden from search at once; the indexer removes its vectors and rows next."""
        with catalog.session() as s:
            d = s.get(Document, document_id)
            if d is None or d.status == DocStatus.deleted:
                raise ApiError(404, "not_found", f"no document {document_id}")
            d.status = DocStatus.deleted
            out = _doc_out(d)
        enqueue(celery, settings, REMOVE_TASK, document_id)
        return out

    def _check_collection(name: str) -> None:
        with catalog.session() as s:
            if s.get(Collection, name) is None:
                raise ApiError(404, "not_found", f"no collection {name!r}")

    @app.post("/search", response_model=SearchOut)
    def search(body: SearchIn) -> SearchOut:
        _check_collection(body.collection)
        t0 = time.perf_counter()
        config = None
        if body.tuning is not None:
            changes = body.tuning.model_dump(exclude_none=True)
            config = dataclasses.replace(retriever.config, **changes)
        found = retriever.search(
            body.collection, body.query, body.k, body.mode, body.document_ids, config
        )
        took = (time.perf_counter() - t0) * 1000
        return SearchOut(passages=_passages_out(found), took_ms=round(took, 2))

    @app.post("/ask", responses={200: {"content": {"text/event-stream": {}}}})
    def ask(body: AskIn) -> StreamingResponse:
        """Server-sent events: `sources`, then `token`s, then `done` (answer and citations)."""
        _check_collection(body.collection)
        passages = retriever.search(body.collection, body.question, body.k or settings.top_k)
        relevance = retriever.best_similarity(body.question, passages)
        # Below the gate the generator never sees the passages: it says so, and lists them.
        gated = relevance < settings.relevance_threshold
        if not gated:
            _ = generator.model  # fail with 503 now, not inside the stream

        def events() -> Iterator[str]:
            yield _sse("sources", [p.model_dump() for p in _passages_out(passages)])
            try:
                for ev in answer(
                    body.question,
                    [] if gated else passages,
                    generator,
                    settings.context_tokens,
                    settings.generator_max_tokens,
                ):
                    if isinstance(ev, Answer):
                        yield _sse(
                            "done",
                            {
                                "answer": ev.text,
                                "abstained": ev.abstained,
                                "citations": [asdict(c) for c in ev.citations],
                                "invalid_markers": ev.invalid_markers,
                                "inferred_markers": ev.inferred_markers,
                                "relevance": round(relevance, 4),
                                "below_relevance_threshold": gated,
                            },
                        )
                    else:
                        yield _sse("token", {"text": ev.text})
            except GeneratorUnavailable as e:
                yield _sse("error", {"type": "generator_unavailable", "message": str(e)})

        return StreamingResponse(events(), media_type="text/event-stream")

    app.state.settings = settings
    return app


def _clean_name(name: str) -> str:
    """A display name: last path component, no control characters, bounded length."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "upload"
    return base[:255]


def app_from_env() -> FastAPI:
    """uvicorn factory: ``uvicorn --factory api.app:app_from_env``; settings from ASKDOCS_*."""
    from askdocs.offline import go_offline

    go_offline()
    return create_app(Settings())
