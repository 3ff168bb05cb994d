"""A writer's side of the originals' safety: before a transaction adds a document that uses an
original, the original's catalog row is claimed and the file checked, so the blob sweep cannot
unlink it under the new document.

Why it holds (``core.blob_sweep`` is the other side): the sweep unlinks a file only with its row
locked (``FOR UPDATE`` on PostgreSQL; SQLite runs one writing transaction at a time) and after
reading the documents again in a new statement, then deletes the row and commits. ``hold``'s
upsert of the same row therefore either comes first, and the sweep then sees the new document
(committed before the sweep got the row) or a row no longer orphaned; or it waits until the
sweep committed, and the file check after it sees the unlink and puts the bytes back.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.blobs import BlobStore
from core.catalog import Blob, utcnow


def hold(
    s: Session, blobs: BlobStore, sha256: str, size: int, put_again: Callable[[], object]
) -> None:
    """In the writer's transaction, before it adds a document using the original ``sha256``:
    mark the original in use (waiting for a sweep deleting it to finish), then make sure the
    file is there, calling ``put_again`` to store the bytes once more when a sweep removed it
    meanwhile. Hold several originals in sha256 order (PostgreSQL row locks: no two writers wait
    for each other)."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    s.execute(
        insert(Blob)
        .values(sha256=sha256, size=size, created_at=utcnow(), orphaned_at=None)
        .on_conflict_do_update(index_elements=["sha256"], set_={"orphaned_at": None})
    )
    if not blobs.intact(sha256, size):
        put_again()
        if not blobs.intact(sha256, size):
            raise RuntimeError(f"the original {sha256} could not be stored again")
