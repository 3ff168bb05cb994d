"""What one blob sweep costs over a large catalog (the janitor runs one every
``janitor_interval``): a scratch SQLite catalog (or ``--database-url``) with N documents and
their blob rows, a share of them unused.

    python bench/blob_sweep.py [N] [--unused 0.01]

Prints one JSON object: seconds of the first sweep (it marks the unused ones), of the janitor's
usual sweep (nothing due), of a mark pass finding nothing new, and of the sweep a grace period
later that deletes the unused ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from core.blob_sweep import Swept, mark, sweep
from core.blobs import BlobStore
from core.catalog import Blob, Catalog, Collection, Document, utcnow
from core.settings import Settings

STEP = 5000


def _fill(catalog: Catalog, blobs: BlobStore, n: int, unused: int) -> None:
    """``n`` blob rows (files for the unused ones only: the others are never opened), all but
    ``unused`` of them used by a document."""
    now = utcnow()
    with catalog.session() as s:
        s.add(Collection(id="bench"))
    for at in range(0, n, STEP):
        shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(at, min(n, at + STEP))]
        with catalog.session() as s:
            s.execute(insert(Blob), [{"sha256": h, "size": 1, "created_at": now} for h in shas])
            docs = [h for i, h in enumerate(shas, start=at) if i >= unused]
            s.execute(
                insert(Document),
                [
                    {
                        "id": hashlib.sha256(h.encode()).hexdigest(),
                        "content_sha256": h,
                        "collection_id": "bench",
                        "name": f"{h[:8]}.txt",
                        "size_bytes": 1,
                        "status": "ready",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for h in docs
                ],
            )
    for i in range(unused):
        blobs.put(str(i).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--unused", type=float, default=0.01, help="Share of unused originals.")
    parser.add_argument("--database-url", default=None, help="An empty database (else SQLite).")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="askdocs-sweep-bench-"))
    try:
        settings = Settings(data_dir=scratch, database_url=args.database_url)
        catalog = Catalog(settings.catalog_url).create()
        blobs = BlobStore(settings.blob_dir)
        unused = int(args.n * args.unused)
        _fill(catalog, blobs, args.n, unused)
        t0 = utcnow()
        timings: dict[str, object] = {}

        def timed(label: str, run: Callable[[], object]) -> None:
            started = time.perf_counter()
            done = run()
            timings[f"{label}_s"] = round(time.perf_counter() - started, 3)
            timings[label] = done.__dict__ if isinstance(done, Swept) else done

        # the first sweep reads every row (mark) and every file (strays)
        timed("first_sweep", lambda: sweep(catalog, blobs, settings, t0))
        # the janitor's usual sweep: the mark pass is not due, only orphans past the grace
        timed("usual_sweep", lambda: sweep(catalog, blobs, settings, t0 + timedelta(seconds=1)))
        # a mark pass with nothing new to mark (each tenth of the grace period)
        timed("mark_pass_marked", lambda: mark(catalog, t0 + timedelta(seconds=2)))
        later = t0 + timedelta(seconds=settings.blob_grace_seconds + 3)
        timed("deleting_sweep", lambda: sweep(catalog, blobs, settings, later))
        catalog.engine.dispose()
        print(json.dumps({"blobs": args.n, "unused": unused, **timings}, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
