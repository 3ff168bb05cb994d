"""Routes for collections, their members and the audit log; and /health and /me."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Caller, ServicesDep, owner_of_new, require, require_admin
from api.errors import ApiError, errors
from api.health import HealthCache
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
from core import lifecycle
from core.auth import USER_PATTERN, Principal, Role, audit, role_in, set_member, visible_collections
from core.catalog import (
    AuditEvent,
    Collection,
    DocStatus,
    Membership,
    reembed_progress,
    status_counts,
)
from core.celery_app import DROP_TASK, RENAME_TASK, enqueue
from core.settings import Settings

CollectionName = Annotated[str, Path(pattern=COLLECTION_PATTERN)]
UserName = Annotated[str, Path(pattern=USER_PATTERN)]


def collection_out(s: Session, who: Principal, coll: Collection) -> CollectionOut:
    """A collection as the caller sees it (they may read it)."""
    counts = status_counts(s, coll.id)
    role = role_in(s, who, coll.id)
    assert role is not None  # visible means readable
    return CollectionOut(
        name=coll.id,
        documents=sum(v for k, v in counts.items() if k != DocStatus.deleted),
        ready=counts.get(DocStatus.ready, 0),
        by_status={k: v for k, v in counts.items() if k != DocStatus.deleted},
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


router = APIRouter()


@router.get("/health", response_model=HealthOut, responses=errors(503))
async def health(request: Request) -> HealthOut:
    """Open to all: whether each dependency answered the last check, and how old it is (a check
    runs at most every health_ttl_seconds, one at a time). No document data."""
    settings: Settings = request.app.state.settings
    kept: HealthCache = request.app.state.health
    checked = await kept.get()
    if checked is None:
        raise ApiError(503, "starting", "the first health check has not finished yet")
    components = checked.components
    ok = all(c["ok"] for c in components.values() if not c.get("optional"))
    return HealthOut(
        status="ok" if ok else "degraded",
        auth=settings.auth,
        components=components,
        checked_at=datetime.fromtimestamp(checked.at, UTC),
        age_s=round(checked.age(), 3),
    )


@router.get("/me", response_model=MeOut, responses=errors(401))
def me(services: ServicesDep, who: Caller) -> MeOut:
    settings = services.settings
    return MeOut(user=who.user, admin=who.admin, auth=settings.auth, key_id=who.key_id)


@router.post(
    "/collections", response_model=CollectionOut, status_code=201, responses=errors(401, 409)
)
def create_collection(services: ServicesDep, body: CollectionIn, who: Caller) -> CollectionOut:
    """A new collection, owned by the caller."""
    catalog = services.catalog
    with catalog.session() as s:
        existing = s.get(Collection, body.name)
        if existing is not None and existing.deleted_at is not None:
            raise ApiError(409, "conflict", f"the name {body.name!r} is being deleted")
        if lifecycle.name_in_use(s, body.name):
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


@router.get("/collections", response_model=list[CollectionOut], responses=errors(401))
def list_collections(services: ServicesDep, who: Caller) -> list[CollectionOut]:
    """The collections the caller may read, with their role in each."""
    catalog = services.catalog
    with catalog.reader() as s:
        return [collection_out(s, who, c) for c in visible_collections(s, who)]


@router.get("/collections/{name}", response_model=CollectionOut, responses=errors(401, 404))
def get_collection(services: ServicesDep, name: CollectionName, who: Caller) -> CollectionOut:
    """One collection the caller may read, with its documents counted per state."""
    with services.catalog.reader() as s:
        coll = s.get(Collection, name)
        if coll is None or coll.deleted_at is not None:
            raise ApiError(404, "not_found", f"no collection {name!r}")
        require(s, who, name, Role.read)
        return collection_out(s, who, coll)


@router.delete(
    "/collections/{name}",
    response_model=CollectionDeletedOut,
    status_code=202,
    responses=errors(401, 403, 404, 409),
)
def delete_collection(
    services: ServicesDep, name: CollectionName, who: Caller
) -> CollectionDeletedOut:
    """Delete a collection (its owner or an admin): gone from every listing and search at
    once; the indexer then drops its indexes, documents, originals no other collection uses,
    jobs, memberships and conversations."""
    settings, catalog = services.settings, services.catalog
    with catalog.session() as s:
        coll = owned_collection(s, who, name, "deleted")
        when = lifecycle.delete_collection(s, coll)
        audit(s, who.user, "collection_deleted", name)
    enqueue(services.celery, settings, DROP_TASK, name)
    return CollectionDeletedOut(name=name, deleted_at=when)


@router.patch(
    "/collections/{name}",
    response_model=CollectionOut,
    responses={
        202: {"model": CollectionOut, "description": "Renaming; not finished yet."},
        **errors(401, 403, 404, 409),
    },
)
def rename_collection(
    services: ServicesDep, name: CollectionName, body: CollectionIn, who: Caller, response: Response
) -> CollectionOut:
    """Rename a collection (its owner or an admin). Documents, members, jobs and conversations
    move with it; the answer comes once the indexer has moved it (202 while it is still
    moving, with ``renaming_to`` set)."""
    settings, catalog = services.settings, services.catalog
    new = body.name
    with catalog.session() as s:
        coll = owned_collection(s, who, name, "renamed")
        if new == name:
            return collection_out(s, who, coll)
        lifecycle.request_rename(s, coll, new)
        audit(s, who.user, "collection_renamed", name, detail={"to": new})
    enqueue(services.celery, settings, RENAME_TASK, name)
    done = lifecycle.wait_renamed(catalog, name, new, settings.rename_wait_seconds)
    with catalog.reader() as s:
        coll = s.get(Collection, new if done else name)
        if coll is None:  # deleted, or moved on again, meanwhile
            raise ApiError(409, "conflict", f"{name} changed meanwhile; look again")
        if not done:
            response.status_code = 202
        return collection_out(s, who, coll)


@router.get(
    "/collections/{name}/members",
    response_model=list[MemberOut],
    responses=errors(401, 404),
)
def list_members(services: ServicesDep, name: CollectionName, who: Caller) -> list[MemberOut]:
    catalog = services.catalog
    with catalog.reader() as s:
        require(s, who, name, Role.read)
        coll = s.get(Collection, name)
        out = [MemberOut(user=coll.owner_id, role="owner")] if coll and coll.owner_id else []
        rows = s.scalars(
            select(Membership).where(Membership.collection_id == name).order_by(Membership.user_id)
        )
        return out + [MemberOut(user=m.user_id, role=m.role) for m in rows]


@router.put(
    "/collections/{name}/members/{user}",
    response_model=MemberOut,
    responses=errors(401, 403, 404),
)
def put_member(
    services: ServicesDep, name: CollectionName, user: UserName, body: MemberIn, who: Caller
) -> MemberOut:
    """Give a user read or write access (the owner or an admin may)."""
    catalog = services.catalog
    with catalog.session() as s:
        require(s, who, name, Role.owner)
        set_member(s, name, user, body.role)
        audit(s, who.user, "member_set", name, detail={"user": user, "role": body.role})
    return MemberOut(user=user, role=body.role)


@router.delete(
    "/collections/{name}/members/{user}", status_code=204, responses=errors(401, 403, 404, 409)
)
def delete_member(
    services: ServicesDep, name: CollectionName, user: UserName, who: Caller
) -> Response:
    catalog = services.catalog
    with catalog.session() as s:
        require(s, who, name, Role.owner)
        set_member(s, name, user, None)
        audit(s, who.user, "member_removed", name, detail={"user": user})
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditOut], responses=errors(401, 403))
def audit_log(
    services: ServicesDep,
    who: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    user: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
) -> list[AuditOut]:
    """The newest audit events first (admins only)."""
    catalog = services.catalog
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
