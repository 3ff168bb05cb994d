"""`askdocs up` as bench/load.py drives it: started on a data dir from a chosen checkout, its
processes found by role, one of them killed with SIGKILL, and what happened next (the stack
started it again, the whole stack stopped, nothing) told apart; the bench starts again whatever
the stack does not."""

from __future__ import annotations

import contextlib
import json
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
# run with the checkout's code: the processes `askdocs up` would start, as JSON on the last line
# (the bench then starts and restarts them itself: ``--supervise bench``)
PLAN = """
import json, os
from askdocs import stack
from askdocs.cli import _first_admin_key
from core import metrics
from core.data_dir import make_private
from core.offline import go_offline
from core.settings import Settings
before = dict(os.environ)
go_offline()
s = Settings()
make_private(s.data_dir)
env = {k: v for k, v in os.environ.items() if before.get(k) != v}
env.update(metrics.fresh_multiprocess_dir(s.data_dir / "metrics"))
key = _first_admin_key(s)
svcs = [stack.generator(s)] if s.start_generator and not stack.generator_answers(s) else []
svcs += [stack.worker(s, r) for r in ("ingest", "index", "sources", "beat")] + [stack.api(s)]
print(json.dumps({"key": key, "env": env, "services": [[v.name, v.argv, v.env] for v in svcs]}))
"""
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


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


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
    supervise: str = "up"  # "up": `askdocs up` runs the processes; "bench": this bench does
    services: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    pieces: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def make(
        cls, repo: Path, data: Path, settings: dict[str, str], supervise: str = "up"
    ) -> BenchStack:
        """``settings``: ASKDOCS_ variables (full names); the stack's code comes from ``repo``;
        ``supervise``: ``up`` (`askdocs up` runs the processes) or ``bench`` (the bench does)."""
        env = {
            **os.environ,
            **settings,
            "ASKDOCS_DATA_DIR": str(data),
            "PYTHONPATH": str(repo),  # ahead of the editable install's path
        }
        return cls(repo, data, env, settings["ASKDOCS_API_URL"], supervise=supervise)

    def start(self, timeout: float = 900) -> float:
        """Start `askdocs up` and wait until it says it is ready; the seconds it took."""
        if self.supervise == "bench":
            return self.start_pieces(timeout)
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

    def start_pieces(self, timeout: float) -> float:
        """The processes `askdocs up` would start, started by the bench, each ready in turn."""
        self.data.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        t0 = time.monotonic()
        plan = subprocess.run(
            [sys.executable, "-c", PLAN],
            env=self.env,
            cwd=self.repo,
            capture_output=True,
            text=True,
            check=True,
        )
        got = json.loads(plan.stdout.strip().splitlines()[-1])
        self.key = self.key or got["key"]
        self.env.update(got["env"])
        for name, argv, env in got["services"]:
            self.services[name] = (argv, env)
            self.start_piece(name, t0 + timeout)
        return time.monotonic() - t0

    def start_piece(self, name: str, deadline: float) -> None:
        argv, env = self.services[name]
        (self.data / "logs").mkdir(parents=True, exist_ok=True)
        log = (self.data / "logs" / f"{name}.log").open("ab")
        self.pieces[name] = proc = subprocess.Popen(
            argv,
            env={**self.env, **env},
            cwd=self.repo,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        ready = {
            "api": self.api_url + "/health",
            "generator": self.env.get("ASKDOCS_GENERATOR_URL", "").rstrip("/") + "/models",
        }.get(name)
        while ready and not _answers(ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start: see {log.name}")
            time.sleep(0.5)  # polling its readiness, bounded by the deadline

    def alive(self) -> bool:
        if self.supervise == "bench":
            return True
        return self.proc is not None and self.proc.poll() is None

    def of_role(self, role: str) -> list[Proc]:
        return [p for p in processes(self.data) if p.role == role]

    def api_rss(self) -> int:
        return rss_bytes([p.pid for p in self.of_role("api")])

    def health_ok(self) -> bool:
        return _answers(self.api_url + "/health")

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
        if self.supervise == "bench" and was_top:  # the bench is the supervisor: at once
            self.start_piece(role, t0 + 600)  # service names are the roles' names
            return Recovery(role, victim.pid, "bench restarted it", time.monotonic() - t0)
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
        for proc in self.pieces.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.pieces.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its group
            proc.wait()
        if self.pieces:  # children of a killed piece outlive its group's leader
            self.wait_gone(30)
        self.pieces.clear()
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
