"""`askdocs up` starts again a process that dies (its group first), and stops when one keeps dying
right after its start. Real child processes; no services."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from askdocs import supervisor
from askdocs.supervisor import Service, ServiceFailed, Supervisor
from tests.integration.conftest import wait_for

# a parent that leaves a child in its process group, as a Celery worker leaves its pool
PARENT_WITH_CHILD = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "open(sys.argv[1], 'a').write(f'{child.pid}\\n')\n"
    "time.sleep(600)\n"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead too
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_killed_service_is_started_again_without_the_children_it_left(tmp_path: Path) -> None:
    pids = tmp_path / "children"
    sup = Supervisor(tmp_path / "logs", echo=lambda _m: None)
    svc = Service("worker", [sys.executable, "-c", PARENT_WITH_CHILD, str(pids)])
    first = sup.start(svc)
    wait_for(lambda: pids.exists() and pids.read_text().count("\n") == 1, 30, "the first child")
    first_child = int(pids.read_text().split()[0])
    stop = threading.Event()
    watcher = threading.Thread(target=sup.watch, kwargs={"until": stop.is_set}, daemon=True)
    watcher.start()
    try:
        os.kill(first.pid, signal.SIGKILL)
        wait_for(lambda: pids.read_text().count("\n") == 2, 30, "the service started again")
        (_svc, second) = sup.running[-1]
        assert second.pid != first.pid and second.poll() is None
        wait_for(lambda: not alive(first_child), 10, "the dead parent's child to go")
    finally:
        stop.set()
        watcher.join(10)
        sup.stop_all()


def test_a_service_that_keeps_dying_at_start_stops_askdocs_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "STABLE_SECONDS", 600.0)
    sup = Supervisor(tmp_path / "logs", echo=lambda _m: None)
    sup.start(Service("broken", [sys.executable, "-c", "raise SystemExit(3)"]))
    with pytest.raises(ServiceFailed, match=r"broken exited with 3 3 times"):
        sup.watch()
    sup.stop_all()
