"""What the service is made of and how it is doing: `/health` (open, no document data) and
`/status` (signed in: queues, workers, and the indexes of the collections the caller may read)."""

from __future__ import annotations

import logging
import shutil
from urllib.parse import urlsplit, urlunsplit

import redis
from fastapi import APIRouter
from sqlalchemy import func, select

from api.deps import Caller, Services, ServicesDep
from api.errors import errors
from api.health import HealthCache
from api.schemas import CollectionStatus, StatusOut
from core.auth import visible_collections
from core.catalog import Chunk, Collection, Document, status_counts
from core.celery_app import INDEX_QUEUE, INGEST_QUEUE
from generation.client import GeneratorClient, GeneratorUnavailable

WORKER_PING_S = 1.0
# /health's own check: short, so that a hung generator or Redis delays no answer by much
HEALTH_GENERATOR_TIMEOUT_S = 2.0
HEALTH_REDIS_TIMEOUT_S = 1.0
log = logging.getLogger(__name__)


def redact(url: str) -> str:
    """A URL without its password, for health output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_components(
    services: Services, generator: GeneratorClient | None = None, redis_timeout: float = 2.0
) -> dict[str, dict[str, object]]:
    """Whether Redis, the catalog and the generator answer (and which model serves).

    :param generator: the client that asks the generator (default: the service's own).
    """
    settings, catalog = services.settings, services.catalog
    generator = generator or services.generator
    components: dict[str, dict[str, object]] = {}
    try:
        with redis.Redis.from_url(
            settings.redis_url, socket_timeout=redis_timeout, socket_connect_timeout=redis_timeout
        ) as r:
            r.ping()
        components["redis"] = {"ok": True, "url": redact(settings.redis_url)}
    except redis.RedisError:
        components["redis"] = {"ok": False, "url": redact(settings.redis_url)}
    try:
        with catalog.reader() as s:
            s.scalar(select(func.count()).select_from(Collection))
        components["catalog"] = {"ok": True}
    except Exception:  # noqa: BLE001 - report any catalog failure
        log.exception("catalog health check")
        components["catalog"] = {"ok": False}
    gen_url = redact(settings.generator_url)
    try:
        components["generator"] = {
            "ok": True,
            "url": gen_url,
            "models": generator.models(),
            "context": generator.context_length(),
        }
    except GeneratorUnavailable as e:
        components["generator"] = {"ok": False, "url": gen_url, "error": str(e)}
    components.update(parser_tools())
    reranker = services.retriever.reranker
    if reranker is not None:
        components["reranker"] = {"ok": True, "optional": True, "model": str(reranker.path)}
    return components


def health_cache(services: Services) -> HealthCache:
    """/health's kept check, with its own generator client of short timeouts."""
    settings = services.settings
    probe = GeneratorClient(
        settings.generator_url,
        model=settings.generator_model,
        api_key=settings.generator_api_key,
        timeout=HEALTH_GENERATOR_TIMEOUT_S,
        retries=0,  # a generator slower than the timeout is reported, not asked again meanwhile
    )
    return HealthCache(
        lambda: check_components(services, probe, HEALTH_REDIS_TIMEOUT_S),
        settings.health_ttl_seconds,
    )


def parser_tools() -> dict[str, dict[str, object]]:
    """The programs some formats need, as found on this machine (workers share its install):
    optional, so a missing one leaves the service up and says what fails without it."""
    tools = {
        "ocr": ("tesseract", "scanned PDF pages and images fail: install tesseract-ocr"),
        "office": ("soffice", ".doc and .ppt files fail: install libreoffice-writer-nogui"),
    }
    return {
        name: {"ok": True, "optional": True}
        if shutil.which(program)
        else {"ok": False, "optional": True, "error": without}
        for name, (program, without) in tools.items()
    }


def embedding_models(services: Services) -> dict[str, object]:
    """The query encoders of this API process (each process has its own): each model asked for,
    loaded or not, and for one that failed (while a live collection still uses it) its error's
    class, failures in a row and seconds to the next try; dense search of its collections is off,
    and answers over them refused, until it loads."""
    with services.catalog.reader() as s:  # a failed model no collection uses any more: gone
        in_use = set(
            s.scalars(
                select(Collection.embedding_model)
                .where(Collection.deleted_at.is_(None), Collection.embedding_model.is_not(None))
                .distinct()
            )
        )
    states = [st for st in services.retriever.encoders.states() if st.loaded or st.model in in_use]
    return {
        "ok": all(st.loaded for st in states),
        "models": {
            st.model: {"loaded": True}
            if st.loaded
            else {
                "loaded": False,
                "error": st.error,
                "failures": st.failures,
                "retry_in_s": st.retry_in_s,
            }
            for st in states
        },
    }


router = APIRouter(tags=["status"])


@router.get("/status", response_model=StatusOut, responses=errors(401))
def status(services: ServicesDep, who: Caller) -> StatusOut:
    settings, catalog = services.settings, services.catalog
    components = check_components(services)
    components["embedding"] = embedding_models(services)
    queues: dict[str, int] = {}
    try:
        r = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
        queues = {q: int(r.llen(q)) for q in (INGEST_QUEUE, INDEX_QUEUE)}  # type: ignore[arg-type]
    except redis.RedisError:
        pass
    try:
        replies = services.celery.control.ping(timeout=WORKER_PING_S)
        workers = sorted(name for reply in replies for name in reply)
    except Exception:  # noqa: BLE001 - a broker that is down: no workers to report
        workers = []
    rows: list[CollectionStatus] = []
    with catalog.reader() as s:
        for c in visible_collections(s, who):
            states = status_counts(s, c.id)
            chunks = s.scalar(
                select(func.count())
                .select_from(Chunk)
                .join(Document, Chunk.document_id == Document.id)
                .where(Document.collection_id == c.id)
            )
            rows.append(
                CollectionStatus(
                    name=c.id,
                    documents=states,
                    chunks=chunks or 0,
                    vectors=0,
                    index_kind="",
                    lexical_chunks=0,
                    index_generation=c.index_generation,
                )
            )
    for row in rows:
        held = services.retriever.index_summary(row.name)  # not a read: loads nothing new
        row.vectors, row.index_kind = held.vectors, held.kind
        row.segments, row.lexical_chunks = held.segments, held.lexical
    ok = all(c["ok"] for c in components.values()) and bool(workers)
    return StatusOut(
        status="ok" if ok else "degraded",
        components=components,
        queues=queues,
        workers=workers,
        collections=rows,
    )
