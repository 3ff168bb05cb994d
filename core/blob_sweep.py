"""The blob sweep: an original no document uses leaves the blob store a grace period after a sweep
first found it unused. Run by the janitor; nothing else unlinks an original.

Each sweep, in short transactions:

- **mark**, at most once per tenth of the grace period (it reads every row): rows no document
  uses get ``orphaned_at = now`` (each row locked, the documents read again in a new statement:
  a writer that committed a document before we got the row is seen);
- **delete**: rows still orphaned since before ``now - grace`` are locked, the documents read
  again; the file of a row still unused is unlinked and the row deleted in that transaction,
  and a row in use again loses its mark. A writer's ``core.blob_refs.hold`` upserts the same row,
  so it waits for this transaction and then sees the unlink (it puts its bytes back);
- **strays**, once per grace period: files of the store without a row (a writer that died between
  storing its file and its commit, a request refused after some of its files were stored, files
  of releases before the blob rows) get an orphaned row, so the next passes treat them as above;
  temporary files older than the grace period (a crash mid-write) are removed.

The grace period is what a backup relies on: an original named by its catalog snapshot was in
use at the snapshot, so it is marked at the earliest after it, and unlinked a grace period later.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection as Sized
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.blobs import SHA256, TMP_PREFIX, BlobStore
from core.catalog import Blob, Catalog, Document, utcnow
from core.settings import Settings

log = logging.getLogger(__name__)

BATCH = 200
# Rows whose files are unlinked per transaction (an unlink can take milliseconds, and on SQLite
# every writer waits for this transaction).
DELETE_BATCH = 50
# In the blob store's root, when the last stray scan and the last mark pass ran (ISO times): each
# reads every row or file, so they run once per grace period and once per tenth of it.
STRAYS_STAMP = ".strays-scanned"
MARK_STAMP = ".marked"
MARK_SHARE = 0.1
# A temporary file is a write under way while it keeps changing: one left alone this long (or the
# grace period, when longer) is a crash's leftover, whatever the grace period is set to.
TEMP_MAX_AGE = timedelta(minutes=10)


@dataclass(frozen=True)
class Swept:
    """What one pass did."""

    marked: int = 0  # found unused: their grace period starts
    deleted: int = 0  # unlinked, rows gone
    reused: int = 0  # marked before, in use again
    strays: int = 0  # files without a row, given one
    temporaries: int = 0  # leftovers of an interrupted write, removed


def in_use(s: Session, shas: Sized[str]) -> set[str]:
    """Those of ``shas`` some document (of any collection, in any state) uses, read now."""
    if not shas:
        return set()
    wanted = list(shas)
    used = set(
        s.scalars(select(Document.content_sha256).where(Document.content_sha256.in_(wanted)))
    )
    # rows older than the content column: the document id was the hash
    used.update(s.scalars(select(Document.id).where(Document.id.in_(wanted))))
    return used


def sweep_blobs(
    catalog: Catalog, blobs: BlobStore, settings: Settings, now: datetime | None = None
) -> int:
    """One pass of the blob sweep (marks, deletes past the grace period, strays); returns how
    many originals it deleted."""
    return sweep(catalog, blobs, settings, now).deleted


def sweep(
    catalog: Catalog, blobs: BlobStore, settings: Settings, now: datetime | None = None
) -> Swept:
    """One pass of the blob sweep, with what it did."""
    now = now or utcnow()
    grace = timedelta(seconds=settings.blob_grace_seconds)
    strays = temporaries = marked = 0
    if _due(blobs, STRAYS_STAMP, now, grace):
        strays, temporaries = adopt_strays(catalog, blobs, now - grace, now)
        _stamp(blobs, STRAYS_STAMP, now)
    if _due(blobs, MARK_STAMP, now, grace * MARK_SHARE):
        marked = mark(catalog, now)
        _stamp(blobs, MARK_STAMP, now)
    deleted, reused = delete_orphans(catalog, blobs, now - grace)
    done = Swept(marked, deleted, reused, strays, temporaries)
    if deleted or strays or temporaries:
        log.info("blob sweep: %s", done)
    return done


def mark(catalog: Catalog, now: datetime) -> int:
    """Mark the rows no document uses (their grace period starts now); how many."""
    unused = ~exists().where(Document.content_sha256 == Blob.sha256) & ~exists().where(
        Document.id == Blob.sha256
    )
    marked, after = 0, ""
    while True:
        with catalog.reader() as s:  # the search reads only: no writer waits for it
            found = list(
                s.scalars(
                    select(Blob.sha256)
                    .where(Blob.orphaned_at.is_(None), Blob.sha256 > after, unused)
                    .order_by(Blob.sha256)
                    .limit(BATCH)
                )
            )
        if not found:
            return marked
        after = found[-1]
        with catalog.session() as s:
            rows = s.scalars(
                select(Blob)
                .where(Blob.sha256.in_(found), Blob.orphaned_at.is_(None))
                .order_by(Blob.sha256)
                .with_for_update(skip_locked=True)  # a writer holds it: it is in use
            ).all()
            used = in_use(s, [r.sha256 for r in rows])  # a new statement, after the locks
            for row in rows:
                if row.sha256 not in used:
                    row.orphaned_at = now
                    marked += 1


def delete_orphans(catalog: Catalog, blobs: BlobStore, cutoff: datetime) -> tuple[int, int]:
    """Unlink the originals orphaned before ``cutoff`` that are still unused, and delete their
    rows; unmark those in use again. Returns (deleted, unmarked)."""
    deleted = reused = 0
    while True:  # each row read leaves the set: deleted, or unmarked
        with catalog.session() as s:
            rows = s.scalars(
                select(Blob)
                .where(Blob.orphaned_at < cutoff)
                .order_by(Blob.orphaned_at)  # along its index: no scan of the rows in use
                .limit(DELETE_BATCH)
                .with_for_update(skip_locked=True)  # a writer holds it: it is in use
            ).all()
            if not rows:
                return deleted, reused
            used = in_use(s, [r.sha256 for r in rows])  # a new statement, after the locks
            for row in rows:
                if row.sha256 in used:
                    row.orphaned_at = None
                    reused += 1
                    continue
                # unlinked before the commit: a writer waiting for this row sees the file gone
                blobs.delete(row.sha256)
                s.delete(row)
                deleted += 1


def _store_files(blobs: BlobStore) -> Iterator[os.DirEntry[str]]:
    """Every entry of the store's shard directories and of its root (temporaries live there)."""
    if not blobs.root.is_dir():
        return
    with os.scandir(blobs.root) as top:
        shards = []
        for entry in top:
            if entry.is_dir(follow_symlinks=False) and len(entry.name) == 2:
                shards.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                yield entry
    for shard in shards:
        with os.scandir(shard) as files:
            yield from files


def adopt_strays(
    catalog: Catalog, blobs: BlobStore, older_than: datetime, now: datetime
) -> tuple[int, int]:
    """Give an orphaned row to each original in the store without one (last changed before
    ``older_than``), and remove temporary files older than that and than ``TEMP_MAX_AGE``. Returns (rows made, temporaries
    removed)."""
    limit = older_than.timestamp()
    temp_limit = min(older_than, now - TEMP_MAX_AGE).timestamp()
    temporaries = 0
    candidates: dict[str, int] = {}
    adopted = 0
    for entry in _store_files(blobs):
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if st.st_mtime >= limit:
            continue
        if entry.name.startswith(TMP_PREFIX):
            if st.st_mtime < temp_limit:
                Path(entry.path).unlink(missing_ok=True)
                temporaries += 1
        elif SHA256.fullmatch(entry.name) and Path(entry.path).parent.name == entry.name[:2]:
            candidates[entry.name] = st.st_size
            if len(candidates) >= BATCH:
                adopted += _adopt(catalog, candidates, now)
                candidates = {}
    adopted += _adopt(catalog, candidates, now)
    return adopted, temporaries


def _adopt(catalog: Catalog, files: dict[str, int], now: datetime) -> int:
    """Orphaned rows for those of ``files`` (sha256 -> size) that have none; how many made."""
    if not files:
        return 0
    with catalog.reader() as s:
        known = set(s.scalars(select(Blob.sha256).where(Blob.sha256.in_(list(files)))))
    # in sha256 order, as writers claim rows (``core.blob_refs.hold``): no circle of row locks
    missing = sorted(sha for sha in files if sha not in known)
    if not missing:
        return 0
    with catalog.session() as s:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        for sha in missing:
            # a writer that made the row meanwhile keeps it as it is
            s.execute(
                insert(Blob)
                .values(sha256=sha, size=files[sha], created_at=now, orphaned_at=now)
                .on_conflict_do_nothing(index_elements=["sha256"])
            )
    return len(missing)


def _due(blobs: BlobStore, stamp: str, now: datetime, every: timedelta) -> bool:
    """The pass of ``stamp`` last ran ``every`` or longer before ``now`` (or never, or after
    ``now``: the clock went back)."""
    try:
        last = datetime.fromisoformat((blobs.root / stamp).read_text().strip())
    except (OSError, ValueError):
        return True
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return now - last >= every or last > now


def _stamp(blobs: BlobStore, stamp: str, now: datetime) -> None:
    blobs.root.mkdir(parents=True, exist_ok=True)
    (blobs.root / stamp).write_text(now.isoformat())
