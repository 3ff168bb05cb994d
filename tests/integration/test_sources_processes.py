"""The sources worker and the scheduler as real processes (Celery beat, a Celery worker on queue
`sources`, Redis): the schedule starts runs by itself, and a worker killed in the middle of a run
leaves the source re-runnable and the collection consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from askdocs.stack import settings_env, worker_argv
from core.catalog import Catalog, DocStatus, Document, SourceItem, SourceRun
from core.settings import Settings
from tests import redis_server
from tests.integration.conftest import free_port, wait_for

pytestmark = pytest.mark.integration

REDIS_DB = 15


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    broker = redis_server.client(REDIS_DB)
    broker.flushdb()
    settings = Settings(
        data_dir=tmp_path / "data",
        redis_url=redis_server.url(REDIS_DB),
        auth=False,
        sources_tick_seconds=0.5,
        sources_min_interval_seconds=1,  # the test schedules a run every second
        sources_lease_seconds=4,
        sources_folder_roots=str(tmp_path),
        start_generator=False,
        generator_url=f"http://127.0.0.1:{free_port()}/v1",
    )
    env = {**os.environ, **settings_env(settings), "ASKDOCS_FAILPOINT_DIR": str(tmp_path)}
    yield settings, env
    broker.flushdb()


def start(role: str, env: dict[str, str], log: Path, **extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            worker_argv(role),
            env={**env, **extra},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def api_client(
    settings: Settings, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    port = free_port()
    from askdocs.stack import api_argv

    with log.open("ab") as out:
        proc = subprocess.Popen(
            api_argv("127.0.0.1", port),
            env={**env, "ASKDOCS_API_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        try:
            return client.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 180, "the API")
    return proc, client


def runs(client: httpx.Client, source_id: str) -> list[dict]:
    return client.get(f"/sources/{source_id}/runs", params={"limit": 100}).json()


def test_schedule_fires_and_a_killed_worker_leaves_the_source_rerunnable(
    setup: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, env = setup
    log = tmp_path / "processes.log"
    root = tmp_path / "share"
    root.mkdir()
    for i in range(6):
        (root / f"note{i}.txt").write_text(f"Note {i}: the ferry timetable for pier number {i}.")
    api, client = api_client(settings, env, log)
    ingest = start("ingest", env, log)
    index = start("index", env, log)
    # this worker dies (SIGKILL) right after the first file of the first run it does
    doomed = start("sources", env, log, ASKDOCS_FAILPOINTS="sources.after_entry=kill")
    beat = start("beat", env, log)
    procs = [api, ingest, index, beat]
    try:
        body = {"collection": "share", "name": "share", "kind": "folder"}
        r = client.post("/sources", json={**body, "config": {"path": str(root)}})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        doomed.wait(timeout=120)
        assert doomed.returncode == -signal.SIGKILL, log.read_text()[-3000:]
        catalog = Catalog(settings.catalog_url)
        with catalog.reader() as s:
            assert s.scalar(select(SourceRun.status).where(SourceRun.source_id == sid)) == "running"
            assert len(list(s.scalars(select(SourceItem).where(SourceItem.source_id == sid)))) == 1

        # a new worker; the schedule starts the next run once the dead one's lease ran out
        procs.append(start("sources", env, log))
        assert client.patch(f"/sources/{sid}", json={"schedule": "every 1s"}).status_code == 200

        def finished() -> list[dict] | None:
            done = [x for x in runs(client, sid) if x["status"] == "done"]
            return done or None

        done = wait_for(finished, 120, "a scheduled run to finish")[-1]
        assert done["trigger"] == "schedule"
        assert (done["new"], done["unchanged"]) == (5, 1), done
        statuses = {x["status"] for x in runs(client, sid)}
        assert "interrupted" in statuses, statuses

        # the schedule goes on by itself: a file added later arrives without anyone asking
        (root / "late.txt").write_text("A late note: the lighthouse is closed for repairs.")

        def arrived() -> bool:
            docs = client.get("/documents", params={"collection": "share"}).json()
            return {d["name"]: d["status"] for d in docs}.get("late.txt") == "ready"

        wait_for(arrived, 180, "the scheduled sync to bring late.txt")
        assert client.patch(f"/sources/{sid}", json={"enabled": False}).status_code == 200

        def settled() -> bool:
            docs = client.get("/documents", params={"collection": "share"}).json()
            return len(docs) == 7 and all(d["status"] == "ready" for d in docs)

        wait_for(settled, 180, "every document ready")
        with catalog.reader() as s:
            docs = s.scalars(select(Document).where(Document.source_id == sid)).all()
            live = [d for d in docs if d.status != DocStatus.deleted]
            items = list(s.scalars(select(SourceItem).where(SourceItem.source_id == sid)))
            assert sorted(d.origin for d in live) == sorted(i.origin for i in items)
            assert len(live) == 7
        hits = client.post("/search", json={"collection": "share", "query": "lighthouse repairs"})
        assert hits.json()["passages"][0]["document_name"] == "late.txt"
        check = subprocess.run(
            [str(Path(sys.executable).parent / "askdocs"), "check", "--collection", "share"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        stop(*procs, doomed)
        client.close()
