"""A collection's drop or rename whose task message was lost (deleted from Redis before any
worker took it) is sent again by the janitor once it has waited past ``requeue_after``, and a
real Celery worker of the index queue (in this process, over the harness's indexer) finishes it.
Running either task twice changes nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from celery.contrib.testing.worker import start_worker

import retrieval.index_tasks  # noqa: F401  (registers the indexer's tasks)
from askdocs import janitor
from core.catalog import Collection, utcnow
from core.celery_app import DROP_TASK, INDEX_QUEUE, RENAME_TASK, create_celery, enqueue
from retrieval.index_store import collection_dir
from tests import redis_server
from tests.integration.conftest import wait_for
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

pytestmark = pytest.mark.service


def waiting_index_tasks(broker: redis.Redis) -> list[tuple[str, str]]:
    """(task, its argument) of each message waiting in the index queue, oldest first."""
    out = []
    for raw in reversed(broker.lrange(INDEX_QUEUE, 0, -1)):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args[0]))
    return out


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(tmp_path_factory.mktemp("lost-admin")) as h:
        yield h
    broker.flushdb()


def collections(h: Harness) -> dict[str, str | None]:
    """Live and deleted collections in the catalog, with a pending rename's new name."""
    with h.services.catalog.reader() as s:
        return {c.id: c.renaming_to for c in s.query(Collection)}


def test_a_lost_drop_and_rename_are_sent_again_and_finish(harness: Harness) -> None:
    h, settings, catalog = harness, harness.settings, harness.services.catalog
    h.upload("doomed", ("notes.txt", b"The harbour office opens at nine on weekdays."))
    h.upload("moving", ("tides.txt", b"High tide at the north pier comes at 14:20 today."))
    h.work()
    assert h.client.delete("/collections/doomed").status_code == 202
    r = h.client.patch("/collections/moving", json={"name": "moved"})
    assert r.status_code == 202 and r.json()["renaming_to"] == "moved", r.text

    broker = redis_server.client(SERVICE_REDIS_DB)
    assert waiting_index_tasks(broker) == [(DROP_TASK, "doomed"), (RENAME_TASK, "moving")]
    broker.delete(INDEX_QUEUE)  # lost: Redis restarted without them, say

    sender = h.services.celery
    # asked just now: not lost yet (a worker may be about to take it)
    assert janitor.sweep_collections(catalog, sender, settings, utcnow()) == {
        DROP_TASK: 0,
        RENAME_TASK: 0,
    }
    assert collections(h) == {"default": None, "doomed": None, "moving": "moved"}

    worker_app = create_celery(settings)
    worker_app.askdocs_indexer = h.indexer
    worker_app.askdocs_enqueue = lambda task, key: enqueue(worker_app, settings, task, key)
    later = utcnow() + timedelta(seconds=settings.requeue_after + 1)
    with start_worker(worker_app, perform_ping_check=False, queues=[INDEX_QUEUE]):
        sent = janitor.sweep(catalog, sender, settings, later)
        assert sent[DROP_TASK] == 1 and sent[RENAME_TASK] == 1, sent
        wait_for(
            lambda: collections(h) == {"default": None, "moved": None},
            60,
            "the drop and the rename sent again to finish",
        )
        # done: nothing is lost any more, nothing is sent
        again = janitor.sweep(catalog, sender, settings, later + timedelta(seconds=1))
        assert again[DROP_TASK] == 0 and again[RENAME_TASK] == 0

    assert not collection_dir(settings.index_dir, "doomed").exists()
    assert not collection_dir(settings.index_dir, "moving").exists()
    assert [p["document_name"] for p in h.search("moved", "When is high tide?")] == ["tides.txt"]

    # a copy of either task that was not lost after all finds nothing to do
    h.indexer.drop("doomed")
    h.indexer.rename("moving")
    assert collections(h) == {"default": None, "moved": None}
    assert [p["document_name"] for p in h.search("moved", "When is high tide?")] == ["tides.txt"]


def test_a_resent_task_waits_while_its_message_is_still_queued(harness: Harness) -> None:
    """A drop whose message still waits in the queue (the indexer is busy) is not sent twice,
    and one sent again is not sent once more within ``requeue_after``."""
    h, settings, catalog = harness, harness.settings, harness.services.catalog
    h.upload("queued", ("a.txt", b"The lighthouse keeper logs every ship."))
    h.work()
    assert h.client.delete("/collections/queued").status_code == 202
    broker = redis_server.client(SERVICE_REDIS_DB)
    assert waiting_index_tasks(broker) == [(DROP_TASK, "queued")]
    later = utcnow() + timedelta(seconds=settings.requeue_after + 1)
    assert janitor.sweep_collections(catalog, h.services.celery, settings, later)[DROP_TASK] == 0
    broker.delete(INDEX_QUEUE)
    assert janitor.sweep_collections(catalog, h.services.celery, settings, later)[DROP_TASK] == 1
    broker.delete(INDEX_QUEUE)  # lost again at once: the next sweep waits out requeue_after
    assert janitor.sweep_collections(catalog, h.services.celery, settings, later)[DROP_TASK] == 0
    h.work()
    assert "queued" not in collections(h)


def test_a_rename_killed_after_moving_its_files_finishes_when_run_again(harness: Harness) -> None:
    """The indexer moves the files, then commits the new name: killed in between (SIGKILL: no
    handler moves them back), the catalog keeps the old name and the files lie under the new
    one. The task sent again adopts them instead of clearing the new name's directory."""
    h, settings = harness, harness.settings
    h.upload("halfway", ("bells.txt", b"The chapel bells ring twice at noon on Fridays."))
    h.work()
    assert h.client.patch("/collections/halfway", json={"name": "there"}).status_code == 202
    src = collection_dir(settings.index_dir, "halfway")
    src.rename(collection_dir(settings.index_dir, "there"))  # what the killed indexer did
    h.indexer.rename("halfway")
    assert "halfway" not in collections(h) and collections(h)["there"] is None
    found = h.search("there", "When do the chapel bells ring?")
    assert [p["document_name"] for p in found] == ["bells.txt"]
