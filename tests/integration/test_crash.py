"""Crash safety with real processes and real signals: a worker child killed mid-parse, a whole
worker killed mid-embedding, the indexer killed while writing an index generation and between each
pair of writes of an apply and of a merge, and Redis (AOF on) killed and restarted under a
50-document job. After restarting what was killed, every document ends ready or failed with a
reason, catalog, FAISS and the lexical index agree, and every ready document is found exactly once.

The processes are the ones `askdocs up` runs, started one by one so that each can be killed. Leases,
the janitor and requeue delays are shortened so that recovery takes seconds, not minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from askdocs import redis_service
from askdocs.stack import api_argv, worker_argv
from core.catalog import Catalog, Chunk, Collection, DocStatus, Document
from core.settings import Settings
from retrieval.consistency import Report, check
from retrieval.index_store import ServedModel, manifest_of
from retrieval.segments import orphans
from tests.integration.conftest import free_port, service_logs, wait_for
from tests.pg import fresh_database

pytestmark = pytest.mark.integration


@dataclass
class Crashable:
    data: Path
    env: dict[str, str]
    api_url: str
    failpoints: Path
    redis: subprocess.Popen
    catalog_url: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def _log(self, name: str) -> object:
        (self.data / "logs").mkdir(exist_ok=True)
        return (self.data / "logs" / f"{name}.log").open("a")

    def start(
        self, role: str, failpoints: str | None = None, env_extra: dict[str, str] | None = None
    ) -> subprocess.Popen:
        env = {**self.env, **(env_extra or {})}
        if failpoints:
            env["ASKDOCS_FAILPOINTS"] = failpoints
        argv = {
            "worker": worker_argv("ingest"),
            "indexer": worker_argv("index"),
            "api": api_argv("127.0.0.1", int(self.api_url.rsplit(":", 1)[1])),
        }[role]
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=self._log(role),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[role] = proc
        return proc

    def kill(self, role: str) -> None:
        proc = self.procs.pop(role)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def fired(self, point: str) -> bool:
        return (self.failpoints / f"{point}.fired").exists()

    def upload(self, collection: str, files: dict[str, bytes]) -> str:
        with httpx.Client(base_url=self.api_url, timeout=120) as http:
            r = http.post(
                "/documents",
                data={"collection": collection},
                files=[("files", (n, d)) for n, d in files.items()],
            )
        assert r.status_code == 202, r.text
        return r.json()["id"]

    def job(self, job_id: str) -> dict:
        with httpx.Client(base_url=self.api_url, timeout=60) as http:
            return http.get(f"/jobs/{job_id}").json()

    def wait_done(self, job_id: str, timeout: float = 240) -> dict:
        try:
            return wait_for(
                lambda: (j := self.job(job_id))["done"] and j, timeout, f"job {job_id}", 0.5
            )
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.job(job_id)}\n{service_logs(self.data)}") from None

    def assert_consistent(self, collection: str) -> None:
        settings = Settings(data_dir=self.data)
        catalog = Catalog(self.catalog_url)
        try:
            report = check(
                catalog, settings.index_dir, collection, ServedModel.of(settings.embedding_model)
            )
        finally:
            catalog.engine.dispose()
        assert report.ok, report
        assert not report.unfinished, report

    def report(self, collection: str) -> Report:
        settings = Settings(data_dir=self.data)
        catalog = Catalog(self.catalog_url)
        try:
            return check(
                catalog, settings.index_dir, collection, ServedModel.of(settings.embedding_model)
            )
        finally:
            catalog.engine.dispose()

    def ready_texts(self, collection: str) -> dict[str, str]:
        """Ready document id -> the text of its one chunk."""
        catalog = Catalog(self.catalog_url)
        try:
            with catalog.reader() as s:
                rows = s.execute(
                    select(Document.id, Chunk.text)
                    .join(Chunk, Chunk.document_id == Document.id)
                    .where(Document.collection_id == collection, Document.status == DocStatus.ready)
                ).all()
        finally:
            catalog.engine.dispose()
        return {doc_id: text for doc_id, text in rows}

    def search(self, collection: str, query: str, mode: str) -> list[dict]:
        with httpx.Client(base_url=self.api_url, timeout=60) as http:
            r = http.post(
                "/search", json={"collection": collection, "query": query, "k": 20, "mode": mode}
            )
        assert r.status_code == 200, r.text
        return r.json()["passages"]

    def orphan_files(self, collection: str) -> list[Path]:
        """Segment files of ``collection`` that its committed manifest does not list."""
        catalog = Catalog(self.catalog_url)
        try:
            with catalog.reader() as s:
                manifest = manifest_of(s.get(Collection, collection))
        finally:
            catalog.engine.dispose()
        listed = [manifest] if manifest is not None else []
        return orphans(self.data / "index" / collection, listed)

    def stop(self) -> None:
        for role in list(self.procs):
            self.kill(role)


def _docs(prefix: str, n: int) -> dict[str, bytes]:
    return {
        f"{prefix}{i}.txt": f"Record {prefix}-{i}: the {prefix} ledger lists {i * 13} crates.".encode()
        for i in range(n)
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def crash(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Crashable]:
    """The same scenarios on both catalogs: SQLite (the default) and PostgreSQL (a fresh database
    on the machine's server, dropped afterwards)."""
    data = tmp_path_factory.mktemp(f"crash-{request.param}")
    if request.param == "postgresql":
        with fresh_database("askdocs_crash") as database_url:
            yield from _crashable(data, database_url)
    else:
        yield from _crashable(data, None)


def _crashable(data: Path, database_url: str | None) -> Iterator[Crashable]:
    found = redis_service.server_binary()
    assert found is not None, "no redis-server to start"
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    redis_proc = subprocess.Popen(
        redis_service.server_command(redis_url, data / "redis", found[0]),
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(lambda: redis_service.answers(redis_url), 30, "redis")
    port = free_port()
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(data),
        "ASKDOCS_REDIS_URL": redis_url,
        "ASKDOCS_AUTH": "false",
        "ASKDOCS_ONNX_QUERIES": "false",
        "ASKDOCS_WORKER_CONCURRENCY": "1",
        "ASKDOCS_LEASE_SECONDS": "3",
        "ASKDOCS_JANITOR_INTERVAL": "1",
        "ASKDOCS_REQUEUE_AFTER": "4",
        "ASKDOCS_TASK_TIME_LIMIT": "120",
        "ASKDOCS_FAILPOINT_DIR": str(data / "failpoints"),
        "ASKDOCS_TEST_MARKER": f"askdocs-crash-{uuid.uuid4()}",
    }
    if database_url:
        env["ASKDOCS_DATABASE_URL"] = database_url
    (data / "failpoints").mkdir()
    c = Crashable(
        data,
        env,
        f"http://127.0.0.1:{port}",
        data / "failpoints",
        redis_proc,
        Settings(data_dir=data, database_url=database_url).catalog_url,
    )
    c.start("api")

    def api_up() -> bool:
        if c.procs["api"].poll() is not None:
            pytest.fail(f"the API exited:\n{service_logs(data)}")
        try:
            return httpx.get(c.api_url + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(api_up, 180, "the API", 0.5)
    try:
        yield c
    finally:
        c.stop()
        os.killpg(c.redis.pid, signal.SIGKILL)
        c.redis.wait(timeout=30)


def test_worker_child_killed_mid_parse(crash: Crashable) -> None:
    crash.start("indexer")
    crash.start("worker", "ingest.parsing=kill")
    try:
        job = crash.wait_done(crash.upload("a", _docs("a", 3)))
    finally:
        crash.kill("worker")
    assert crash.fired("ingest.parsing")
    assert job["counts"] == {"ready": 3}, job
    assert sorted(d["attempts"] for d in job["documents"]) == [1, 1, 2]
    crash.assert_consistent("a")


def test_a_group_task_out_of_time_gives_its_documents_back(crash: Crashable) -> None:
    """An upload's small files go as one task. Its soft time limit passes (a real signal) while
    a document of the group hangs: the batch gives back every document it did not finish, each
    with a task and a whole time limit of its own, instead of failing the one it was on."""
    (crash.failpoints / "ingest.parsing.fired").unlink(missing_ok=True)  # an earlier test's
    if "indexer" not in crash.procs:  # run alone (-k)
        crash.start("indexer")
    crash.start("worker", "ingest.parsing=hang", {"ASKDOCS_TASK_SOFT_TIME_LIMIT": "5"})
    try:
        job = crash.wait_done(crash.upload("e", _docs("e", 3)))
    finally:
        crash.kill("worker")
    assert crash.fired("ingest.parsing")
    assert job["counts"] == {"ready": 3}, job
    # the hung one was started twice (the group, then its own task); the others once or twice
    assert max(d["attempts"] for d in job["documents"]) == 2, job
    crash.assert_consistent("e")


def test_worker_killed_mid_embedding_then_restarted(crash: Crashable) -> None:
    crash.start("worker", "ingest.embedding=hang")
    job_id = crash.upload("b", _docs("b", 3))
    wait_for(lambda: crash.fired("ingest.embedding"), 120, "the worker to reach embedding")
    # small documents are embedded together: the batch hangs with every one it parsed
    hung = [d for d in crash.job(job_id)["documents"] if d["status"] == "embedding"]
    assert hung
    crash.kill("worker")  # the whole worker: parent and children, SIGKILL
    crash.start("worker")
    try:
        job = crash.wait_done(job_id)
    finally:
        crash.kill("worker")
    assert job["counts"] == {"ready": 3}, job
    attempts = {d["id"]: d["attempts"] for d in job["documents"]}
    assert {attempts[d["id"]] for d in hung} == {2}  # the killed attempt, then the one that ended
    crash.assert_consistent("b")


def test_indexer_killed_while_writing_a_generation(crash: Crashable) -> None:
    if "indexer" in crash.procs:  # an earlier test's
        crash.kill("indexer")
    crash.start("indexer", "index.before_replace=kill")
    crash.start("worker")
    job_id = crash.upload("c", _docs("c", 3))
    wait_for(lambda: crash.fired("index.before_replace"), 120, "the indexer to reach its write")
    wait_for(lambda: crash.procs["indexer"].poll() is not None, 30, "the indexer to die")
    crash.procs.pop("indexer")
    # the cut-short write is on disk: a segment the catalog never listed
    assert any(p.suffix == ".faiss" for p in crash.orphan_files("c")), crash.orphan_files("c")
    assert crash.job(job_id)["counts"].get("ready", 0) == 0
    crash.start("indexer")
    try:
        job = crash.wait_done(job_id)
    finally:
        crash.kill("worker")
    assert job["counts"] == {"ready": 3}, job
    assert not crash.orphan_files("c")  # removed by the indexer's next commit
    crash.assert_consistent("c")


def test_redis_restarted_under_a_50_document_job(crash: Crashable) -> None:
    crash.start("worker")
    job_id = crash.upload("d", _docs("d", 50))
    wait_for(lambda: crash.job(job_id)["counts"].get("ready", 0) >= 5, 180, "5 documents ready")
    argv = redis_service.server_command(
        crash.env["ASKDOCS_REDIS_URL"], crash.data / "redis", redis_service.server_binary()[0]
    )
    os.killpg(crash.redis.pid, signal.SIGKILL)
    crash.redis.wait(timeout=30)
    time.sleep(2)  # Redis stays down a moment: clients see refused connections, not a blip
    crash.redis = subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
    wait_for(lambda: redis_service.answers(crash.env["ASKDOCS_REDIS_URL"]), 30, "redis back")
    try:
        job = crash.wait_done(job_id, timeout=300)
    finally:
        crash.kill("worker")
    assert job["total"] == 50
    for d in job["documents"]:
        assert d["status"] == "ready" or (d["status"] == "failed" and d["error"]), d
    assert job["counts"].get("ready", 0) == 50, job["counts"]
    crash.assert_consistent("d")
    catalog = Catalog(crash.catalog_url)
    with catalog.reader() as s:
        assert s.get(Collection, "d") is not None
    catalog.engine.dispose()


# Where the indexer is killed: between each pair of writes of an apply (files, lexical commit,
# catalog commit, unlinking) and of a merge (reading, files, catalog commit, unlinking).
KILL_POINTS = [
    "index.apply.written",
    "index.apply.lexical_committed",
    "index.apply.catalog_committed",
    "index.merge",
    "index.merge.written",
    "index.merge.catalog_committed",
]
# Flat segments merge into one HNSW segment once they hold this many vectors together: the second
# batch of a collection triggers a merge.
SMALL_HNSW = {"ASKDOCS_HNSW_THRESHOLD": "4"}


def _restart(crash: Crashable, role: str, failpoints: str | None = None) -> None:
    if role in crash.procs:
        crash.kill(role)
    crash.start(role, failpoints, SMALL_HNSW if role == "indexer" else None)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_indexer_killed_between_two_writes_leaves_a_whole_generation(
    crash: Crashable, point: str
) -> None:
    """A first batch is indexed; a second one, which replaces one of the first batch's documents
    and makes the indexer merge, is cut short by a SIGKILL at ``point``. After the restart (and
    the janitor's resend of what was not ready), the index agrees with the catalog, no file is
    missing, no chunk is in two segments, and every ready document is found exactly once, by its
    words and by its meaning; the next commit removes what the cut-short write left behind."""
    name = "k" + point.replace(".", "-").replace("_", "-")
    (crash.failpoints / f"{point}.fired").unlink(missing_ok=True)
    _restart(crash, "indexer")
    if "worker" not in crash.procs:
        crash.start("worker")
    try:
        first = crash.wait_done(crash.upload(name, _docs("p", 3)))
        assert first["counts"] == {"ready": 3}, first
        _restart(crash, "indexer", f"{point}=kill")
        second = {
            "p0.txt": b"Record p-0 revised: the p ledger now lists 7 crates.",
            **_docs("q", 2),
        }
        job_id = crash.upload(name, second)
        wait_for(lambda: crash.fired(point), 120, f"the indexer to reach {point}")
        wait_for(lambda: crash.procs["indexer"].poll() is not None, 30, "the indexer to die")
        crash.procs.pop("indexer")
        after_kill = crash.report(name)
        assert not after_kill.missing_files and not after_kill.duplicate_vectors, after_kill
        _restart(crash, "indexer")
        job = crash.wait_done(job_id)
        assert job["counts"] == {"ready": 3}, job
        report = crash.report(name)
        assert report.index_ok and not report.missing_files and not report.unfinished, report
        ready = crash.ready_texts(name)
        assert len(ready) == 5  # p1, p2, the new p0, q0, q1
        old_p0 = next(d["id"] for d in first["documents"] if d["name"] == "p0.txt")
        assert old_p0 not in ready  # replaced
        for doc_id, text in ready.items():
            for mode in ("lexical", "dense"):
                found = [p["document_id"] for p in crash.search(name, text, mode)]
                assert found.count(doc_id) == 1, (mode, text, found)
                assert len(found) == len(set(found)), found  # one chunk each: no duplicates
        # the next commit removes what the cut-short write left behind
        crash.wait_done(crash.upload(name, {"r0.txt": b"Record r-0: one more crate."}))
        crash.assert_consistent(name)
        assert not crash.orphan_files(name)
    finally:
        if "indexer" in crash.procs:
            crash.kill("indexer")
