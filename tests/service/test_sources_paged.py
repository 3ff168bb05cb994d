"""Sync runs over folders of thousands of files, with the catalog read a page at a time: the run's
counts (new, changed, unchanged, renamed, deleted, held) and the items and documents it leaves are
the same whatever the page size, and the items are read in pages of that size. The documents
queued here are not ingested: what is checked is the run itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from core.catalog import DocStatus, Document, SourceItem
from core.secrets import Vault
from sources.sync import SyncContext, run
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

pytestmark = pytest.mark.service

COUNTS = ("listed", "new", "changed", "unchanged", "renamed", "deleted", "held", "failed")


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(
        tmp_path_factory.mktemp("paged"),
        sources_folder_roots=str(tmp_path_factory.getbasetemp()),
        sources_lease_seconds=60,
    ) as harness:
        yield harness
    broker.flushdb()


class PagedReads:
    """The page sizes (LIMIT) of the catalog's reads of a source's items in key order."""

    def __init__(self, h: Harness) -> None:
        self.engine = h.services.catalog.engine
        self.limits: list[int] = []

    def _seen(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        by_key = re.search(
            r'FROM source_items\b.*ORDER BY source_items\."?key"?\s+LIMIT \?', statement, re.S
        )
        if by_key:
            self.limits.append(int(params[-2] if "OFFSET ?" in statement else params[-1]))

    def __enter__(self) -> PagedReads:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _write(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"d{i // 100:02}" / f"note{i:05}.txt").parent.mkdir(exist_ok=True)
        (root / f"d{i // 100:02}" / f"note{i:05}.txt").write_text(f"Note {i}: pier {i} ferry.")


def _add(h: Harness, collection: str, root: Path) -> str:
    body = {"collection": collection, "name": "share", "kind": "folder"}
    r = h.client.post("/sources", json={**body, "config": {"path": str(root)}, "sync_now": False})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _sync(h: Harness, source_id: str, page_size: int, confirm: bool = False) -> dict:
    """One run by hand with ``page_size``; the documents it queues stay queued."""
    params = {"confirm_deletions": "true"} if confirm else None
    r = h.client.post(f"/sources/{source_id}/sync", params=params)
    assert r.status_code == 202, r.text
    ctx = SyncContext(
        settings=h.settings,
        catalog=h.services.catalog,
        blobs=h.services.blobs,
        vault=Vault(h.settings.secret_key, h.settings.data_dir / "secret.key"),
        enqueue=lambda _task, _ids: None,
        page_size=page_size,
    )
    assert run(ctx, r.json()["id"]).status is not None
    got = h.client.get(f"/sources/{source_id}/runs").json()[0]
    assert got["id"] == r.json()["id"]
    return got


def _state(h: Harness, source_id: str) -> tuple[dict[str, tuple[str, bool]], dict[str, str]]:
    """The source's items (origin: (document's bytes, owns)) and its live documents' origins
    (origin: name), comparable across collections."""
    with h.services.catalog.reader() as s:
        items = {
            row.origin: (row.content_sha256, row.owns)
            for row in s.scalars(select(SourceItem).where(SourceItem.source_id == source_id))
        }
        docs = {
            d.origin: d.name
            for d in s.scalars(
                select(Document).where(
                    Document.source_id == source_id, Document.status != DocStatus.deleted
                )
            )
        }
    return items, docs


def _change(root: Path) -> None:
    """20 files changed, 30 deleted, 25 renamed (same bytes), 15 added."""
    for i in range(0, 20):
        (root / "d00" / f"note{i:05}.txt").write_text(f"Note {i} now: the pier is closed.")
    for i in range(100, 130):
        (root / "d01" / f"note{i:05}.txt").unlink()
    for i in range(200, 225):
        (root / "d02" / f"note{i:05}.txt").rename(root / "d02" / f"moved{i:05}.txt")
    (root / "new").mkdir()
    for i in range(15):
        (root / "new" / f"extra{i}.txt").write_text(f"Extra {i}: a lighthouse log.")


def _runs(h: Harness, tmp_path: Path, name: str, n: int, page_size: int) -> list[dict]:
    """The same life of a folder of ``n`` files: first run, unchanged run, changes, a mass
    deletion held, then confirmed. Returns each run's counts."""
    root = tmp_path / name
    _write(root, n)
    source = _add(h, name, root)
    runs = [_sync(h, source, page_size), _sync(h, source, page_size)]
    _change(root)
    runs.append(_sync(h, source, page_size))
    for d in sorted(root.iterdir())[: (n // 100) * 3 // 5]:  # well over half the files go
        for f in d.iterdir():
            f.unlink()
    runs.append(_sync(h, source, page_size))
    runs.append(_sync(h, source, page_size, confirm=True))
    counts = [{k: r[k] for k in (*COUNTS, "status")} for r in runs]
    counts.append({"state": _state(h, source)})  # type: ignore[dict-item]
    return counts


def test_a_folder_of_thousands_of_files_synced_in_pages(h: Harness, tmp_path: Path) -> None:
    n = 2_000
    with PagedReads(h) as reads:
        first, unchanged, changed, held, confirmed, state = _runs(h, tmp_path, "thousands", n, 100)
    assert first == {**dict.fromkeys(COUNTS, 0), "listed": n, "new": n, "status": "done"}
    assert unchanged == {**dict.fromkeys(COUNTS, 0), "listed": n, "unchanged": n, "status": "done"}
    assert changed == {
        **dict.fromkeys(COUNTS, 0),
        "listed": n - 30 + 15,
        "new": 15,
        "changed": 20,
        "renamed": 25,
        "deleted": 30,
        "unchanged": n - 20 - 30 - 25,
        "status": "done",
    }
    gone = 1200 - 30  # the first 12 folders, less the 30 deleted before
    assert (held["status"], held["held"], held["deleted"]) == ("held", gone, 0)
    assert (confirmed["status"], confirmed["deleted"], confirmed["held"]) == ("done", gone, 0)
    items, docs = state["state"]
    assert len(items) == len(docs) == n - 30 + 15 - gone
    assert "d02/moved00200.txt" not in docs and "new/extra0.txt" in docs
    assert "d12/note01200.txt" in docs and docs["d12/note01200.txt"] == "d12/note01200.txt"
    # the items were read a page of 100 at a time, never more
    assert reads.limits and set(reads.limits) == {100}
    assert len(reads.limits) >= 2 * (n // 100)


def test_the_page_size_does_not_change_a_run(h: Harness, tmp_path: Path) -> None:
    paged = _runs(h, tmp_path, "paged", 1_000, 100)
    whole = _runs(h, tmp_path, "whole", 1_000, 10_000)
    assert paged == whole
    changed = paged[2]
    assert (changed["renamed"], changed["deleted"], changed["new"]) == (25, 30, 15)
    items, docs = paged[-1]["state"]
    assert len(items) == len(docs) == 1_000 - 30 + 15 - 570
    assert (
        "d06/note00600.txt" in items
        and "new/extra0.txt" in docs
        and "d00/note00000.txt" not in items
    )
