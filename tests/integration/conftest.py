"""The real stack for integration tests: `askdocs up` itself, as a user runs it, on free ports, with a
scratch data dir, the machine's Redis (a database number of its own, flushed) or one it starts, a real
Celery worker and indexer, the API on uvicorn, the UI, and the packaged llama.cpp model."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from askdocs.supervisor import free_port
from tests import redis_server

TEST_REDIS_DB = 13
READY_LINE = "askdocs is ready"
KEY_LINE = re.compile(r"First admin key \(shown once; keep it\): (askd_\S+)")


def wait_for(condition, timeout: float, what: str, interval: float = 0.3):  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def processes_with_marker(marker: str) -> list[str]:
    found = []
    for env_file in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in env_file.read_bytes():
                cmd = (env_file.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{env_file.parent.name}: {cmd[:150]}")
        except OSError:
            continue
    return found


def service_logs(data: Path, lines: int = 40) -> str:
    """The tail of every service log, for a failure message."""
    out = []
    for f in sorted((data / "logs").glob("*.log")):
        text = f.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"--- {f.name} ---\n" + "\n".join(text))
    return "\n".join(out)


@dataclass
class Stack:
    api_url: str
    ui_url: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    admin_key: str

    def client(self, key: str | None) -> httpx.Client:
        """An HTTP client of the API that sends ``key`` (or none)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.api_url, timeout=120, headers=headers)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        exe = Path(sys.executable).parent / "askdocs"
        return subprocess.run(
            [str(exe), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )


@contextmanager
def running_stack(
    data: Path,
    redis_db: int = TEST_REDIS_DB,
    extra_env: dict[str, str] | None = None,
    admin_key: str | None = None,
) -> Iterator[Stack]:
    """`askdocs up` on free ports with ``data`` as its data dir; stopped (Ctrl-C) on exit, and
    nothing it started may outlive it. ``admin_key``: the key of an earlier start on the same data
    dir (only the first start prints one)."""
    machine = redis_server.url(redis_db)
    try:
        redis.Redis.from_url(machine, socket_connect_timeout=1).flushdb()
        redis_url = machine
    except redis.RedisError:
        redis_url = f"redis://127.0.0.1:{free_port()}/0"  # `askdocs up` starts one
    api_port, ui_port, gen_port = free_port(), free_port(), free_port()
    marker = f"askdocs-test-{uuid.uuid4()}"
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(data),
        "ASKDOCS_REDIS_URL": redis_url,
        "ASKDOCS_API_PORT": str(api_port),
        "ASKDOCS_API_URL": f"http://127.0.0.1:{api_port}",
        "ASKDOCS_UI_PORT": str(ui_port),
        "ASKDOCS_GENERATOR_URL": f"http://127.0.0.1:{gen_port}/v1",
        "ASKDOCS_GENERATOR_THREADS": "1",
        # the packaged 0.5B model: about half the default 1.5B model's time per answer, the same
        # steering; test_generator.py answers with the default model itself
        "ASKDOCS_GENERATOR_PROFILE": "qwen2.5-coder-0.5b",
        "ASKDOCS_WORKER_CONCURRENCY": "1",
        # small, so the real path switches Flat -> HNSW and compacts within the tests
        "ASKDOCS_HNSW_THRESHOLD": "12",
        "ASKDOCS_TEST_MARKER": marker,
        # admins may sync folders under the tests' temporary root, and so may the browser test's
        # own user (an ordinary user, in a collection of theirs)
        "ASKDOCS_SOURCES_FOLDER_ROOTS": f"{data.parent}=@browser",
        # web and git sources reach this machine only: a host name the schema fuzz test makes up
        # is refused before any lookup (the network guard would fail the run on one)
        "ASKDOCS_SOURCES_ALLOWED_HOSTS": "127.0.0.1,localhost,::1",
        # every test calls from 127.0.0.1, most with the one admin key, for a whole session: the
        # limits stay on (counted in Redis) but out of reach; tests/security/test_edge.py has small ones
        "ASKDOCS_RATE_LIMIT_PER_KEY": "1000000",
        "ASKDOCS_RATE_LIMIT_PER_ADDRESS": "1000000",
        # an original no document uses leaves within seconds (the janitor's blob sweep), so the
        # tests see it go
        "ASKDOCS_BLOB_GRACE_SECONDS": "2",
        "ASKDOCS_JANITOR_INTERVAL": "1",
        **(extra_env or {}),
    }
    log = data / "up.log"
    exe = Path(sys.executable).parent / "askdocs"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(exe), "up"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(
                f"askdocs up exited {proc.returncode}:\n{log.read_text()}\n{service_logs(data)}"
            )
        text = log.read_text()
        return READY_LINE in text and (admin_key is not None or KEY_LINE.search(text) is not None)

    try:
        wait_for(
            ready, 600, "askdocs up to report ready and print the first admin key", interval=0.5
        )
        key_match = KEY_LINE.search(log.read_text())
        assert key_match is not None or admin_key is not None
        key = admin_key or key_match.group(1)  # type: ignore[union-attr]
        yield Stack(
            f"http://127.0.0.1:{api_port}",
            f"http://127.0.0.1:{ui_port}",
            data,
            {**env, "ASKDOCS_API_KEY": key},
            log,
            key,
        )
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, (
        f"askdocs up exited {proc.returncode}:\n{log.read_text()}\n{service_logs(data)}"
    )
    # stop_all has waited for each group; allow the kernel a moment to reap, then nothing may remain
    try:
        wait_for(lambda: not processes_with_marker(marker), 10, "every child to exit")
    except AssertionError:
        raise AssertionError(f"left running: {processes_with_marker(marker)}") from None


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("askdocs-data")) as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    """The API as the first admin."""
    with stack.client(stack.admin_key) as client:
        yield client


def wait_job(api: httpx.Client, job_id: str, timeout: float = 300) -> dict:
    def done() -> dict | None:
        job = api.get(f"/jobs/{job_id}").json()
        return job if job["done"] else None

    return wait_for(done, timeout, f"job {job_id} to finish")


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A real text PDF with one heading and one paragraph per page (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for i, text in enumerate(pages, start=1):
        c.setFont("Helvetica-Bold", 16)
        c.drawString(72, 770, f"Section {i}")
        c.setFont("Helvetica", 11)
        c.drawString(72, 740, text)
        c.showPage()
    c.save()
    return path
