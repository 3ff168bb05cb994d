"""Re-embedding a collection after the deployment's embedding model changed, a batch per task.

Each task embeds the next ``REEMBED_BATCH`` chunks that still lack a vector from the new model into
``Chunk.next_vector`` and sends the next task; the collection's index (the old model's) keeps
serving meanwhile. When none is left it asks the indexer to switch (``Indexer.switch_model``).
A lost or repeated task costs one batch at most: the janitor sends a new one while the collection
waits, and writing the same vectors twice changes nothing.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from sqlalchemy import select, update

from core import failpoints
from core.catalog import Chunk, Collection, Document, stale_vectors, utcnow
from core.celery_app import REEMBED_TASK, SWITCH_TASK
from ingest.pipeline import IngestContext
from retrieval.embedding import passage_text

log = logging.getLogger(__name__)
REEMBED_BATCH = 256


def reembed_batch(
    ctx: IngestContext, collection: str, batch: int = REEMBED_BATCH
) -> Literal["more", "done", "nothing"]:
    target = ctx.model_label
    with ctx.catalog.reader() as s:
        coll = s.get(Collection, collection)
        if coll is None or coll.deleted_at is not None or coll.reembed_to != target:
            return "nothing"  # finished, cancelled, or another model's workers are running
        rows = s.execute(
            select(Chunk.id, Chunk.text, Chunk.heading, Document.name)
            .join(Document, Chunk.document_id == Document.id)
            .where(stale_vectors(collection, target), Chunk.next_vector.is_(None))
            .order_by(Chunk.id)
            .limit(batch)
        ).all()
    if not rows:
        ctx.enqueue(SWITCH_TASK, collection)
        return "done"
    # the same text as at ingestion: the document's label and the heading travel with the chunk
    vectors = ctx.embedder.embed([passage_text(h, t, name) for _id, t, h, name in rows])
    failpoints.hit("reembed.batch")
    with ctx.catalog.session() as s:
        coll = s.get(Collection, collection, with_for_update=True)
        if coll is None or coll.reembed_to != target:
            return "nothing"
        coll.reembed_at = utcnow()
        s.execute(
            update(Chunk),
            [
                {"id": cid, "next_vector": np.asarray(vec, dtype=np.float32).tobytes()}
                for (cid, _t, _h, _n), vec in zip(rows, vectors, strict=True)
            ],
        )
    log.info("re-embedded %d chunks of %s with %s", len(rows), collection, target)
    ctx.enqueue(REEMBED_TASK, collection)
    return "more"
