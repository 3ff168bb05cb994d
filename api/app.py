"""The HTTP API. Routes translate; the work happens in catalog, retrieval and generation code.

The API enqueues ingestion by task name and never imports unstructured. Every route but /health needs
an API key (unless auth is off), and every collection-scoped route checks the caller's role.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Path, Query
from fastapi.responses import Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.conversations import conversations_router
from api.deps import (
    BodyLimit,
    Caller,
    Services,
    owner_of_new,
    require,
    require_admin,
)
from api.documents import documents_router
from api.errors import ApiError, errors, install_handlers
from api.jobs import jobs_router
from api.openai_compat import openai_router
from api.query import query_router
from api.schemas import (
    COLLECTION_PATTERN,
    AuditOut,
    CollectionDeletedOut,
    CollectionIn,
    CollectionOut,
    HealthOut,
    MemberIn,
    MemberOut,
    MeOut,
    ReembedOut,
)
from api.status import check_components, status_router
from askdocs.auth import (
    USER_PATTERN,
    AuthError,
    Principal,
    Role,
    audit,
    bootstrap_admin,
    role_in,
    set_member,
    visible_collections,
)
from askdocs.blobs import BlobStore
from askdocs.catalog import (
    AuditEvent,
    Catalog,
    Collection,
    DocStatus,
    Document,
    Membership,
    reembed_progress,
    status_counts,
    utcnow,
)
from askdocs.celery_app import DROP_TASK, RENAME_TASK, create_celery, enqueue
from askdocs.settings import Settings
from generation.client import GeneratorClient, GeneratorUnavailable
from retrieval.embedding import Embedder, Reranker
from retrieval.index_store import IndexCache, ServedModel
from retrieval.search import Retriever, SearchConfig

log = logging.getLogger(__name__)


def collection_out(s: Session, who: Principal, coll: Collection) -> CollectionOut:
    """A collection as the caller sees it (they may read it)."""
    counts = status_counts(s, coll.id)
    role = role_in(s, who, coll.id)
    assert role is not None  # visible means readable
    return CollectionOut(
        name=coll.id,
        documents=sum(v for k, v in counts.items() if k != DocStatus.deleted),
        ready=counts.get(DocStatus.ready, 0),
        embedding_model=coll.embedding_model,
        index_generation=coll.index_generation,
        owner=coll.owner_id,
        role=role.name,
        renaming_to=coll.renaming_to,
        embedding_dim=coll.embedding_dim,
        reembedding=reembedding_out(s, coll),
    )


def reembedding_out(s: Session, coll: Collection) -> ReembedOut | None:
    if coll.reembed_to is None:
        return None
    done, total = reembed_progress(s, coll.id, coll.reembed_to)
    return ReembedOut(model=coll.reembed_to, chunks_done=done, chunks_total=total)


def owned_collection(s: Session, who: Principal, name: str, verb: str) -> Collection:
    """The collection, locked, for its owner (or an admin) to delete or rename; never "default"."""
    require(s, who, name, Role.owner)
    if name == "default":
        raise ApiError(409, "conflict", f"the default collection cannot be {verb}")
    coll = s.get(Collection, name, with_for_update=True)
    assert coll is not None
    return coll


def name_in_use(s: Session, name: str) -> bool:
    """A collection has the name, or a rename to it is pending."""
    if s.get(Collection, name) is not None:
        return True
    return s.scalar(select(Collection.id).where(Collection.renaming_to == name)) is not None


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


CollectionName = Annotated[str, Path(pattern=COLLECTION_PATTERN)]
UserName = Annotated[str, Path(pattern=USER_PATTERN)]


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
        ),
        SearchConfig(
            mode=settings.retrieval_mode,
            fusion=settings.fusion,
            rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight,
            chunk_weight=settings.chunk_weight,
            dense_depth=settings.dense_depth,
            lexical_depth=settings.lexical_depth,
            title_boost=settings.title_boost,
            common_df=settings.common_df,
            ef_search=settings.hnsw_ef_search,
            rerank=settings.rerank_model is not None,
            rerank_depth=settings.rerank_depth,
        ),
        Reranker(settings.rerank_model) if settings.rerank_model else None,
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
        services.embedder.enable_onnx_queries()
        if services.retriever.reranker is not None:
            services.retriever.reranker.load()
        check_generator(services.generator, settings.generator_model)
        yield
        catalog.engine.dispose()

    app = FastAPI(title="askdocs", version="0.1.0", lifespan=lifespan)
    install_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.state.services = services

    @app.get("/health", response_model=HealthOut, responses=errors())
    def health() -> HealthOut:
        """Open to all: whether each dependency answers. No document data."""
        components = check_components(services)
        ok = all(c["ok"] for c in components.values() if not c.get("optional"))
        return HealthOut(
            status="ok" if ok else "degraded", auth=settings.auth, components=components
        )

    @app.get("/me", response_model=MeOut, responses=errors(401))
    def me(who: Caller) -> MeOut:
        return MeOut(user=who.user, admin=who.admin, auth=settings.auth, key_id=who.key_id)

    @app.post(
        "/collections", response_model=CollectionOut, status_code=201, responses=errors(401, 409)
    )
    def create_collection(body: CollectionIn, who: Caller) -> CollectionOut:
        """A new collection, owned by the caller."""
        with catalog.session() as s:
            existing = s.get(Collection, body.name)
            if existing is not None and existing.deleted_at is not None:
                raise ApiError(409, "conflict", f"the name {body.name!r} is being deleted")
            if name_in_use(s, body.name):
                raise ApiError(409, "conflict", f"the name {body.name!r} is taken")
            catalog.ensure_collection(s, body.name, owner=owner_of_new(who))
            audit(s, who.user, "collection_created", body.name)
        return CollectionOut(
            name=body.name,
            documents=0,
            ready=0,
            embedding_model=None,
            index_generation=0,
            owner=owner_of_new(who),
            role="owner",
        )

    @app.get("/collections", response_model=list[CollectionOut], responses=errors(401))
    def list_collections(who: Caller) -> list[CollectionOut]:
        """The collections the caller may read, with their role in each."""
        with catalog.reader() as s:
            return [collection_out(s, who, c) for c in visible_collections(s, who)]

    @app.delete(
        "/collections/{name}",
        response_model=CollectionDeletedOut,
        status_code=202,
        responses=errors(401, 403, 404, 409),
    )
    def delete_collection(name: CollectionName, who: Caller) -> CollectionDeletedOut:
        """Delete a collection (its owner or an admin): gone from every listing and search at
        once; the indexer then drops its indexes, documents, originals no other collection uses,
        jobs, memberships and conversations."""
        with catalog.session() as s:
            coll = owned_collection(s, who, name, "deleted")
            coll.deleted_at = when = utcnow()
            s.execute(
                update(Document)
                .where(Document.collection_id == name, Document.status != DocStatus.deleted)
                .values(status=DocStatus.deleted, error="its collection was deleted")
            )
            audit(s, who.user, "collection_deleted", name)
        enqueue(services.celery, settings, DROP_TASK, name)
        return CollectionDeletedOut(name=name, deleted_at=when)

    @app.patch(
        "/collections/{name}",
        response_model=CollectionOut,
        responses={
            202: {"model": CollectionOut, "description": "Renaming; not finished yet."},
            **errors(401, 403, 404, 409),
        },
    )
    def rename_collection(
        name: CollectionName, body: CollectionIn, who: Caller, response: Response
    ) -> CollectionOut:
        """Rename a collection (its owner or an admin). Documents, members, jobs and conversations
        move with it; the answer comes once the indexer has moved it (202 while it is still
        moving, with ``renaming_to`` set)."""
        new = body.name
        with catalog.session() as s:
            coll = owned_collection(s, who, name, "renamed")
            if new == name:
                return collection_out(s, who, coll)
            if coll.renaming_to is not None:
                raise ApiError(409, "conflict", f"{name} is being renamed to {coll.renaming_to}")
            if name_in_use(s, new):
                raise ApiError(409, "conflict", f"the name {new!r} is taken")
            coll.renaming_to = new
            audit(s, who.user, "collection_renamed", name, detail={"to": new})
        enqueue(services.celery, settings, RENAME_TASK, name)
        deadline = time.monotonic() + settings.rename_wait_seconds
        while True:
            with catalog.reader() as s:
                moved = s.get(Collection, new)
                if moved is not None and s.get(Collection, name) is None:
                    return collection_out(s, who, moved)
                coll = s.get(Collection, name)
                if coll is not None and coll.renaming_to is None:
                    raise ApiError(409, "conflict", f"the name {new!r} was taken meanwhile")
                if time.monotonic() > deadline:
                    if coll is None:  # deleted, or moved on again, meanwhile
                        raise ApiError(409, "conflict", f"{name} changed meanwhile; look again")
                    response.status_code = 202
                    return collection_out(s, who, coll)
            time.sleep(0.1)  # the indexer works between our reads

    @app.get(
        "/collections/{name}/members",
        response_model=list[MemberOut],
        responses=errors(401, 404),
    )
    def list_members(name: CollectionName, who: Caller) -> list[MemberOut]:
        with catalog.reader() as s:
            require(s, who, name, Role.read)
            coll = s.get(Collection, name)
            out = [MemberOut(user=coll.owner_id, role="owner")] if coll and coll.owner_id else []
            rows = s.scalars(
                select(Membership)
                .where(Membership.collection_id == name)
                .order_by(Membership.user_id)
            )
            return out + [MemberOut(user=m.user_id, role=m.role) for m in rows]

    @app.put(
        "/collections/{name}/members/{user}",
        response_model=MemberOut,
        responses=errors(401, 403, 404),
    )
    def put_member(name: CollectionName, user: UserName, body: MemberIn, who: Caller) -> MemberOut:
        """Give a user read or write access (the owner or an admin may)."""
        with catalog.session() as s:
            require(s, who, name, Role.owner)
            try:
                set_member(s, name, user, body.role)
            except AuthError as e:
                raise ApiError(404 if "no user" in str(e) else 409, "member", str(e)) from e
            audit(s, who.user, "member_set", name, detail={"user": user, "role": body.role})
        return MemberOut(user=user, role=body.role)

    @app.delete(
        "/collections/{name}/members/{user}", status_code=204, responses=errors(401, 403, 404, 409)
    )
    def delete_member(name: CollectionName, user: UserName, who: Caller) -> Response:
        with catalog.session() as s:
            require(s, who, name, Role.owner)
            try:
                set_member(s, name, user, None)
            except AuthError as e:
                raise ApiError(404 if "no user" in str(e) else 409, "member", str(e)) from e
            audit(s, who.user, "member_removed", name, detail={"user": user})
        return Response(status_code=204)

    @app.get("/audit", response_model=list[AuditOut], responses=errors(401, 403))
    def audit_log(
        who: Caller,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        user: Annotated[str | None, Query(max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=32)] = None,
    ) -> list[AuditOut]:
        """The newest audit events first (admins only)."""
        require_admin(who)
        with catalog.reader() as s:
            q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
            if user:
                q = q.where(AuditEvent.user_id == user)
            if action:
                q = q.where(AuditEvent.action == action)
            return [
                AuditOut(
                    id=e.id,
                    at=e.at,
                    user=e.user_id,
                    action=e.action,
                    collection=e.collection_id,
                    document_id=e.document_id,
                    detail=json.loads(e.detail) if e.detail else None,
                )
                for e in s.scalars(q)
            ]

    app.include_router(documents_router(services))
    app.include_router(jobs_router(services))
    app.include_router(query_router(services))
    app.include_router(conversations_router(services))
    app.include_router(openai_router(services))
    app.include_router(status_router(services))
    app.state.settings = settings
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: ``uvicorn --factory api.app:app_from_env``; settings from ASKDOCS_*."""
    from askdocs.offline import go_offline

    go_offline()
    return create_app(Settings())
