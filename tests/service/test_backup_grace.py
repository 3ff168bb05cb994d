"""A backup copies the originals its catalog snapshot names; the blob sweep may remove one a
grace period after no document uses it. A backup whose copy runs past that (a slow disk, a grace
period set short) fails saying so, instead of ending without originals its catalog needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from askdocs import backup
from askdocs.archive import BackupError
from core import blob_sweep, lifecycle
from core.catalog import utcnow
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

GRACE = 600.0


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(tmp_path_factory.mktemp("backup-grace"), blob_grace_seconds=GRACE) as h:
        yield h
    broker.flushdb()


def test_a_backup_whose_originals_were_swept_before_the_copy_fails(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    got = h.upload("slow", ("tide.txt", b"The spring tide floods the lower quay at dawn."))
    doc, sha = got["documents"][0]["id"], got["documents"][0]["sha256"]
    h.work()
    snapshot = backup._snapshot_catalog

    def snapshot_then_sweep(*args: object, **kwargs: object) -> object:
        snap = snapshot(*args, **kwargs)  # type: ignore[arg-type]
        # after the snapshot, the document goes and more than the grace period passes
        assert h.client.delete(f"/documents/{doc}").status_code == 202
        assert lifecycle.forget(h.services.catalog, doc)
        t0 = utcnow()
        blobs = h.services.blobs
        blob_sweep.sweep(h.services.catalog, blobs, h.settings, t0)
        blob_sweep.sweep(h.services.catalog, blobs, h.settings, t0 + timedelta(seconds=GRACE + 1))
        assert not blobs.path(sha).exists()
        return snap

    monkeypatch.setattr(backup, "_snapshot_catalog", snapshot_then_sweep)
    with pytest.raises(BackupError, match="blob_grace_seconds"):
        backup.backup(h.settings, tmp_path / "saved", echo=lambda _line: None)
