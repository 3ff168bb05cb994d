"""A sync run holds its source by a lease it renews in the catalog. When it cannot renew it (the
catalog refused the write, the process stalled) the lease runs out and another run may take the
source over: the first one must not go on to delete what it did not list, since the other run may
have added it meanwhile."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import sources.sync as sync
from core.catalog import DocStatus, Document, Source, utcnow
from core.secrets import Vault
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

pytestmark = pytest.mark.service

LEASE = 2


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(
        tmp_path_factory.mktemp("lease"),
        sources_folder_roots=str(tmp_path_factory.getbasetemp()),
        sources_lease_seconds=LEASE,
    ) as harness:
        yield harness
    broker.flushdb()


def _ctx(h: Harness) -> sync.SyncContext:
    return sync.SyncContext(
        settings=h.settings,
        catalog=h.services.catalog,
        blobs=h.services.blobs,
        vault=Vault(h.settings.secret_key, h.settings.data_dir / "secret.key"),
        enqueue=lambda _task, _ids: None,
    )


def _queue(h: Harness, source_id: str) -> str:
    r = h.client.post(f"/sources/{source_id}/sync")
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _live(h: Harness, source_id: str) -> set[str]:
    with h.services.catalog.reader() as s:
        return set(
            s.scalars(
                select(Document.name).where(
                    Document.source_id == source_id, Document.status != DocStatus.deleted
                )
            )
        )


def _lease_ran_out(h: Harness, source_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with h.services.catalog.reader() as s:
            src = s.get(Source, source_id)
            assert src is not None
            if src.lease_until is None or src.lease_until < utcnow():
                return
        time.sleep(0.05)
    raise AssertionError("the lease never ran out")


def test_a_run_that_lost_its_lease_deletes_nothing_another_run_added(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    for i in range(10):
        (root / f"a{i}.txt").write_text(f"Berth {i} of the north pier opens at six.")
    listed = {f"a{i}.txt" for i in range(10)}
    body = {"collection": "lease", "name": "share", "kind": "folder"}
    r = h.client.post("/sources", json={**body, "config": {"path": str(root)}, "sync_now": False})
    assert r.status_code == 201, r.text
    source_id = str(r.json()["id"])
    assert sync.run(_ctx(h), _queue(h, source_id)).status == "done"
    assert _live(h, source_id) == listed

    renew = sync.update

    def refused(*_args: object, **_kwargs: object) -> object:
        raise OperationalError("UPDATE sources", {}, Exception("database is locked"))

    plan = sync._plan
    first = _queue(h, source_id)

    def stalled_plan(r: sync._Run, *args: object) -> object:
        if r.run_id == first:
            # the first run listed only the a files; its lease runs out, b.txt appears, and a second
            # run takes the source over and adds it
            _lease_ran_out(h, source_id)
            monkeypatch.setattr(sync, "update", renew)
            (root / "b.txt").write_text("The south pier closes at noon.")
            assert sync.run(_ctx(h), _queue(h, source_id)).status == "done"
            assert _live(h, source_id) == listed | {"b.txt"}
        return plan(r, *args)

    monkeypatch.setattr(sync, "update", refused)  # the first run cannot renew its hold
    monkeypatch.setattr(sync, "_plan", stalled_plan)
    outcome = sync.run(_ctx(h), first)

    assert _live(h, source_id) == listed | {"b.txt"}
    assert outcome.status == "interrupted"
