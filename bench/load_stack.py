"""`askdocs up` as bench/load.py drives it: started on a data dir from a chosen checkout, its
processes found by role, one of them killed with SIGKILL, and what happened next (the stack
started it again, the whole stack stopped, nothing) told apart; the bench starts again whatever
the stack does not."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

KEY_LINE = re.compile(r"First admin key \(shown once; keep it\): (\S+)")
READY_LINE = "askdocs is ready"
# the first marker found in a command line names the process's role; a process without one (a
# uvicorn worker started by multiprocessing, a Celery pool child) has its parent's
MARKERS = (
    ("parse_server", "parse"),
    ("generation.llama_server", "generator"),
    ("askdocs.worker ingest", "worker"),
    ("askdocs.worker index", "indexer"),
    ("askdocs.worker sources", "sources"),
    ("askdocs.worker beat", "beat"),
    ("uvicorn", "api"),
    ("streamlit", "ui"),
    ("redis-server", "redis"),
    ("askdocs up", "supervisor"),
)


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    role: str
    top: bool  # its parent has another role: the process the stack itself started


@dataclass
class Recovery:
    """What followed one kill."""

    role: str
    pid: int
    outcome: str  # "stack", "stack stopped; bench restarted it", "bench started it"
    seconds: float
    detail: str = ""


def _read_proc(pid: str, wanted: bytes) -> tuple[str, int] | None:
    try:
        if wanted not in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            return None
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile, or not ours to read
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie: dead, not yet reaped
        return None
    return cmdline, int(fields[1])


def processes(data: Path) -> list[Proc]:
    """The live processes of the stack over ``data`` (found by their ASKDOCS_DATA_DIR)."""
    wanted = f"ASKDOCS_DATA_DIR={data}".encode()
    found: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (got := _read_proc(entry, wanted)) is not None:
            found[int(entry)] = got
    roles: dict[int, str] = {}

    def role_of(pid: int) -> str:
        if pid not in roles:
            cmdline, ppid = found[pid]
            marked = next((r for m, r in MARKERS if m in cmdline), None)
            if "resource_tracker" in cmdline:
                marked = "tracker"
            roles[pid] = marked or (role_of(ppid) if ppid in found else "other")
        return roles[pid]

    out = []
    for pid, (_cmd, ppid) in found.items():
        role = role_of(pid)
        parent = role_of(ppid) if ppid in found else None
        out.append(Proc(pid, ppid, role, top=parent != role))
    return out


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


@dataclass
class BenchStack:
    repo: Path
    data: Path
    env: dict[str, str]
    api_url: str
    key: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_by_bench: list[subprocess.Popen[bytes]] = field(default_factory=list)
    starts: int = 0

    @classmethod
    def make(cls, repo: Path, data: Path, settings: dict[str, str]) -> BenchStack:
        """``settings``: ASKDOCS_ variables (full names); the stack's code comes from ``repo``."""
        env = {
            **os.environ,
            **settings,
            "ASKDOCS_DATA_DIR": str(data),
            "PYTHONPATH": str(repo),  # ahead of the editable install's path
        }
        return cls(repo, data, env, settings["ASKDOCS_API_URL"])

    def start(self, timeout: float = 900) -> float:
        """Start `askdocs up` and wait until it says it is ready; the seconds it took."""
        self.data.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = self.data / f"up-{self.starts}.log"
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "askdocs"), "up"],
            env=self.env,
            cwd=self.repo,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if self.key is None and (found := KEY_LINE.search(text)):
                self.key = found.group(1)
            if READY_LINE in text and self.key is not None:
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                raise SystemExit(f"askdocs up exited {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.5)  # polling the start's log, bounded by the deadline
        raise SystemExit(f"askdocs up not ready after {timeout:.0f} s: see {log}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def of_role(self, role: str) -> list[Proc]:
        return [p for p in processes(self.data) if p.role == role]

    def api_rss(self) -> int:
        return rss_bytes([p.pid for p in self.of_role("api")])

    def health_ok(self) -> bool:
        try:
            return httpx.get(self.api_url + "/health", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    def target(self, role: str) -> Proc | None:
        """The process of ``role`` a kill hits: for the API, one of several serving processes
        (a uvicorn worker) when there are several, else the one process; for the others, the
        process the stack started."""
        procs = self.of_role(role)
        if role == "api":
            workers = [p for p in procs if not p.top]
            if workers:
                return workers[0]
        return next((p for p in procs if p.top), None)

    def kill(self, role: str, restart_wait: float, say) -> Recovery:  # type: ignore[no-untyped-def]
        """SIGKILL the target of ``role``; wait up to ``restart_wait`` s for the stack to bring
        it back (a new process of that role; for the API, /health answering again)."""
        victim = self.target(role)
        if victim is None:
            return Recovery(role, 0, "not running", 0.0, "no process of that role to kill")
        before = {p.pid for p in self.of_role(role)}
        was_top = victim.top
        os.kill(victim.pid, signal.SIGKILL)
        t0 = time.monotonic()
        say(f"  kill -9 {role} pid {victim.pid}" + ("" if was_top else " (a serving child)"))
        deadline = t0 + restart_wait
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.proc.returncode if self.proc else None
                say(f"  askdocs up exited ({code}) after the kill: the bench starts it again")
                took = self.restart_stack()
                return Recovery(
                    role,
                    victim.pid,
                    "stack stopped; bench restarted it",
                    time.monotonic() - t0,
                    f"askdocs up exited {code}; ready again after {took:.0f} s",
                )
            fresh = [p for p in self.of_role(role) if p.pid not in before and p.top == was_top]
            if fresh and (role != "api" or self.health_ok()):
                return Recovery(role, victim.pid, "stack", time.monotonic() - t0)
            time.sleep(0.2)  # polling for the replacement, bounded by the deadline
        say(f"  {role} not back after {restart_wait:.0f} s: the bench starts it")
        self.start_role(role)
        return Recovery(
            role,
            victim.pid,
            "bench started it",
            time.monotonic() - t0,
            f"no new {role} process within {restart_wait:.0f} s",
        )

    def restart_stack(self) -> float:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self.wait_gone(60)
        return self.start()

    def start_role(self, role: str) -> None:
        """One process of ``role`` started by the bench (stopped with the stack)."""
        if role == "api":
            port = self.api_url.rsplit(":", 1)[1]
            argv = [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_env"]
            argv += ["--host", "127.0.0.1", "--port", port, "--no-access-log"]
        else:
            queue = {"worker": "ingest", "indexer": "index"}.get(role, role)
            argv = [sys.executable, "-m", "askdocs.worker", queue]
        log = (self.data / f"bench-{role}.log").open("ab")
        self.started_by_bench.append(
            subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.repo,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def wait_gone(self, timeout: float) -> None:
        """Until no process of the stack is left (a restart must not meet the old one's ports)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = [p for p in processes(self.data) if p.role not in ("redis",)]
            if not left:
                return
            time.sleep(0.3)
        for p in processes(self.data):
            if p.role != "redis":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)

    def stop(self) -> None:
        for extra in self.started_by_bench:
            if extra.poll() is None:
                os.killpg(extra.pid, signal.SIGTERM)
                extra.wait(timeout=60)
        self.started_by_bench.clear()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """An `askdocs` command against this stack (its data dir, its key)."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "askdocs"), *args],
            env={**self.env, "ASKDOCS_API_KEY": self.key or ""},
            cwd=self.repo,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
