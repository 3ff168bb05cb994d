"""Who waits for a lock, read from the kernel and the catalog: tests wait on these conditions
instead of sleeping."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from core.catalog import Catalog


def flock_waiting(path: Path) -> bool:
    """Whether some process or thread waits for a ``flock`` on ``path`` (``/proc/locks`` lists
    waiters with ``->``)."""
    inode = os.stat(path).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        waiting = len(fields) > 6 and fields[1] == "->" and fields[2] == "FLOCK"
        if waiting and fields[6].rsplit(":", 1)[-1] == str(inode):
            return True
    return False


def advisory_waiting(catalog: Catalog) -> bool:
    """Whether a session of the PostgreSQL catalog waits for an advisory lock."""
    with catalog.engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar()
        )
