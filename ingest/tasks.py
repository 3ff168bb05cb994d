"""Celery tasks of queue `ingest`: translate, then call the pipeline. The context is set by
``askdocs.worker`` on the app before the worker starts."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from askdocs.celery_app import PROCESS_TASK
from ingest.pipeline import fail, process_document


@shared_task(name=PROCESS_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def process(self, document_id: str) -> None:  # type: ignore[no-untyped-def]
    ctx = self.app.askdocs_context
    try:
        process_document(ctx, document_id)
    except SoftTimeLimitExceeded:
        fail(
            ctx.catalog,
            document_id,
            "timeout",
            f"parsing took longer than {ctx.settings.task_soft_time_limit} s; split the file or "
            "raise ASKDOCS_TASK_SOFT_TIME_LIMIT",
        )
    except Exception as e:  # an unexpected bug must not leave the document "parsing" forever
        fail(ctx.catalog, document_id, "internal", f"internal error while ingesting: {e!r}")
        raise
