"""`GET /metrics` (Prometheus text format) and the HTTP request metrics of the API.

The route reports every askdocs process's counters and histograms (``core.metrics``) and, read at
scrape time, what describes state: documents by collection and state, each collection's index
generation, segments and live vectors, and the depth of the broker's queues. It needs an admin's
API key unless ``ASKDOCS_METRICS_PUBLIC`` is on (Prometheus sends a key as
``authorization: {credentials: ...}`` in its scrape config).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import redis
from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import func, select

from api.deps import Services, ServicesDep, bearer, current_principal, require_admin
from api.errors import errors
from core import logs, metrics
from core.auth import Principal
from core.catalog import Collection, Document
from core.celery_app import INDEX_QUEUE, INGEST_QUEUE
from retrieval.index_store import manifest_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["status"])


def _route(scope: dict[str, Any]) -> str:
    """The matched route's path template (``/documents/{document_id}``), never the raw path: a
    label per document id would grow without bound."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class HttpMetrics:
    """ASGI middleware: requests by route, method and status, and the time to the response's
    headers (a streamed answer's tokens come later; ``/ask`` has its own first-token metric); the
    request's id (``core.logs``), bound while it runs and sent back as ``X-Request-ID``; one log
    line per request (method, route template, status, ms: never the query or the body)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        offered = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"),
            None,
        )
        rid = logs.new_request_id(offered)

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                metrics.HTTP_SECONDS.labels(_route(scope)).observe(time.perf_counter() - started)
                headers = list(message.get("headers", []))
                headers.append((logs.REQUEST_HEADER.lower().encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with logs.bound(rid):
            try:
                await self.app(scope, receive, sending)
            finally:
                route = _route(scope)
                metrics.HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
                log.info(
                    "%s %s %d",
                    scope["method"],
                    route,
                    status,
                    extra={
                        "route": route,
                        "method": scope["method"],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )


def _catalog_state(services: Services) -> Iterator[Any]:
    documents = metrics.gauge(
        "askdocs_documents", "Documents by collection and state.", ["collection", "state"]
    )
    generation = metrics.gauge(
        "askdocs_index_generation", "The collection's index generation.", ["collection"]
    )
    segments = metrics.gauge(
        "askdocs_index_segments", "Vector segments of the collection's index.", ["collection"]
    )
    vectors = metrics.gauge(
        "askdocs_index_vectors", "Live vectors in the collection's index.", ["collection"]
    )
    with services.catalog.reader() as s:
        for collection, state, n in s.execute(
            select(Document.collection_id, Document.status, func.count()).group_by(
                Document.collection_id, Document.status
            )
        ).all():
            documents.add_metric([collection, str(getattr(state, "value", state))], n)
        for coll in s.scalars(select(Collection).where(Collection.deleted_at.is_(None))).all():
            generation.add_metric([coll.id], coll.index_generation)
            manifest = manifest_of(coll)
            segments.add_metric([coll.id], len(manifest.segments) if manifest else 0)
            vectors.add_metric([coll.id], manifest.live if manifest else 0)
    yield from (documents, generation, segments, vectors)


def _queues(services: Services) -> Iterator[Any]:
    depth = metrics.gauge("askdocs_queue_depth", "Tasks waiting in a broker queue.", ["queue"])
    try:
        r = redis.Redis.from_url(services.settings.redis_url, socket_timeout=2)
        for queue in (INGEST_QUEUE, INDEX_QUEUE):
            depth.add_metric([queue], int(r.llen(queue)))  # type: ignore[arg-type]
    except redis.RedisError:
        log.warning("metrics: the broker did not answer; no queue depth this scrape")
        return
    yield depth


def metrics_caller(
    request: Request,
    cred: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
) -> Principal | None:
    """Nobody needs to sign in when the setting makes the metrics public; else an admin."""
    services: Services = request.app.state.services
    if services.settings.metrics_public:
        return None
    who = current_principal(request, cred)
    require_admin(who)
    return who


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **errors(401, 403)},
)
def read_metrics(
    services: ServicesDep,
    _who: Principal | None = Depends(metrics_caller),  # noqa: B008
) -> Response:
    """Prometheus metrics of every askdocs process (text exposition format)."""
    body = metrics.render([lambda: _catalog_state(services), lambda: _queues(services)])
    return Response(body, media_type=metrics.CONTENT_TYPE)
