"""Parse one file in a child process that can be stopped: a parser that hangs, runs past its time or
blows up memory is stopped and the document fails with a reason; the worker goes on.

Children fork from a parse server (``ingest.parse_server``) that imported and warmed up the parsers
once, so a child starts in milliseconds, without the embedding model or the worker's threads. The
client here watches the child's private memory (``/proc``) and the clock: past the soft limit it
asks the child to stop (SIGTERM, which the child turns into a readable timeout), past the hard limit
or the memory limit it kills the child's whole process group (tesseract included).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.errors import IngestError, ParseTimeout, TooLarge, by_code
from ingest.types import ParsedDocument, ParseProgress

POLL_SECONDS = 0.2  # how often the limits are checked; an answer is read at once
START_SECONDS = 300.0  # the server imports the parsers before it says it is ready


@dataclass(frozen=True)
class Limits:
    """Per-document limits of one parse."""

    soft_seconds: float
    hard_seconds: float
    memory_bytes: int
    max_pages: int
    ocr: bool = True
    pdf_tables: bool = True
    pdf_reader: str = "pdfium"
    # each page that needs OCR (~5 s on 2 cores) adds this much to both time limits
    ocr_page_seconds: float = 60.0


class ServerGone(RuntimeError):
    pass


class _Lines:
    """JSON lines from the server's stdout, read from the descriptor itself: a buffered reader
    could hold a second line that ``select`` no longer reports."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buf = b""

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next line within ``timeout`` seconds; None when none came."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._fd], [], [], max(0.0, left))
            if not ready:
                return None
            data = os.read(self._fd, 65536)
            if not data:
                raise ServerGone("the parse server exited")
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)


class _Server:
    """One parse server per process (a Celery pool child, the bench, a test). It dies with the
    thread that started it (PR_SET_PDEATHSIG follows the thread), so it is started from the
    process's main thread: ``warm`` at worker start, or the first parse."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self.lines = _Lines(-1)
        self._lock = threading.Lock()

    def spawn(self) -> None:
        """Start the server if none runs; it says it is ready seconds later (``running``)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.parse_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert proc.stdout is not None
        self._proc, self._ready = proc, False
        self.lines = _Lines(proc.stdout.fileno())

    def running(self) -> subprocess.Popen[bytes]:
        """The server, started if needed, once it has said it is ready."""
        self.spawn()
        assert self._proc is not None
        if not self._ready:
            if self.lines.read(START_SECONDS) is None:
                self.stop()
                raise ServerGone("the parse server did not start")
            self._ready = True
        return self._proc

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


_SERVER = _Server()


def warm(wait: bool = False) -> None:
    """Start the parse server now (it imports the parsers: ~8 s), not at the first document.
    Call it from the main thread; the first parse waits for it to be ready (or ``wait``)."""
    with _SERVER._lock:
        _SERVER.spawn()
        if wait:
            _SERVER.running()


def private_bytes(pid: int) -> int:
    """Memory ``pid`` holds of its own (0 once it is gone): what the parse added, not the parser
    modules it shares with the server."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f if line.startswith("Private_"))
    except (OSError, ValueError, IndexError):
        return 0


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (its tesseract too), and the child itself."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _timeout_message(name: str, seconds: float) -> str:
    return (
        f"parsing {name} took longer than {seconds:g} s; split the file or raise "
        "ASKDOCS_PARSE_SOFT_SECONDS / ASKDOCS_PARSE_HARD_SECONDS (or, for scans, "
        "ASKDOCS_OCR_PAGE_SECONDS)"
    )


def _memory_message(name: str, limit: int) -> str:
    return (
        f"parsing {name} needed more than {limit // 2**20} MiB of memory; split the file or raise "
        "ASKDOCS_PARSE_MEMORY_MB"
    )


def parse_isolated(
    path: Path,
    name: str,
    limits: Limits,
    on_progress: Callable[[ParseProgress], None] | None = None,
) -> ParsedDocument:
    """``parsing.parse`` in a child under ``limits``; raises the ``IngestError`` of its outcome.
    ``on_progress`` hears how far it is (pages, OCR pages) as the child reports it."""
    with _SERVER._lock, tempfile.TemporaryDirectory(prefix="askdocs-parse-") as tmp:
        out = Path(tmp) / "outcome.pickle"
        try:
            code, stopped, soft = _run(_SERVER.running(), path, name, limits, out, on_progress)
        except (ServerGone, BrokenPipeError, OSError, ValueError):
            _SERVER.stop()  # a fresh one next time; this document gets one more go
            code, stopped, soft = _run(_SERVER.running(), path, name, limits, out, on_progress)
        if stopped is not None:
            raise stopped
        if not out.exists():
            if code == -signal.SIGKILL:  # not us: the kernel's OOM killer
                raise TooLarge(_memory_message(name, limits.memory_bytes))
            raise IngestError(f"the parser of {name} stopped without an answer (exit code {code})")
        outcome = pickle.loads(out.read_bytes())
    kind = outcome[0]
    if kind == "ok":
        return outcome[1]
    if kind == "soft_timeout":
        raise ParseTimeout(_timeout_message(name, soft))
    if kind == "memory":
        raise TooLarge(_memory_message(name, limits.memory_bytes))
    _, code_name, message = outcome
    error = by_code().get(code_name, IngestError)(message)
    error.code = code_name
    raise error


def _read_progress(path: Path, seen: float) -> tuple[ParseProgress | None, float]:
    """The child's latest progress report when it changed since ``seen`` (its mtime)."""
    try:
        mtime = path.stat().st_mtime
        if mtime == seen:
            return None, seen
        return ParseProgress(**json.loads(path.read_text())), mtime
    except (OSError, ValueError, TypeError):
        return None, seen


def _run(
    server: subprocess.Popen[bytes],
    path: Path,
    name: str,
    limits: Limits,
    out: Path,
    on_progress: Callable[[ParseProgress], None] | None,
) -> tuple[int | None, IngestError | None, float]:
    """One request: the child's exit code, the error when we stopped it, the soft limit it had."""
    assert server.stdin is not None
    lines = _SERVER.lines
    env = {k: os.environ.get(k, "") for k in ("ASKDOCS_FAILPOINTS", "ASKDOCS_FAILPOINT_DIR")}
    request = {
        "path": str(path),
        "name": name,
        "ocr": limits.ocr,
        "max_pages": limits.max_pages,
        "pdf_tables": limits.pdf_tables,
        "pdf_reader": limits.pdf_reader,
        "out": str(out),
        "env": env,
    }
    server.stdin.write(json.dumps(request).encode() + b"\n")
    server.stdin.flush()
    started = time.monotonic()
    hello = lines.read(30)
    if hello is None or "pid" not in hello:
        raise ServerGone("the parse server did not start a child")
    pid = int(hello["pid"])
    stopped: IngestError | None = None
    asked_to_stop = False
    progress_file = out.with_suffix(".progress")
    seen = 0.0
    extra = 0.0  # seconds the OCR pages add
    try:
        while True:
            done = lines.read(POLL_SECONDS)
            if done is not None:
                report, seen = _read_progress(progress_file, seen)  # the last word
                if report is not None and on_progress is not None:
                    on_progress(report)
                return int(done["exit"]), stopped, limits.soft_seconds + extra
            if stopped is not None:
                continue  # killed: wait for the server to reap it
            report, seen = _read_progress(progress_file, seen)
            if report is not None:
                extra = report.ocr_pages * limits.ocr_page_seconds
                if on_progress is not None:
                    on_progress(report)
            elapsed = time.monotonic() - started
            if private_bytes(pid) > limits.memory_bytes:
                stopped = TooLarge(_memory_message(name, limits.memory_bytes))
                _kill_group(pid)
            elif elapsed > limits.hard_seconds + extra:
                stopped = ParseTimeout(_timeout_message(name, limits.hard_seconds + extra))
                _kill_group(pid)
            elif elapsed > limits.soft_seconds + extra and not asked_to_stop:
                asked_to_stop = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
    except BaseException:  # the caller is going (a Celery time limit, say): the child goes too
        _kill_group(pid)
        _SERVER.stop()
        raise
