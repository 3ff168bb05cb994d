"""Celery tasks of queue `index` (one process, concurrency 1): the only index writer."""

from __future__ import annotations

from celery import shared_task

from core.celery_app import (
    APPLY_TASK,
    DROP_TASK,
    REBUILD_TASK,
    REMOVE_TASK,
    RENAME_TASK,
    SWITCH_TASK,
)
from retrieval.indexer import APPLY_TASK_SECONDS


@shared_task(name=APPLY_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def apply(self, document_id: str) -> None:  # type: ignore[no-untyped-def]
    """Index what waits in the document's collection; a long backlog goes on in a new task."""
    left = self.app.askdocs_indexer.apply(document_id, APPLY_TASK_SECONDS)
    if left is not None:
        self.app.askdocs_enqueue(APPLY_TASK, left)


@shared_task(name=REMOVE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def remove(self, document_id: str) -> None:  # type: ignore[no-untyped-def]
    self.app.askdocs_indexer.remove(document_id)


@shared_task(name=REBUILD_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def rebuild(self, collection: str) -> None:  # type: ignore[no-untyped-def]
    self.app.askdocs_indexer.rebuild(collection)


@shared_task(name=DROP_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def drop_collection(self, collection: str) -> None:  # type: ignore[no-untyped-def]
    self.app.askdocs_indexer.drop(collection)


@shared_task(name=RENAME_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def rename_collection(self, collection: str) -> None:  # type: ignore[no-untyped-def]
    self.app.askdocs_indexer.rename(collection)


@shared_task(name=SWITCH_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def switch_model(self, collection: str) -> None:  # type: ignore[no-untyped-def]
    """Serve a re-embedded collection from its new model's index (the janitor sends the
    re-embedding again if chunks are still missing)."""
    self.app.askdocs_indexer.switch_model(collection)
