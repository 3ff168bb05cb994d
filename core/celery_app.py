"""Celery application factory: JSON only, late acks, tasks routed by name to `ingest` and `index`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import setup_logging, task_prerun

from core import logs
from core.settings import Settings

PROCESS_TASK = "askdocs.ingest.process"
PROCESS_MANY_TASK = "askdocs.ingest.process_many"
APPLY_TASK = "askdocs.index.apply"
REMOVE_TASK = "askdocs.index.remove"
REBUILD_TASK = "askdocs.index.rebuild"
DROP_TASK = "askdocs.index.drop_collection"
RENAME_TASK = "askdocs.index.rename_collection"
REEMBED_TASK = "askdocs.ingest.reembed"
SWITCH_TASK = "askdocs.index.switch_model"
SYNC_TASK = "askdocs.sources.sync"
TICK_TASK = "askdocs.sources.tick"
INGEST_QUEUE = "ingest"
INDEX_QUEUE = "index"
SOURCES_QUEUE = "sources"
# Files up to this size go to the ingest queue in batches (PROCESS_MANY_TASK, up to
# ASKDOCS_INGEST_BATCH_DOCS of them per task); a larger file gets a task of its own. A task's fixed
# costs (a message, a catalog read, an ack: 5.8-6.8 ms of stack CPU each, bench/ingest_throughput.py
# --generate 1000, 2026-12-07, 2-core development box) weigh on a small note, not on a file of this
# size, whose parse and embedding take longer than that.
INGEST_BATCH_BYTES = 256 * 1024
# Seconds a queued task stays valid. Past it a worker drops the message; the janitor sends a task
# again for every document still waiting (ASKDOCS_REQUEUE_AFTER), so the expiry only keeps a queue
# that outlived a long outage from running work twice.
TASK_EXPIRES_SECONDS = 24 * 3600
# Raised inside a running task (from a signal) when its soft time limit passes.
TaskOutOfTime = SoftTimeLimitExceeded
_QUEUES = {"askdocs.ingest.": INGEST_QUEUE, "askdocs.index.": INDEX_QUEUE}


def create_celery(settings: Settings) -> Celery:
    app = Celery("askdocs", broker=settings.redis_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=INGEST_QUEUE,
        task_routes={
            "askdocs.ingest.*": {"queue": INGEST_QUEUE},
            "askdocs.index.*": {"queue": INDEX_QUEUE},
            "askdocs.sources.*": {"queue": SOURCES_QUEUE},
        },
        # Redis redelivers an unacked task after this long: keep it above the hard limit, or a
        # long parse runs twice.
        broker_transport_options={"visibility_timeout": settings.task_time_limit * 2 + 60},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # A new pool child loads the embedding model before it reports up; Celery's default 4 s
        # wait killed every replacement child in a loop after one had died (measured here).
        worker_proc_alive_timeout=180,
        worker_send_task_events=False,
    )
    return app


def enqueue(
    app: Celery,
    settings: Settings,
    task: str,
    key: str | Sequence[str],
    countdown: float | None = None,
) -> None:
    """Send a task by name with an id argument (a document id, a list of them for
    ``PROCESS_MANY_TASK``, or a collection name for the indexer's collection-wide tasks; never a
    payload) and an expiry; ``countdown``: not before this many seconds."""
    queue = next((q for prefix, q in _QUEUES.items() if task.startswith(prefix)), SOURCES_QUEUE)
    rid = logs.request_id()
    app.send_task(
        task,
        args=[key if isinstance(key, str) else list(key)],
        queue=queue,
        expires=TASK_EXPIRES_SECONDS,
        countdown=countdown,
        headers={"request_id": rid} if rid else None,
    )


def enqueue_ingest(
    app: Celery, settings: Settings, document_ids: Sequence[str], small: set[str]
) -> None:
    """One ingest task per large document, and one per ``ingest_batch_docs`` small ones: a worker
    batches small documents anyway, and a task per document would mostly find it done (a message,
    a read and an ack each)."""
    for doc_id in document_ids:
        if doc_id not in small:
            enqueue(app, settings, PROCESS_TASK, doc_id)
    group = [i for i in document_ids if i in small]
    for at in range(0, len(group), settings.ingest_batch_docs):
        part = group[at : at + settings.ingest_batch_docs]
        if len(part) == 1:
            enqueue(app, settings, PROCESS_TASK, part[0])
        else:
            enqueue(app, settings, PROCESS_MANY_TASK, part)


def schedule_ticks(app: Celery, settings: Settings) -> None:
    """The one periodic task of the scheduler (Celery beat): look for sources due to sync."""
    app.conf.beat_schedule = {
        "sources-tick": {
            "task": TICK_TASK,
            "schedule": settings.sources_tick_seconds,
            "options": {"queue": SOURCES_QUEUE, "expires": settings.sources_tick_seconds * 2},
        }
    }


def _bind_request_id(task: Any = None, **_kw: Any) -> None:
    """A task runs under the request id of the request (or task) that sent it."""
    request = getattr(task, "request", None)
    rid = getattr(request, "request_id", None) or (getattr(request, "headers", None) or {}).get(
        "request_id"
    )
    logs.bind(rid)


def carry_request_ids() -> None:
    """In a worker process: tasks log (and send on) the request id their message carries."""
    task_prerun.connect(_bind_request_id, weak=False)
    # a receiver here tells Celery the process configured its logging (core.logs) itself
    setup_logging.connect(lambda **_kw: None, weak=False)
