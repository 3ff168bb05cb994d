"""The HTTP API. Routes translate; the work happens in catalog, retrieval and generation code.

The API enqueues ingestion by task name and never imports unstructured. Every route but /health needs
an API key (unless auth is off), and every collection-scoped route checks the caller's role.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import (
    collections,
    conversations,
    documents,
    jobs,
    metrics,
    openai_compat,
    pages,
    query,
    sources,
    status,
)
from api.answering import AnswerService
from api.deps import BodyLimit, Services, form_routes, takes_form
from api.edge import Edge
from api.errors import install_handlers
from core import logs
from core.auth import bootstrap_admin
from core.blobs import BlobStore
from core.catalog import Catalog
from core.celery_app import create_celery
from core.offline import go_offline
from core.settings import Settings
from generation.client import GeneratorClient, GeneratorUnavailable
from retrieval.embedding import Embedder, Reranker
from retrieval.index_store import IndexCache, ServedModel
from retrieval.query_encoders import Backoff, QueryEncoders
from retrieval.search import Retriever, SearchConfig

log = logging.getLogger(__name__)


def check_generator(generator: GeneratorClient, wanted: str | None) -> None:
    """Say at start which model answers, or why none does; questions get a 503 until one does."""
    try:
        listed = generator.models()
    except GeneratorUnavailable as e:
        log.warning("generator not answering yet (questions get 503 until it does): %s", e)
        return
    if wanted is not None and wanted not in listed:
        log.error(
            "generator at %s does not serve %r; it lists %s", generator.base_url, wanted, listed
        )
        return
    log.info(
        "generator at %s: model %s, context %s",
        generator.base_url,
        generator.model,
        generator.context_length() or "not stated",
    )


def build_services(settings: Settings) -> Services:
    catalog = Catalog(settings.catalog_url)
    embedder = Embedder(
        settings.embedding_model,
        batch_size=settings.embed_batch_size,
        onnx_dir=settings.model_dir if settings.onnx_queries else None,
    )
    retriever = Retriever(
        catalog,
        embedder,
        IndexCache(
            catalog,
            settings.index_dir,
            ServedModel.of(settings.embedding_model),
            idle_seconds=settings.index_idle_seconds,
            mmap_vectors=settings.segment_mmap_vectors,
        ),
        SearchConfig(
            mode=settings.retrieval_mode,
            dense_depth=settings.dense_depth,
            lexical_depth=settings.lexical_depth,
            ef_search=settings.hnsw_ef_search,
            rerank=settings.rerank_model is not None,
            rerank_depth=settings.rerank_depth,
        ),
        Reranker(settings.rerank_model) if settings.rerank_model else None,
        segment_threads=settings.segment_search_threads,
        encoders=QueryEncoders(
            embedder,
            Backoff(settings.embedding_retry_seconds, settings.embedding_retry_max_seconds),
        ),
    )
    generator = GeneratorClient(
        settings.generator_url,
        model=settings.generator_model,
        api_key=settings.generator_api_key,
        timeout=settings.generator_timeout,
        extra_body=settings.generator_extra_body,
    )
    return Services(
        settings,
        catalog,
        BlobStore(settings.blob_dir),
        create_celery(settings),
        embedder,
        retriever,
        generator,
        AnswerService(catalog, retriever, generator, settings),
    )


def create_app(settings: Settings) -> FastAPI:
    """Build the API for ``settings``; the embedding model loads at start-up, not at import."""
    services = build_services(settings)
    catalog = services.catalog

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        catalog.create()
        if settings.auth:
            key = bootstrap_admin(catalog)  # only when `askdocs up` did not (docker compose)
            if key:
                print(f"askdocs: first admin key (shown once): {key}", flush=True)
        with catalog.session() as s:
            catalog.ensure_collection(s, "default")
        services.embedder.load()
        services.embedder.enable_onnx()
        if services.retriever.reranker is not None:
            services.retriever.reranker.load()
        check_generator(services.generator, settings.generator_model)
        yield
        catalog.engine.dispose()

    app = FastAPI(title="askdocs", version="0.1.0", lifespan=lifespan)
    install_handlers(app)
    app.state.services = services
    app.state.health = status.health_cache(services)

    modules = (
        collections,
        documents,
        jobs,
        query,
        conversations,
        openai_compat,
        status,
        metrics,
        sources,
        pages,
    )
    for module in modules:
        app.include_router(module.router)
    app.state.settings = settings

    uploads = form_routes(module.router for module in modules)
    # Each middleware added wraps those before it: the body's size is checked next to the routes,
    # who calls and how often before any body is read, the metrics and request id outermost.
    app.add_middleware(
        BodyLimit,
        limit=settings.max_request_bytes,
        json_limit=settings.max_json_bytes,
        uploads=lambda scope: takes_form(uploads, scope),
    )
    open_paths = {"/health", app.docs_url, app.redoc_url, app.openapi_url}
    open_paths.add(app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(
        Edge, settings=settings, catalog=catalog, open_paths={p for p in open_paths if p}
    )
    app.add_middleware(metrics.HttpMetrics)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: ``uvicorn --factory api.app:app_from_env``; settings from ASKDOCS_*."""
    go_offline()
    settings = Settings()
    logs.configure("api", settings.log_format)
    return create_app(settings)
