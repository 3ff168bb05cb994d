"""The janitor: finds documents and collections whose task was lost and sends it again.

Runs as a thread of the indexer (one per deployment). Lost means: a worker's lease ran out (it died:
SIGKILL, out of memory, machine gone), or a document has waited past ``requeue_after`` while its
queue is empty (the message vanished, e.g. Redis restarted without it). Sending twice is harmless:
tasks claim a lease and skip documents that are done.

A collection's drop or rename is lost when it was asked more than ``requeue_after`` ago and no
message of it waits in the index queue (it vanished, or the indexer died running it); it is sent
again at most once per ``requeue_after``. Both tasks do nothing once done, so a copy that was not
lost after all costs one catalog read.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
from datetime import datetime, timedelta

import redis
from celery import Celery
from sqlalchemy import and_, or_, select, update

from core.blob_sweep import sweep_blobs
from core.blobs import BlobStore
from core.catalog import AuditEvent, Catalog, Chunk, Collection, DocStatus, Document, utcnow
from core.celery_app import (
    APPLY_TASK,
    DROP_TASK,
    INDEX_QUEUE,
    INGEST_QUEUE,
    PROCESS_TASK,
    REEMBED_TASK,
    REMOVE_TASK,
    RENAME_TASK,
    enqueue,
)
from core.settings import Settings
from retrieval.doc_fields_fill import fill_missing
from retrieval.embedding import model_label

log = logging.getLogger(__name__)
BATCH = 500
# Set (for requeue_after seconds) when the janitor sends a collection's task again.
RESENT_KEY = "askdocs:janitor:resent:{task}:{key}"
# The audit action a rename request writes in its transaction: when it was asked.
RENAME_ASKED = "collection_renamed"


def _queue_empty(settings: Settings, queue: str) -> bool:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        return int(client.llen(queue)) == 0
    finally:
        client.close()


def sweep(
    catalog: Catalog, celery: Celery, settings: Settings, now: datetime | None = None
) -> dict:
    """One pass; returns how many documents it sent again, by task."""
    now = now or utcnow()
    stale = now - timedelta(seconds=settings.requeue_after)
    sent = {PROCESS_TASK: 0, APPLY_TASK: 0, REMOVE_TASK: 0}
    ingest_idle = _queue_empty(settings, INGEST_QUEUE)
    index_idle = _queue_empty(settings, INDEX_QUEUE)
    with catalog.session() as s:
        # a worker died holding it: its lease ran out, and nobody sent it since
        dead = (
            Document.status.in_([DocStatus.parsing, DocStatus.embedding, DocStatus.queued])
            & Document.lease_until.is_not(None)
            & (Document.lease_until < now)
            & or_(Document.enqueued_at.is_(None), Document.enqueued_at < Document.lease_until)
        )
        lost = (
            (Document.status == DocStatus.queued)
            & Document.lease_until.is_(None)
            & or_(Document.enqueued_at.is_(None), Document.enqueued_at < stale)
        )
        where = or_(dead, and_(lost, ingest_idle)) if ingest_idle else dead
        docs = s.scalars(select(Document).where(where).limit(BATCH)).all()
        for d in docs:
            d.enqueued_at = now
        to_process = [d.id for d in docs]
        to_apply: list[str] = []
        to_remove: list[str] = []
        if index_idle:
            for d in s.scalars(
                select(Document)
                .where(
                    Document.status.in_([DocStatus.indexing, DocStatus.deleted]),
                    Document.updated_at < stale,
                    or_(Document.enqueued_at.is_(None), Document.enqueued_at < stale),
                )
                .limit(BATCH)
            ):
                d.enqueued_at = now
                (to_apply if d.status == DocStatus.indexing else to_remove).append(d.id)
    for task, ids in ((PROCESS_TASK, to_process), (APPLY_TASK, to_apply), (REMOVE_TASK, to_remove)):
        for doc_id in ids:
            enqueue(celery, settings, task, doc_id)
            sent[task] += 1
    if any(sent.values()):
        log.warning("janitor sent again: %s", sent)
    sent[REEMBED_TASK] = sweep_models(catalog, celery, settings, now, ingest_idle)
    sent.update(sweep_collections(catalog, celery, settings, now))
    sweep_blobs(catalog, BlobStore(settings.blob_dir), settings, now)  # originals nobody uses
    return sent


def _waiting(client: redis.Redis, queue: str, task: str) -> set[str]:
    """The argument of each message of ``task`` waiting in ``queue`` (kombu's JSON envelope with a
    base64 body of [args, kwargs, embed])."""
    keys: set[str] = set()
    for raw in client.lrange(queue, 0, -1):  # type: ignore[union-attr]
        try:
            message = json.loads(raw)
            if message["headers"]["task"] != task:
                continue
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            keys.add(str(args[0]))
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # not a message of ours
    return keys


def lost_collection_tasks(
    catalog: Catalog, now: datetime, requeue_after: float
) -> dict[str, list[str]]:
    """The collections, by task, whose drop or rename was asked more than ``requeue_after``
    seconds before ``now`` and is not done: deleted ones still in the catalog, and pending renames
    (of live collections) whose last request is older (the request's audit row says when)."""
    stale = now - timedelta(seconds=requeue_after)
    with catalog.reader() as s:
        drops = list(
            s.scalars(
                select(Collection.id).where(
                    Collection.deleted_at.is_not(None), Collection.deleted_at < stale
                )
            )
        )
        renaming = list(
            s.scalars(
                select(Collection.id).where(
                    Collection.renaming_to.is_not(None), Collection.deleted_at.is_(None)
                )
            )
        )
        recent = (
            set(
                s.scalars(
                    select(AuditEvent.collection_id).where(
                        AuditEvent.at >= stale,
                        AuditEvent.action == RENAME_ASKED,
                        AuditEvent.collection_id.in_(renaming),
                    )
                )
            )
            if renaming
            else set()
        )
    return {DROP_TASK: drops, RENAME_TASK: [c for c in renaming if c not in recent]}


def sweep_collections(
    catalog: Catalog, celery: Celery, settings: Settings, now: datetime
) -> dict[str, int]:
    """Send again the drop and rename tasks that were lost (``lost_collection_tasks``, and no
    message of theirs waits in the index queue); returns how many, by task."""
    lost = lost_collection_tasks(catalog, now, settings.requeue_after)
    sent = {task: 0 for task in lost}
    if not any(lost.values()):
        return sent
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        for task, names in lost.items():
            waiting = _waiting(client, INDEX_QUEUE, task) if names else set()
            for name in names:
                if name in waiting:
                    continue
                marker = RESENT_KEY.format(task=task, key=name)
                if not client.set(marker, 1, nx=True, ex=math.ceil(settings.requeue_after)):
                    continue  # sent again lately: it may be running now
                enqueue(celery, settings, task, name)
                sent[task] += 1
    finally:
        client.close()
    if any(sent.values()):
        log.warning("janitor sent collection tasks again: %s", sent)
    return sent


def sweep_models(
    catalog: Catalog, celery: Celery, settings: Settings, now: datetime, ingest_idle: bool
) -> int:
    """Start re-embedding every collection whose index another embedding model built (the
    deployment's model changed), cancel one whose model came back, and send a stalled one again.
    Returns how many re-embedding tasks it sent."""
    target = model_label(settings.embedding_model)
    stalled = now - timedelta(seconds=settings.requeue_after)
    send: list[str] = []
    with catalog.session() as s:
        for coll in s.scalars(
            select(Collection).where(
                Collection.deleted_at.is_(None), Collection.embedding_model.is_not(None)
            )
        ):
            if coll.reembed_to == target and coll.embedding_model != target:  # under way
                if ingest_idle and (coll.reembed_at is None or coll.reembed_at < stalled):
                    coll.reembed_at = now
                    send.append(coll.id)
                continue
            if coll.embedding_model == target and coll.reembed_to is None:
                continue  # indexed with the deployment's model, nothing pending
            # a re-embedding starts or is cancelled: vectors made for another target do not count
            s.execute(
                update(Chunk)
                .where(
                    Chunk.document_id.in_(
                        select(Document.id).where(Document.collection_id == coll.id)
                    )
                )
                .values(next_vector=None)
                .execution_options(synchronize_session=False)
            )
            if coll.embedding_model == target:
                log.warning("re-embedding of %s cancelled: its model is back", coll.id)
                coll.reembed_to = coll.reembed_at = None
                continue
            log.warning(
                "collection %s is indexed with %s: re-embedding it with %s; the old index "
                "serves meanwhile",
                coll.id,
                coll.embedding_model,
                target,
            )
            coll.reembed_to, coll.reembed_at = target, now
            send.append(coll.id)
    for collection in send:
        enqueue(celery, settings, REEMBED_TASK, collection)
    return len(send)


def start(catalog: Catalog, celery: Celery, settings: Settings) -> threading.Thread:
    """Sweep every ``janitor_interval`` seconds in a daemon thread."""
    stop = threading.Event()

    def loop() -> None:
        try:  # a model change starts re-embedding at once, not a sweep later
            sweep_models(catalog, celery, settings, utcnow(), _queue_empty(settings, INGEST_QUEUE))
        except Exception:  # noqa: BLE001 - Redis or the database away: next round
            log.warning("janitor model sweep failed", exc_info=True)
        # issuer and period of documents ingested before they were read, a batch per round until
        # none is left (ingestion reads them since: no need to look again after that)
        backfilled = False
        while not stop.wait(settings.janitor_interval):
            try:
                sweep(catalog, celery, settings)
                if not backfilled:
                    backfilled = fill_missing(catalog, BATCH) == 0
            except Exception:  # noqa: BLE001 - Redis or the database away: next round
                log.warning("janitor sweep failed", exc_info=True)

    thread = threading.Thread(target=loop, name="janitor", daemon=True)
    thread.start()
    return thread
