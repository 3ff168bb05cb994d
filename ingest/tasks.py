"""Celery tasks of queue `ingest`: translate, then call the pipeline. The context is set by
``askdocs.worker`` on the app before the worker starts."""

from __future__ import annotations

import redis
import sqlalchemy.exc
from celery import shared_task
from kombu.exceptions import OperationalError as KombuOperationalError

from core.celery_app import (
    PROCESS_MANY_TASK,
    PROCESS_TASK,
    REEMBED_TASK,
    TaskOutOfTime,
    enqueue,
)
from ingest.pipeline import fail, process_document, process_documents
from ingest.reembed import reembed_batch

# Worth another try: the broker or the database was briefly away or busy.
TRANSIENT = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    KombuOperationalError,
    sqlalchemy.exc.OperationalError,
)


@shared_task(name=PROCESS_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def process(self, document_id: str) -> None:  # type: ignore[no-untyped-def]
    ctx = self.app.askdocs_context
    try:
        got = process_document(ctx, document_id)
    except TaskOutOfTime:  # while its own document was parsed (a batch gives back the rest)
        fail(
            ctx.catalog,
            document_id,
            "timeout",
            f"parsing took longer than {ctx.settings.task_soft_time_limit} s; split the file or "
            "raise ASKDOCS_TASK_SOFT_TIME_LIMIT",
        )
        return
    except TRANSIENT as e:
        if self.request.retries >= ctx.settings.task_max_retries:
            fail(
                ctx.catalog,
                document_id,
                "unavailable",
                f"gave up after {self.request.retries} retries: a service stayed unavailable "
                f"({type(e).__name__}); retry the document when it is back",
            )
            return
        raise self.retry(exc=e, countdown=min(60, 2**self.request.retries)) from e
    except Exception as e:  # an unexpected bug must not leave the document "parsing" forever
        fail(ctx.catalog, document_id, "internal", f"internal error while ingesting: {e!r}")
        raise
    if got.outcome == "busy":  # another worker holds it: look again when its lease ends
        raise self.retry(countdown=got.wait + 1, max_retries=None)


@shared_task(name=PROCESS_MANY_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def process_many(self, document_ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    """A group of small documents sent as one task (an upload's small files): one message instead
    of one per document. Each document fails alone inside the batch; one that another worker holds
    gets a task of its own for when that lease ends."""
    ctx = self.app.askdocs_context
    try:
        busy = process_documents(ctx, document_ids)
    except TaskOutOfTime:  # before the batch ran (it gives back its own): each gets its own task
        for doc_id in document_ids:
            enqueue(self.app, ctx.settings, PROCESS_TASK, doc_id)
        return
    except TRANSIENT as e:
        if self.request.retries < ctx.settings.task_max_retries:
            raise self.retry(exc=e, countdown=min(60, 2**self.request.retries)) from e
        # each document's own task fails it as "unavailable" if the service stays away
        for doc_id in document_ids:
            enqueue(self.app, ctx.settings, PROCESS_TASK, doc_id)
        return
    for doc_id, wait in busy.items():
        enqueue(self.app, ctx.settings, PROCESS_TASK, doc_id, countdown=wait + 1)


@shared_task(name=REEMBED_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def reembed(self, collection: str) -> None:  # type: ignore[no-untyped-def]
    """One batch of a collection's re-embedding with this worker's model; sends the next."""
    try:
        reembed_batch(self.app.askdocs_context, collection)
    except TRANSIENT as e:  # the janitor also sends a new task while the collection waits
        raise self.retry(exc=e, countdown=min(60, 2**self.request.retries)) from e
