"""The API in this process (FastAPI's TestClient) over a real SQLite catalog, real FAISS and tantivy
indexes, the real embedding model and the machine's Redis as the broker; the ingest worker's and the
indexer's steps run here too (``Harness.work``), with the same code their Celery tasks call. No
subprocess but the parse sandbox: most route and lifecycle tests need nothing more."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.deps import Services
from core.catalog import Collection, DocStatus, Document
from core.settings import Settings
from ingest.pipeline import IngestContext, process_document
from retrieval.embedding import model_dim, model_label
from retrieval.indexer import Indexer
from tests import redis_server

# The broker database of these tests (the integration stack uses 13 and 14); flushed around them.
SERVICE_REDIS_DB = 11


def sent_ingest_tasks(broker: redis.Redis) -> list[tuple[str, object]]:
    """(task name, its one argument) of each message waiting in the ingest queue, oldest first
    (kombu pushes at the head and takes from the tail)."""
    out = []
    for raw in reversed(broker.lrange("ingest", 0, -1)):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args[0]))
    return out


@dataclass
class Harness:
    client: TestClient
    services: Services
    settings: Settings
    ingest: IngestContext
    indexer: Indexer

    def work(self) -> int:
        """Do what the ingest worker and the indexer would do with the catalog as it is, until
        nothing is left; returns the number of steps taken."""
        steps = 0
        catalog = self.services.catalog
        while True:
            with catalog.reader() as s:
                queued = s.scalars(select(Document.id).where(Document.status == DocStatus.queued))
                queued = list(queued)
                indexing = list(
                    s.scalars(select(Document.id).where(Document.status == DocStatus.indexing))
                )
                deleted = list(
                    s.scalars(select(Document.id).where(Document.status == DocStatus.deleted))
                )
                renames = list(
                    s.scalars(select(Collection.id).where(Collection.renaming_to.is_not(None)))
                )
                drops = list(
                    s.scalars(select(Collection.id).where(Collection.deleted_at.is_not(None)))
                )
            if not (queued or indexing or deleted or renames or drops):
                return steps
            for doc_id in queued:
                process_document(self.ingest, doc_id)
            for doc_id in indexing:
                self.indexer.apply(doc_id)
            for doc_id in deleted:
                self.indexer.remove(doc_id)
            for name in renames:
                self.indexer.rename(name)
            for name in drops:
                self.indexer.drop(name)
            steps += 1
            assert steps < 20, "the lifecycle did not settle"

    def upload(self, collection: str, *files: tuple[str, bytes], **form: str) -> dict:
        parts = [("files", (name, data, "text/plain")) for name, data in files]
        r = self.client.post("/documents", data={"collection": collection, **form}, files=parts)
        assert r.status_code == 202, r.text
        return r.json()

    def search(self, collection: str, query: str, k: int = 5) -> list[dict]:
        r = self.client.post("/search", json={"collection": collection, "query": query, "k": k})
        assert r.status_code == 200, r.text
        return r.json()["passages"]

    def documents(self, collection: str) -> list[dict]:
        r = self.client.get("/documents", params={"collection": collection})
        assert r.status_code == 200, r.text
        return r.json()


@contextmanager
def in_process(data: Path, **settings: object) -> Iterator[Harness]:
    """The API over ``data`` in this process, with the worker's and indexer's steps at hand."""
    broker = redis_server.url(SERVICE_REDIS_DB)
    defaults: dict[str, object] = {
        "auth": False,
        "rename_wait_seconds": 0,
        "start_generator": False,
        "generator_url": "http://127.0.0.1:9/v1",  # nothing answers: these tests never generate
        "onnx_queries": False,  # torch encodes the queries: no ONNX export per data dir
    }
    settings_ = Settings(data_dir=data, redis_url=broker, **{**defaults, **settings})
    app = create_app(settings_)
    with TestClient(app) as client:
        services: Services = app.state.services
        ingest = IngestContext(
            settings=settings_,
            catalog=services.catalog,
            blobs=services.blobs,
            embedder=services.embedder,
            enqueue_index=lambda _id: None,
        )
        indexer = Indexer(
            services.catalog,
            services.blobs,
            settings_.index_dir,
            model_label(settings_.embedding_model),
            model_dim(settings_.embedding_model),
        )
        yield Harness(client, services, settings_, ingest, indexer)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(tmp_path_factory.mktemp("service")) as h:
        yield h
    broker.flushdb()
