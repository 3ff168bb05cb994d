"""Start `askdocs up` for a bench: free ports, a scratch data dir, no generator; the admin key read
from its log. One home for what the benches used to copy."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from askdocs.supervisor import free_port, http_ok
from client.http import ApiClient

ROOT = Path(__file__).resolve().parent.parent
KEY_LINE = r"First admin key \(shown once; keep it\): (\S+)"


def redis_url() -> str:
    """The broker a bench stack uses: ``ASKDOCS_REDIS_URL``, or the benches' own database."""
    return os.environ.get("ASKDOCS_REDIS_URL", "redis://127.0.0.1:6379/12")


@contextmanager
def running_stack(data: Path, **settings: str) -> Iterator[ApiClient]:
    """An ``askdocs up`` over ``data`` without a generator (``settings``: more ASKDOCS_ variables,
    lower-case names without the prefix); yields an authenticated client of its API."""
    api_port = free_port()
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(data),
        "ASKDOCS_REDIS_URL": redis_url(),
        "ASKDOCS_API_PORT": str(api_port),
        "ASKDOCS_API_URL": f"http://127.0.0.1:{api_port}",
        "ASKDOCS_UI_PORT": str(free_port()),
        "ASKDOCS_START_GENERATOR": "false",
        "ASKDOCS_GENERATOR_URL": f"http://127.0.0.1:{free_port()}/v1",
        # a bench polls and searches as fast as it can: the rate limits count, never refuse
        "ASKDOCS_RATE_LIMIT_PER_KEY": "1000000",
        "ASKDOCS_RATE_LIMIT_PER_ADDRESS": "1000000",
        **{f"ASKDOCS_{k.upper()}": v for k, v in settings.items()},
    }
    if "ASKDOCS_REDIS_URL" not in os.environ:  # the benches' own database: no earlier run's tasks
        redis.Redis.from_url(env["ASKDOCS_REDIS_URL"]).flushdb()
    data.mkdir(parents=True, exist_ok=True)
    log = data / "up.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "askdocs"), "up"],
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    keyless = env.get("ASKDOCS_AUTH", "").lower() == "false"
    try:
        key = None
        if keyless:  # a data dir made before: no first key is printed; wait for the API
            while not http_ok(f"http://127.0.0.1:{api_port}/health")():
                if proc.poll() is not None:
                    raise SystemExit(log.read_text())
                time.sleep(0.2)
        else:
            while (found := re.search(KEY_LINE, log.read_text())) is None:
                if proc.poll() is not None:
                    raise SystemExit(log.read_text())
                time.sleep(0.2)
            key = found.group(1)
        with ApiClient(f"http://127.0.0.1:{api_port}", key, timeout=600) as api:
            yield api
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)


def _role(cmdline: str) -> str:
    for marker, role in (
        ("parse_server", "parse"),
        ("askdocs.worker ingest", "worker"),
        ("askdocs.worker index", "indexer"),
        ("askdocs.worker sources", "sources"),
        ("askdocs.worker beat", "beat"),
        ("uvicorn", "api"),
        ("streamlit", "ui"),
        ("redis", "redis"),
        ("askdocs up", "supervisor"),
    ):
        if marker in cmdline:
            return role
    return "other"


def cpu_by_role(data: Path) -> dict[str, float]:
    """CPU seconds so far of the processes of the stack over ``data`` (found by their
    ASKDOCS_DATA_DIR), by role; a process's reaped children (the parse server's children) count
    with it. Linux /proc only."""
    tick = os.sysconf("SC_CLK_TCK")
    wanted = f"ASKDOCS_DATA_DIR={data}".encode()
    found: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the command name
        seconds = sum(int(v) for v in fields[11:15]) / tick
        role = _role(cmdline)
        found[role] = found.get(role, 0.0) + seconds
    return found
