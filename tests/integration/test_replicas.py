"""Several replicas over one data dir, on loopback: two API processes on two ports, three ingest
workers and the indexer, with a PostgreSQL catalog and one Redis. Uploads spread over both APIs;
one API is SIGKILLed mid-load; every upload that got a 202 ends ready exactly once, and both APIs
(the killed one restarted) answer the same search identically."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from askdocs import redis_service, stack
from askdocs.supervisor import free_port
from core.catalog import Catalog
from core.settings import Settings
from retrieval.consistency import check
from retrieval.index_store import ServedModel
from tests.integration.conftest import service_logs, wait_for
from tests.pg import fresh_database

pytestmark = pytest.mark.integration
WORKERS = 3


class Replicas:
    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.data, self.env = data, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str, argv: list[str]) -> None:
        (self.data / "logs").mkdir(parents=True, exist_ok=True)
        self.procs[name] = subprocess.Popen(
            argv,
            env=self.env,
            stdout=(self.data / "logs" / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_api(self, name: str) -> None:
        self.ports.setdefault(name, free_port())
        self.start(name, stack.api_argv("127.0.0.1", self.ports[name]))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def api_up(self, name: str) -> bool:
        if self.procs[name].poll() is not None:
            pytest.fail(f"{name} exited:\n{service_logs(self.data)}")
        try:
            return httpx.get(self.url(name) + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):  # it may have exited on its own
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    with fresh_database("askdocs_replicas") as database_url:
        yield from _replicas(tmp_path_factory.mktemp("replicas"), database_url)


def _replicas(data: Path, database_url: str) -> Iterator[Replicas]:
    found = redis_service.server_binary()
    assert found is not None, "no redis-server to start"
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    redis_proc = subprocess.Popen(
        redis_service.server_command(redis_url, data / "redis", found[0]),
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(lambda: redis_service.answers(redis_url), 30, "redis")
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(data),
        "ASKDOCS_DATABASE_URL": database_url,
        "ASKDOCS_REDIS_URL": redis_url,
        "ASKDOCS_AUTH": "false",
        "ASKDOCS_ONNX_QUERIES": "false",
        "ASKDOCS_WORKER_CONCURRENCY": "1",
        "ASKDOCS_START_GENERATOR": "false",
        "ASKDOCS_GENERATOR_URL": f"http://127.0.0.1:{free_port()}/v1",
        "ASKDOCS_JANITOR_INTERVAL": "2",
    }
    r = Replicas(data, env)
    try:
        for name in ("api-a", "api-b"):
            r.start_api(name)
        for i in range(WORKERS):
            r.start(f"worker-{i}", stack.worker_argv("ingest"))
        r.start("indexer", stack.worker_argv("index"))
        for name in ("api-a", "api-b"):
            wait_for(lambda name=name: r.api_up(name), 300, name, 0.5)
        yield r
    finally:
        r.stop()
        os.killpg(redis_proc.pid, signal.SIGKILL)
        redis_proc.wait(timeout=30)


def test_uploads_over_two_apis_survive_a_killed_api(replicas: Replicas) -> None:
    accepted: dict[str, str] = {}  # document name -> id, for every 202
    refused = 0
    for i in range(24):
        name = "api-a" if i % 2 else "api-b"
        if i == 13:  # mid-load, with uploads in flight on the other API too
            replicas.kill("api-a")
        if name not in replicas.procs:
            name = "api-b"
        body = f"Ledger {i}: the harbour at Vell shipped {i * 17} crates of slate.".encode()
        try:
            resp = httpx.post(
                replicas.url(name) + "/documents",
                data={"collection": "shared"},
                files=[("files", (f"ledger{i:02d}.txt", body))],
                timeout=60,
            )
        except httpx.HTTPError:
            refused += 1
            continue
        assert resp.status_code == 202, resp.text
        (doc,) = [d for d in resp.json()["documents"]]
        accepted[f"ledger{i:02d}.txt"] = doc["id"]
    assert len(accepted) >= 22 and refused <= 2

    replicas.start_api("api-a")  # the killed API comes back on its port
    wait_for(lambda: replicas.api_up("api-a"), 300, "api-a again", 0.5)

    def all_ready() -> list[dict] | None:
        docs = httpx.get(
            replicas.url("api-b") + "/documents", params={"collection": "shared", "limit": 500}
        ).json()
        return docs if [d["status"] for d in docs].count("ready") >= len(accepted) else None

    docs = wait_for(all_ready, 300, "every accepted upload to be ready")
    by_name: dict[str, list[dict]] = {}
    for d in docs:
        by_name.setdefault(d["name"], []).append(d)
    assert {n: [d["id"] for d in ds] for n, ds in by_name.items()} == {
        n: [i] for n, i in accepted.items()
    }  # each accepted upload exactly once, no other
    assert {d["status"] for d in docs} == {"ready"}

    query = {"collection": "shared", "query": "how many crates did the harbour ship", "k": 8}
    a = httpx.post(replicas.url("api-a") + "/search", json=query, timeout=60).json()["passages"]
    b = httpx.post(replicas.url("api-b") + "/search", json=query, timeout=60).json()["passages"]
    assert a and [(p["chunk_id"], p["score"]) for p in a] == [
        (p["chunk_id"], p["score"]) for p in b
    ]

    settings = Settings(data_dir=replicas.data, database_url=replicas.env["ASKDOCS_DATABASE_URL"])
    catalog = Catalog(settings.catalog_url)
    try:
        report = check(
            catalog, settings.index_dir, "shared", ServedModel.of(settings.embedding_model)
        )
    finally:
        catalog.engine.dispose()
    assert report.ok and report.ready_documents == len(accepted), report
