"""Entry point of the `worker` (queue ingest), `indexer` (queue index), `sources` (queue sources:
sync runs) and `beat` (the scheduler that starts them) processes.

    python -m askdocs.worker ingest|index|sources|beat

The embedding model loads in each prefork child (``worker_process_init``), never in the parent:
a model loaded before the fork hung the worker here (celery#3402).
"""

from __future__ import annotations

import os
import sys

from celery.signals import worker_process_init

from core import logs, metrics
from core.blobs import BlobStore
from core.catalog import Catalog
from core.celery_app import (
    APPLY_TASK,
    INDEX_QUEUE,
    INGEST_QUEUE,
    PROCESS_TASK,
    REBUILD_TASK,
    SOURCES_QUEUE,
    carry_request_ids,
    create_celery,
    enqueue,
    schedule_ticks,
)
from core.data_dir import make_private
from core.offline import go_offline
from core.settings import Settings


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    role = args[0] if args else INGEST_QUEUE
    roles = (INGEST_QUEUE, INDEX_QUEUE, SOURCES_QUEUE, "beat")
    if role not in roles:
        raise SystemExit(f"usage: python -m askdocs.worker {'|'.join(roles)}")
    go_offline()
    settings = Settings()
    make_private(settings.data_dir)  # a parse child (another user) reads nothing of it
    names = {INGEST_QUEUE: "worker", INDEX_QUEUE: "indexer"}
    logs.configure(names.get(role, role), settings.log_format)
    carry_request_ids()
    app = create_celery(settings)
    app.set_default()
    if role == "beat":
        schedule_ticks(app, settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app.Beat(schedule=str(settings.data_dir / "beat-schedule"), loglevel="INFO").run()
        return
    if role == SOURCES_QUEUE:
        _sources_worker(app, settings)
        return
    catalog = Catalog(settings.catalog_url).create()
    catalog.engine.dispose()  # no pooled connection may cross the fork

    from retrieval.embedding import model_dim, model_label

    if role == INGEST_QUEUE:
        import ingest.tasks  # noqa: F401  (registers the tasks)
        from ingest.pipeline import IngestContext, ingest_embedder

        embedder = ingest_embedder(settings)

        app.askdocs_context = IngestContext(
            settings=settings,
            catalog=catalog,
            blobs=BlobStore(settings.blob_dir),
            embedder=embedder,
            enqueue_index=lambda doc_id: enqueue(app, settings, APPLY_TASK, doc_id),
            enqueue_process=lambda doc_id: enqueue(app, settings, PROCESS_TASK, doc_id),
            enqueue=lambda task, key: enqueue(app, settings, task, key),
        )

        @worker_process_init.connect(weak=False)
        def _load_model(**_kw: object) -> None:
            catalog.engine.dispose(close=False)
            embedder.load()
            embedder.enable_onnx()
            from ingest import parsing, sandbox

            sandbox.warm()
            if parsing.PARSE_IN_PROCESS_BYTES:  # small text is parsed here: load its parser now
                parsing.warm()

        argv_ = [
            "worker",
            "-Q",
            INGEST_QUEUE,
            "-P",
            "prefork",
            "-c",
            str(settings.worker_concurrency or os.cpu_count() or 1),
            "--soft-time-limit",
            str(settings.task_soft_time_limit),
            "--time-limit",
            str(settings.task_time_limit),
        ]
    else:
        import retrieval.index_tasks  # noqa: F401
        from retrieval.indexer import Indexer
        from retrieval.segments import MergePolicy

        # The indexer never embeds; it needs the model's dimension only: read it from the config.
        app.askdocs_indexer = Indexer(
            catalog,
            BlobStore(settings.blob_dir),
            settings.index_dir,
            model_label(settings.embedding_model),
            model_dim(settings.embedding_model),
            hnsw_threshold=settings.hnsw_threshold,
            hnsw_m=settings.hnsw_m,
            merge_policy=MergePolicy(
                factor=settings.segment_merge_factor, max_deleted=settings.segment_max_deleted
            ),
            apply_batch=settings.index_apply_batch,
        )
        app.askdocs_enqueue = lambda task, key: enqueue(app, settings, task, key)
        for collection in app.askdocs_indexer.outdated_lexical():  # an upgrade's new BM25 fields
            enqueue(app, settings, REBUILD_TASK, collection)
        from askdocs import janitor

        janitor.start(catalog, app, settings)
        argv_ = ["worker", "-Q", INDEX_QUEUE, "-P", "solo", "-c", "1"]
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    argv_ += [
        "-n",
        f"{role}-{os.getpid()}@%h",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    app.worker_main(argv=argv_)


def _sources_worker(app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Sync runs wait on disks and networks, not on the CPU: threads, no model."""
    import sources.tasks  # noqa: F401  (registers the tasks)
    from core.secrets import Vault
    from sources.sync import SyncContext

    catalog = Catalog(settings.catalog_url).create()
    app.askdocs_sync = SyncContext(
        settings=settings,
        catalog=catalog,
        blobs=BlobStore(settings.blob_dir),
        vault=Vault(settings.secret_key, settings.data_dir / "secret.key"),
        enqueue=lambda task, key: enqueue(app, settings, task, key),
    )
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    app.worker_main(
        argv=[
            "worker",
            "-Q",
            SOURCES_QUEUE,
            "-P",
            "threads",
            "-c",
            str(settings.sources_concurrency),
            "-n",
            f"sources-{os.getpid()}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


if __name__ == "__main__":
    main()
