"""Celery tasks of queue `sources`: the scheduler's tick and one sync run. The context is set by
``askdocs.worker`` on the app before the worker starts."""

from __future__ import annotations

from celery import shared_task

from core.celery_app import SYNC_TASK, TICK_TASK
from sources.sync import SyncContext, due, run


@shared_task(name=TICK_TASK, bind=True, ignore_result=True)
def tick(self) -> None:  # type: ignore[no-untyped-def]
    """Queue a run of every source whose schedule says so."""
    ctx: SyncContext = self.app.askdocs_sync
    for run_id in due(ctx.catalog):
        ctx.enqueue(SYNC_TASK, run_id)


@shared_task(name=SYNC_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def sync(self, run_id: str) -> None:  # type: ignore[no-untyped-def]
    got = run(self.app.askdocs_sync, run_id)
    if got.wait > 0:  # another run of the source is going: this one follows it
        raise self.retry(countdown=min(got.wait + 1, 300), max_retries=None)
