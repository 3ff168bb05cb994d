"""The blob sweep's adoption of files without a row and a writer claiming several originals take
the rows' locks in the same (sha256) order on PostgreSQL, so neither waits for the other in a
circle (PostgreSQL would abort one of them as a deadlock)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from core import blob_refs, blob_sweep
from core.blobs import BlobStore
from core.catalog import Blob, Catalog, utcnow
from tests.pg import fresh_database

pytestmark = pytest.mark.service


def _row_lock_waiting(catalog: Catalog) -> bool:
    with catalog.engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted"
                )
            ).scalar()
        )


def test_adopting_strays_while_a_writer_claims_them_is_no_deadlock(tmp_path: Path) -> None:
    with fresh_database("askdocs_adopt") as url:
        catalog = Catalog(url).create()
        try:
            blobs = BlobStore(tmp_path / "blobs")
            data = {blobs.put(b): b for b in (b"The tide table, May.", b"The tide table, June.")}
            low, high = sorted(data)
            failed: list[BaseException] = []

            def adopt() -> None:
                try:  # the files as a directory scan may list them: the higher hash first
                    blob_sweep._adopt(catalog, {high: 1, low: 1}, utcnow())
                except BaseException as e:  # noqa: BLE001 - reported below
                    failed.append(e)

            with catalog.session() as s:
                blob_refs.hold(s, blobs, low, len(data[low]), lambda: None)
                adopter = threading.Thread(target=adopt)
                adopter.start()
                deadline = time.monotonic() + 30
                while not _row_lock_waiting(catalog):  # the adoption waits for our row
                    assert time.monotonic() < deadline, "the adoption never waited"
                    time.sleep(0.02)
                blob_refs.hold(s, blobs, high, len(data[high]), lambda: None)
            adopter.join(60)
            assert not adopter.is_alive()
            assert failed == []
            with catalog.reader() as s:
                rows = {r.sha256: r.orphaned_at for r in s.query(Blob)}
            assert set(rows) == {low, high}
        finally:
            catalog.engine.dispose()
