"""`askdocs up`: start every process of the embedded default, wait until each is ready, start again
one that dies (its whole process group first goes: a Celery worker's pool children, uvicorn's
workers), and stop all of them (process groups included) on Ctrl-C, or when one keeps dying right
after its start."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[], bool] | None = None
    ready_timeout: float = 120.0
    env: dict[str, str] = field(default_factory=dict)


class ServiceFailed(RuntimeError):
    pass


# A process that ran this long before it died is started again at once; one that dies sooner
# RESTART_LIMIT times in a row is broken (a bad setting, a port taken): askdocs up stops.
STABLE_SECONDS = 30.0
RESTART_LIMIT = 3


def free_port() -> int:
    """A TCP port free on loopback now (tests and benches start servers on it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code < 500
        except httpx.HTTPError:
            return False

    return check


class Supervisor:
    def __init__(self, log_dir: Path, echo: Callable[[str], None] = print) -> None:
        self.log_dir = log_dir
        self.echo = echo
        self.running: list[tuple[Service, subprocess.Popen[bytes]]] = []
        self._started_at: dict[str, float] = {}
        self._quick_exits: dict[str, int] = {}

    def start(self, svc: Service) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{svc.name}.log").open("ab")
        proc = subprocess.Popen(
            svc.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **svc.env},
            start_new_session=True,  # its own process group: we stop its children too
        )
        self.running.append((svc, proc))
        self._started_at[svc.name] = time.monotonic()
        self.echo(
            f"  started {svc.name} (pid {proc.pid}), log: {self.log_dir / (svc.name + '.log')}"
        )
        if svc.ready is not None:
            self.wait_ready(svc, proc)
        return proc

    def wait_ready(self, svc: Service, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + svc.ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceFailed(f"{svc.name} exited with {proc.returncode}: {self.tail(svc)}")
            if svc.ready and svc.ready():
                self.echo(f"  {svc.name} ready")
                return
            time.sleep(0.5)  # polling a readiness condition, bounded by the deadline
        raise ServiceFailed(
            f"{svc.name} not ready after {svc.ready_timeout:.0f} s: {self.tail(svc)}"
        )

    def tail(self, svc: Service, lines: int = 15) -> str:
        try:
            text = (self.log_dir / f"{svc.name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n" + "\n".join(text.splitlines()[-lines:])

    def watch(self, until: Callable[[], bool] = lambda: False) -> None:
        """Until the user interrupts (or ``until()``): start again every service that exits.
        Raises ServiceFailed when one exits RESTART_LIMIT times in a row within STABLE_SECONDS of
        its start."""
        while not until():
            for svc, proc in list(self.running):
                if proc.poll() is not None:
                    self.restart(svc, proc)
            time.sleep(1.0)  # polling the children's state

    def restart(self, svc: Service, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """``svc``'s process exited: its group goes (children it left), then it starts again."""
        ran = time.monotonic() - self._started_at.get(svc.name, 0.0)
        quick = self._quick_exits.get(svc.name, 0) + 1 if ran < STABLE_SECONDS else 0
        self._quick_exits[svc.name] = quick
        if quick >= RESTART_LIMIT:
            raise ServiceFailed(
                f"{svc.name} exited with {proc.returncode} {quick} times within "
                f"{STABLE_SECONDS:.0f} s of its start: {self.tail(svc)}"
            )
        self.echo(
            f"  {svc.name} exited with {proc.returncode} after {ran:.0f} s: starting it again"
        )
        _signal_group(proc, signal.SIGKILL)
        self.running = [(s, p) for s, p in self.running if p is not proc]
        return self.start(svc)

    def stop_all(self, grace: float = 15.0) -> None:
        for svc, proc in reversed(self.running):
            if proc.poll() is None:
                self.echo(f"  stopping {svc.name}")
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _svc, proc in reversed(self.running):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Anything left in the group (a pool child, a compiler of the server) goes too.
            _signal_group(proc, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait()
        self.running.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
