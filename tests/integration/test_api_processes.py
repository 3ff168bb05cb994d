"""`askdocs up` with two API processes (ASKDOCS_API_PROCESSES=2: uvicorn's master and two
workers behind one port): `/metrics` counts the requests of both (prometheus-client's multiprocess
directory, read per process here to see that both answered), and an API process killed with
SIGKILL is replaced while the other keeps answering; the dead one's counts stay counted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from askdocs.stack import api_argv
from askdocs.supervisor import free_port
from core.catalog import ApiKey, Catalog, Collection, User
from tests import redis_server
from tests.integration.conftest import Stack, running_stack, wait_for
from tests.pg import fresh_database

pytestmark = pytest.mark.integration

HEALTH = {"route": "/health", "method": "GET", "status": "200"}
PROCESSES = 2


@pytest.fixture(scope="module")
def two_apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    extra = {
        "ASKDOCS_API_PROCESSES": "2",
        "ASKDOCS_START_GENERATOR": "false",  # nothing here asks the generator
        "ASKDOCS_START_SOURCES": "false",
    }
    with running_stack(tmp_path_factory.mktemp("two-apis"), extra_env=extra) as stack:
        yield stack


def master_pid(stack: Stack) -> int:
    found = re.search(r"started api \(pid (\d+)\)", stack.log.read_text())
    assert found, stack.log.read_text()
    return int(found.group(1))


def api_processes(master: int) -> set[int]:
    """The API processes uvicorn's master runs (its children started by multiprocessing's
    spawn; not its resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master and b"spawn_main" in cmdline:
            found.add(int(stat.parent.name))
    return found


def health_counts(stack: Stack) -> dict[int, float]:
    """GET /health answered 200, by API process, from each process's own counter file."""
    counts: dict[int, float] = {}
    for f in (stack.data_dir / "metrics").glob("counter_*.db"):
        pid = int(f.stem.rsplit("_", 1)[1])
        for metric in MultiProcessCollector.merge([str(f)], accumulate=True):
            for s in metric.samples:
                if s.name == "askdocs_http_requests_total" and s.labels == HEALTH:
                    counts[pid] = counts.get(pid, 0.0) + s.value
    return counts


def scraped_health(api: httpx.Client) -> float:
    r = api.get("/metrics")
    assert r.status_code == 200, r.text
    return sum(
        s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name == "askdocs_http_requests_total" and s.labels == HEALTH
    )


def ask_health(stack: Stack, times: int) -> list[int]:
    """``times`` GETs of /health, eight at a time, each on a new connection (so the kernel hands
    them to whichever API process accepts first); their status codes."""

    def one(_: int) -> int:
        try:
            return httpx.get(f"{stack.api_url}/health", timeout=30).status_code
        except httpx.HTTPError:
            return 0

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(times)))


def test_metrics_sum_both_processes_and_a_killed_one_is_replaced(two_apis: Stack) -> None:
    stack = two_apis
    master = master_pid(stack)
    first = wait_for(lambda: len(api_processes(master)) == 2 and api_processes(master), 60, "2")
    assert len(first) == 2

    def both_answered() -> bool:
        assert set(ask_health(stack, 40)) == {200}
        return set(first) <= {pid for pid, n in health_counts(stack).items() if n > 0}

    wait_for(both_answered, 120, "both API processes to answer /health", interval=0)
    with stack.client(stack.admin_key) as api:
        per_process = health_counts(stack)
        total = scraped_health(api)
        # the scrape is the sum over every process (the scrape itself is no /health request)
        assert total == sum(per_process.values())
        assert all(per_process[pid] > 0 for pid in first)

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        survivor = (first - {victim}).pop()
        answered = []

        def replaced() -> set[int]:
            answered.extend(ask_health(stack, 8))  # the survivor answers meanwhile
            now = api_processes(master)
            return now if len(now) == 2 and victim not in now else set()

        now = wait_for(replaced, 120, "uvicorn to start a new API process", interval=0.2)
        assert answered and set(answered) == {200}, answered
        (newcomer,) = now - {survivor}
        assert survivor in now

        def newcomer_answers() -> bool:
            assert set(ask_health(stack, 40)) == {200}
            return health_counts(stack).get(newcomer, 0) > 0

        wait_for(newcomer_answers, 120, "the new API process to answer", interval=0)
        after = scraped_health(api)
        assert after == sum(health_counts(stack).values())
        # the killed process's requests stay counted
        assert (
            after >= total + len(answered) and health_counts(stack)[victim] >= per_process[victim]
        )
        # its live-mode gauge (embedding model up) left with it at the scrape; the others' stay
        metrics_dir = stack.data_dir / "metrics"
        assert not list(metrics_dir.glob(f"gauge_live*_{victim}.db"))
        assert list(metrics_dir.glob(f"gauge_livemin_{survivor}.db"))
        up = [
            s
            for family in text_string_to_metric_families(api.get("/metrics").text)
            for s in family.samples
            if s.name == "askdocs_embedding_model_up"
        ]
        assert [s.value for s in up] == [1.0], up  # one model, up in every live process


def test_api_processes_starting_at_once_on_a_new_catalog_make_one_admin(tmp_path: Path) -> None:
    """Started as docker compose starts it (uvicorn workers, nothing prepared): every process
    migrates, makes the first admin and the default collection at once, on PostgreSQL; all come
    up, and there is one admin with one key, printed once."""
    with fresh_database("askdocs_api_start") as database_url:
        env = {
            **os.environ,
            "ASKDOCS_DATA_DIR": str(tmp_path / "data"),
            "ASKDOCS_DATABASE_URL": database_url,
            "ASKDOCS_REDIS_URL": redis_server.url(12),
            "ASKDOCS_START_GENERATOR": "false",
            "ASKDOCS_GENERATOR_URL": f"http://127.0.0.1:{free_port()}/v1",
        }
        port = free_port()
        log = tmp_path / "api.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                api_argv("127.0.0.1", port, PROCESSES),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:

            def all_up() -> bool:
                assert proc.poll() is None, log.read_text()
                started = log.read_text().count("Application startup complete")
                return started == PROCESSES and len(api_processes(proc.pid)) == PROCESSES

            wait_for(all_up, 300, "every API process to start", interval=0.5)
            keys = re.findall(r"first admin key \(shown once\): (askd_\S+)", log.read_text())
            assert len(keys) == 1, log.read_text()
            me = httpx.get(
                f"http://127.0.0.1:{port}/me",
                headers={"Authorization": f"Bearer {keys[0]}"},
                timeout=30,
            )
            assert me.status_code == 200 and me.json()["user"] == "admin", me.text
            catalog = Catalog(database_url)
            with catalog.reader() as s:
                assert s.scalar(select(func.count()).select_from(User)) == 1
                assert s.scalar(select(func.count()).select_from(ApiKey)) == 1
                assert [c.id for c in s.scalars(select(Collection))] == ["default"]
            catalog.engine.dispose()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
