"""Routes for sources: folders, websites and git repositories a collection keeps in sync with."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import ValidationError
from sqlalchemy import select

from api.deps import Caller, ServicesDep, owner_of_new, require
from api.errors import ApiError, errors
from api.schemas import SourceIn, SourceOut, SourcePatch, SourceRunOut
from core.auth import Principal, Role, audit, readable, role_in
from core.catalog import Collection, Source, SourceRun, utcnow
from core.celery_app import REMOVE_TASK, SYNC_TASK, enqueue
from core.secrets import SecretUnreadable, Vault
from core.settings import Settings
from sources import config as configs
from sources import schedule, tokens
from sources.addresses import AddressPolicy, Refused
from sources.roots import PathRefused
from sources.sync import (
    collection_admin_owned,
    last_held,
    queue_run,
    remove_source,
    server_paths,
    source_documents,
)

router = APIRouter()


def _vault(settings: Settings) -> Vault:
    return Vault(settings.secret_key, settings.data_dir / "secret.key")


def _config(kind: str, raw: dict[str, Any]) -> configs.SourceConfig:
    try:
        return configs.load(kind, raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ApiError(422, "validation_error", f"config.{where}: {first.get('msg')}") from None


def _server_path(cfg: Any) -> str | None:
    if isinstance(cfg, configs.FolderConfig):
        return cfg.path
    if isinstance(cfg, configs.GitConfig) and cfg.local:
        return cfg.url
    return None


def _server_paths_allowed(
    s: Any, cfg: Any, settings: Settings, collection: str, who: Principal
) -> None:
    """A folder, or a git repository by path, reads the server's disk: only under a directory the
    operator opened to sources (ASKDOCS_SOURCES_FOLDER_ROOTS), and by a non-admin only where the
    operator granted that directory to the collection (while an admin owns it) or the user."""
    path = _server_path(cfg)
    if path is None:
        return
    admin_owned = collection_admin_owned(s, collection)
    try:
        server_paths(settings).check(path, collection, who.user, who.admin, admin_owned)
    except PathRefused as e:
        raise ApiError(403, "forbidden", str(e)) from None


def _seal_token(settings: Settings, token: str, cfg: Any) -> bytes:
    if _server_path(cfg) is not None:
        raise ApiError(
            422, "validation_error", "token: a folder or a repository on the server takes none"
        )
    try:
        return tokens.seal(_vault(settings), token, cfg.url)
    except tokens.TokenRefused as e:
        raise ApiError(422, "validation_error", f"token: {e}") from None


def _token_origin(settings: Settings, src: Source) -> str | None:
    if src.secret is None:
        return None
    try:
        cfg = configs.load(src.kind, src.config)
        bound = tokens.unseal(_vault(settings), src.secret, getattr(cfg, "url", ""))
    except SecretUnreadable:
        return None
    return bound.origin if bound is not None else None


def _hosts_allowed(cfg: Any, settings: Settings) -> None:
    """A web or git URL whose host the egress allowlist (ASKDOCS_SOURCES_ALLOWED_HOSTS) can never
    admit is refused now, with the reason, rather than failing at every run; no name is looked up
    here (each fetch is checked again, redirects included)."""
    remote = isinstance(cfg, configs.GitConfig) and not cfg.local
    if not (isinstance(cfg, configs.WebConfig) or remote):
        return
    url = cfg.url
    policy = AddressPolicy.from_setting(
        settings.sources_private_hosts, settings.sources_allowed_hosts
    )
    try:
        policy.check_listed(url)
    except Refused as e:
        raise ApiError(403, "forbidden", str(e)) from None


def _schedule(text: str | None, settings: Settings) -> tuple[int | None, str | None]:
    try:
        got = schedule.parse(text)
        schedule.at_least(*got, settings.sources_min_interval_seconds)
    except schedule.BadSchedule as e:
        raise ApiError(422, "validation_error", f"schedule: {e}") from None
    return got


def run_out(run: SourceRun) -> SourceRunOut:
    took = None
    if run.started_at and run.finished_at:
        took = round((run.finished_at - run.started_at).total_seconds(), 3)
    return SourceRunOut(
        id=run.id,
        source_id=run.source_id,
        trigger=run.trigger,
        status=run.status,
        job_id=run.job_id,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=took,
        listed=run.listed,
        new=run.new,
        changed=run.changed,
        unchanged=run.unchanged,
        renamed=run.renamed,
        deleted=run.deleted,
        failed=run.failed,
        skipped=run.skipped,
        held=run.held or 0,
        confirm_deletions=bool(run.confirm_deletions),
        failures=json.loads(run.failures) if run.failures else [],
        message=run.message,
    )


def source_out(s: Any, src: Source, settings: Settings) -> SourceOut:
    last = s.scalars(
        select(SourceRun)
        .where(SourceRun.source_id == src.id)
        .order_by(SourceRun.created_at.desc())
        .limit(1)
    ).first()
    return SourceOut(
        id=src.id,
        collection=src.collection_id,
        name=src.name,
        kind=src.kind,
        config=json.loads(src.config),
        schedule=schedule.describe(src.interval_seconds, src.cron),
        enabled=src.enabled,
        has_token=src.secret is not None,
        token_origin=_token_origin(settings, src),
        owner=src.owner_id,
        created_at=src.created_at,
        next_run_at=src.next_run_at,
        running=src.lease_until is not None and src.lease_until > utcnow(),
        documents=source_documents(s, src.id),
        last_run=run_out(last) if last is not None else None,
    )


def _source_for(s: Any, who: Principal, source_id: str, need: Role) -> Source:
    src = s.get(Source, source_id, with_for_update=need >= Role.write)
    if src is None or role_in(s, who, src.collection_id) is None:
        raise ApiError(404, "not_found", f"no source {source_id}")
    require(s, who, src.collection_id, need)
    return src


@router.post(
    "/sources", response_model=SourceOut, status_code=201, responses=errors(401, 403, 404, 422)
)
def create_source(services: ServicesDep, body: SourceIn, who: Caller) -> SourceOut:
    """Add a source to a collection (made if new, owned by the caller); its first sync starts at
    once unless ``sync_now`` is false."""
    settings, catalog = services.settings, services.catalog
    cfg = body.config
    _hosts_allowed(cfg, settings)
    interval, cron = _schedule(body.schedule, settings)
    secret = _seal_token(settings, body.token, cfg) if body.token else None
    run_id = None
    with catalog.session() as s:
        if s.get(Collection, body.collection) is None:
            if _server_path(cfg) is not None and not who.admin:
                # a root granted to a collection's name is not a way to make that collection
                raise ApiError(404, "not_found", f"no collection {body.collection!r}")
            catalog.ensure_collection(s, body.collection, owner=owner_of_new(who))
        require(s, who, body.collection, Role.write)
        _server_paths_allowed(s, cfg, settings, body.collection, who)
        src = Source(
            id=str(uuid.uuid4()),
            collection_id=body.collection,
            name=body.name,
            kind=body.kind,
            config=cfg.model_dump_json(),
            secret=secret,
            interval_seconds=interval,
            cron=cron,
            enabled=body.enabled,
            owner_id=owner_of_new(who),
        )
        now = utcnow()
        src.created_at = now
        src.next_run_at = schedule.next_run(interval, cron, now) if body.enabled else None
        s.add(src)
        s.flush()
        if body.sync_now:
            run_id = queue_run(s, src, "created").id
        detail = {"source": src.id, "kind": src.kind}
        audit(s, who.user, "source_add", body.collection, None, detail)
        out_id = src.id
    if run_id:
        enqueue(services.celery, settings, SYNC_TASK, run_id)
    with catalog.reader() as s:
        return source_out(s, s.get(Source, out_id), settings)


@router.get("/sources", response_model=list[SourceOut], responses=errors(401, 404))
def list_sources(
    services: ServicesDep,
    who: Caller,
    collection: Annotated[str | None, Query(max_length=64)] = None,
) -> list[SourceOut]:
    """The sources of the collections the caller may read."""
    with services.catalog.reader() as s:
        q = select(Source).order_by(Source.collection_id, Source.name)
        if collection:
            require(s, who, collection, Role.read)
            q = q.where(Source.collection_id == collection)
        else:
            visible = readable(s, who)
            if visible is not None:
                q = q.where(Source.collection_id.in_(visible))
        return [source_out(s, src, services.settings) for src in s.scalars(q)]


@router.get("/sources/{source_id}", response_model=SourceOut, responses=errors(401, 404))
def get_source(services: ServicesDep, source_id: str, who: Caller) -> SourceOut:
    with services.catalog.reader() as s:
        return source_out(s, _source_for(s, who, source_id, Role.read), services.settings)


@router.patch(
    "/sources/{source_id}", response_model=SourceOut, responses=errors(401, 403, 404, 422)
)
def update_source(
    services: ServicesDep, source_id: str, body: SourcePatch, who: Caller
) -> SourceOut:
    """Change a source's name, settings, schedule, token or whether it runs on its schedule.

    A source that holds a token is changed only by its owner or an admin; a new URL or new hosts
    forget the token unless it is sent again (it was given for the old origin)."""
    settings = services.settings
    with services.catalog.session() as s:
        src = _source_for(s, who, source_id, Role.write)
        if src.secret is not None and not (who.admin or who.user == src.owner_id):
            raise ApiError(
                403,
                "forbidden",
                "this source holds its owner's token: only its owner or an admin may change it",
            )
        old_cfg = configs.load(src.kind, src.config)
        cfg = old_cfg
        if body.name is not None:
            src.name = body.name
        if body.config is not None:
            cfg = _config(src.kind, body.config)
            if _server_path(old_cfg) is not None and not (who.admin or who.user == src.owner_id):
                # its runs read with its owner's rights: a writer may not aim them elsewhere
                raise ApiError(
                    403,
                    "forbidden",
                    "a folder or repository on the server is changed only by its source's "
                    "owner or an admin",
                )
            # the caller's own right to the path: globs decide what of the folder is read too
            _server_paths_allowed(s, cfg, settings, src.collection_id, who)
            _hosts_allowed(cfg, settings)
            src.config = cfg.model_dump_json()
        if body.schedule is not None:
            src.interval_seconds, src.cron = _schedule(body.schedule, settings)
        moved = getattr(cfg, "url", None) != getattr(old_cfg, "url", None) or getattr(
            cfg, "allowed_hosts", None
        ) != getattr(old_cfg, "allowed_hosts", None)
        if body.token is not None:
            src.secret = _seal_token(settings, body.token, cfg) if body.token else None
        elif moved and src.secret is not None:
            src.secret = None  # given for the old origin: it does not follow the source
        if body.enabled is not None:
            src.enabled = body.enabled
        if body.schedule is not None or body.enabled is not None:
            src.next_run_at = (
                schedule.next_run(src.interval_seconds, src.cron, utcnow()) if src.enabled else None
            )
        detail = {"source": src.id, "token_dropped": moved and body.token is None}
        audit(s, who.user, "source_change", src.collection_id, None, detail)
        s.flush()
        return source_out(s, src, settings)


@router.delete("/sources/{source_id}", status_code=204, responses=errors(401, 403, 404, 409))
def delete_source(
    services: ServicesDep,
    source_id: str,
    who: Caller,
    keep_documents: bool = Query(False, description="Keep the documents it synced."),
) -> None:
    """Remove a source and, unless ``keep_documents``, the documents it brought (hidden from
    search at once). 409 while one of its runs is going."""
    with services.catalog.session() as s:
        src = _source_for(s, who, source_id, Role.write)
        if src.lease_until is not None and src.lease_until > utcnow():
            raise ApiError(409, "conflict", "a sync of this source is running: try when it ends")
        gone = remove_source(s, src, keep_documents)
        audit(s, who.user, "source_remove", src.collection_id, None, {"source": source_id})
    for doc_id in gone:
        enqueue(services.celery, services.settings, REMOVE_TASK, doc_id)


@router.post(
    "/sources/{source_id}/sync",
    response_model=SourceRunOut,
    status_code=202,
    responses=errors(401, 403, 404, 409),
)
def sync_source(
    services: ServicesDep,
    source_id: str,
    who: Caller,
    confirm_deletions: bool = Query(
        False,
        description="Carry out the deletions the source's last run held back (it ended 'held'); "
        "409 when it holds none.",
    ),
) -> SourceRunOut:
    """Sync now (a run already waiting is returned instead of a second one)."""
    with services.catalog.session() as s:
        src = _source_for(s, who, source_id, Role.write)
        confirms = None
        if confirm_deletions:
            confirms = last_held(s, src.id)
            if confirms is None:
                raise ApiError(
                    409, "conflict", "the source's last run holds no deletions: nothing to confirm"
                )
            detail = {"source": src.id, "run": confirms.id, "held": confirms.held}
            audit(s, who.user, "source_confirm_deletions", src.collection_id, None, detail)
        run = queue_run(s, src, "manual", confirms=confirms)
        out = run_out(run)
    enqueue(services.celery, services.settings, SYNC_TASK, out.id)
    return out


@router.get(
    "/sources/{source_id}/runs", response_model=list[SourceRunOut], responses=errors(401, 404)
)
def source_runs(
    services: ServicesDep,
    source_id: str,
    who: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[SourceRunOut]:
    """The source's runs, newest first."""
    with services.catalog.reader() as s:
        _source_for(s, who, source_id, Role.read)
        runs = s.scalars(
            select(SourceRun)
            .where(SourceRun.source_id == source_id)
            .order_by(SourceRun.created_at.desc())
            .limit(limit)
        )
        return [run_out(r) for r in runs]
