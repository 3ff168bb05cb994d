"""Parse one file in a child process that can be stopped: a parser that hangs, runs past its time or
blows up memory is stopped and the document fails with a reason; the worker goes on.

Children fork from a parse server (``ingest.parse_server``) that imported and warmed up the parsers
once, so a child starts in milliseconds, without the embedding model or the worker's threads. The
client here watches the private memory of the child and of every process it started (``/proc``)
and the clock: past the soft limit it asks the child to stop (SIGTERM, which the child turns into a
readable timeout), past the hard limit or the memory limit it kills them all (tesseract and
LibreOffice included). Each child is confined (``ingest.confine``): resource limits, no network,
and, where the worker runs as root, a user of its own that can read only the copy of the file it
parses and write only to the private directory its outcome goes to.

The child is not trusted: what it reports (its progress, its outcome) is read as data that may be
hostile. Its page count adds at most ``max_ocr_seconds`` to the time limits, and its outcome is
unpickled with only the parse result's own classes allowed.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import math
import os
import pickle
import select
import shutil
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

from core.files import read_regular
from ingest import confine
from ingest.errors import IngestError, ParseTimeout, TooLarge, by_code
from ingest.proc_tree import kill_tree, private_bytes, tree, tree_private_bytes
from ingest.types import Attachment, Block, ParsedDocument, ParseProgress

__all__ = ["Limits", "ServerGone", "parse_isolated", "private_bytes", "warm"]

log = logging.getLogger(__name__)

OUTCOME_BYTES = 2**30  # a parsed document's pickle: text and elements of at most the upload limit
PROGRESS_BYTES = 64 * 1024
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
    # each page that needs OCR (~5 s on 2 cores) adds this much to both time limits, in all at
    # most max_ocr_seconds: the page count comes from the child, which may lie
    ocr_page_seconds: float = 60.0
    max_ocr_seconds: float = 3600.0
    # confinement of the child (ingest.confine); the user only where the worker runs as root
    parse_user: str = "askdocs-parse"
    address_space_bytes: int = 4 * 2**30
    max_processes: int = 256
    max_file_bytes: int = 2**30

    def confinement(self) -> confine.Confinement:
        """What the child that parses under these limits is held to."""
        identity = confine.parse_identity(self.parse_user)
        return confine.Confinement(
            uid=None if identity is None else identity[0],
            gid=None if identity is None else identity[1],
            address_space_bytes=self.address_space_bytes,
            # single-threaded parsers use at most the wall-clock limit; a second of slack
            cpu_seconds=math.ceil(self.hard_seconds + self.max_ocr_seconds) + 1,
            max_processes=self.max_processes,
            max_file_bytes=self.max_file_bytes,
        )


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
            env=server_env(os.environ),
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

# Test hooks the parse server reads (each parse request forwards its own too).
_SERVER_HOOKS = {"ASKDOCS_FAILPOINTS", "ASKDOCS_FAILPOINT_DIR", "ASKDOCS_TEST_PARSER"}
_SECRET_WORDS = (
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "_URL",
    "DSN",
)


def server_env(env: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The parse server's environment: the worker's, without askdocs' settings (the catalog URL,
    ASKDOCS_SECRET_KEY, the generator's key) and without anything named like a secret, so a
    parser that is taken over finds none of them to copy into its document's text."""
    return {
        k: v
        for k, v in env.items()
        if k in _SERVER_HOOKS
        or k == "ASKDOCS_NETGUARD_LOG"
        or (not k.startswith("ASKDOCS_") and not any(w in k.upper() for w in _SECRET_WORDS))
    }


def warm(wait: bool = False) -> None:
    """Start the parse server now (it imports the parsers: ~8 s), not at the first document.
    Call it from the main thread; the first parse waits for it to be ready (or ``wait``)."""
    with _SERVER._lock:
        _SERVER.spawn()
        if wait:
            _SERVER.running()


class _Outcome(pickle.Unpickler):
    """Unpickles what a child wrote, allowing only the classes of a parse result: a child that
    was taken over cannot make the worker run code by writing a crafted pickle."""

    ALLOWED = {("ingest.types", c.__name__): c for c in (ParsedDocument, Block, Attachment)} | {
        ("datetime", c.__name__): c
        for c in (datetime.datetime, datetime.date, datetime.timedelta, datetime.timezone)
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"a parse outcome may not hold {module}.{name}") from None


def read_outcome(data: bytes) -> tuple[Any, ...]:
    """The outcome a child wrote; raises ``pickle.UnpicklingError`` when it holds anything else."""
    outcome = _Outcome(io.BytesIO(data)).load()
    if not isinstance(outcome, tuple) or not outcome:
        raise pickle.UnpicklingError("a parse outcome is a non-empty tuple")
    return outcome


_WARNED: set[str] = set()


def _warn_missing(missing: list[str]) -> None:
    """Log, once per process, each part of the confinement the child could not have."""
    for reason in missing:
        if reason not in _WARNED:
            _WARNED.add(reason)
            log.warning("parse child isolation incomplete: %s", reason)


def _private_dir(tmp: Path, identity: tuple[int, int] | None) -> None:
    """The directory of one parse: only the child's user (and root, the worker) may use it.
    Handed over last, once everything the worker puts in it is there: while the child's user
    owns it, it could swap what is inside for links."""
    tmp.chmod(0o700)
    if identity is not None:
        os.chown(tmp, *identity, follow_symlinks=False)


def _readable_copy(path: Path, tmp: Path, identity: tuple[int, int] | None) -> Path:
    """The file the child reads: ``path`` itself when it keeps the worker's user; a copy that its
    own user owns in its private directory when it has one (the blob store is not for it). Made
    while the directory is still the worker's alone."""
    if identity is None:
        return path
    copy = tmp / "input" / path.name
    copy.parent.mkdir(mode=0o700)
    shutil.copyfile(path, copy)
    copy.chmod(0o400)
    for p in (copy, copy.parent):
        os.chown(p, *identity, follow_symlinks=False)
    return copy


def _timeout_message(name: str, seconds: float) -> str:
    return (
        f"parsing {name} took longer than {seconds:g} s; split the file or raise "
        "ASKDOCS_PARSE_SOFT_SECONDS / ASKDOCS_PARSE_HARD_SECONDS (or, for scans, "
        "ASKDOCS_OCR_PAGE_SECONDS)"
    )


def _memory_message(name: str, limit: int) -> str:
    return (
        f"parsing {name} needed more than {limit // 2**20} MiB of memory; split the file or raise "
        "ASKDOCS_PARSE_MEMORY_MB (and ASKDOCS_PARSE_ADDRESS_SPACE_MB above it)"
    )


def parse_isolated(
    path: Path,
    name: str,
    limits: Limits,
    on_progress: Callable[[ParseProgress], None] | None = None,
) -> ParsedDocument:
    """``parsing.parse`` in a child under ``limits``; raises the ``IngestError`` of its outcome.
    ``on_progress`` hears how far it is (pages, OCR pages) as the child reports it."""
    confinement = limits.confinement()
    identity = None if confinement.uid is None else (confinement.uid, confinement.gid or 0)
    with _SERVER._lock, tempfile.TemporaryDirectory(prefix="askdocs-parse-") as tmp:
        source = _readable_copy(path, Path(tmp), identity)
        _private_dir(Path(tmp), identity)
        out = Path(tmp) / "outcome.pickle"
        request = (source, name, limits, confinement, out, on_progress)
        try:
            code, stopped, soft = _run(_SERVER.running(), *request)
        except (ServerGone, BrokenPipeError, OSError, ValueError):
            _SERVER.stop()  # a fresh one next time; this document gets one more go
            code, stopped, soft = _run(_SERVER.running(), *request)
        if stopped is not None:
            raise stopped
        if not out.exists() and not out.is_symlink():
            if code == -signal.SIGXCPU:  # its CPU seconds (RLIMIT_CPU) ran out
                raise ParseTimeout(_timeout_message(name, soft))
            if code == -signal.SIGKILL:  # not us: the kernel's OOM killer
                raise TooLarge(_memory_message(name, limits.memory_bytes))
            raise IngestError(f"the parser of {name} stopped without an answer (exit code {code})")
        try:
            outcome = read_outcome(read_regular(out, OUTCOME_BYTES))
        except (
            pickle.UnpicklingError,
            EOFError,
            ValueError,
            TypeError,
            AttributeError,
            OSError,
        ) as e:
            raise IngestError(f"the parser of {name} gave an answer that is not one: {e}") from e
    return _result(outcome, name, limits, soft)


def _result(outcome: tuple[Any, ...], name: str, limits: Limits, soft: float) -> ParsedDocument:
    """The parsed document of an outcome, or its error raised."""
    kind = outcome[0]
    if kind == "ok" and len(outcome) == 2 and isinstance(outcome[1], ParsedDocument):
        return outcome[1]
    if kind == "soft_timeout":
        raise ParseTimeout(_timeout_message(name, soft))
    if kind == "memory":
        raise TooLarge(_memory_message(name, limits.memory_bytes))
    if kind == "err" and len(outcome) == 3 and all(isinstance(x, str) for x in outcome[1:]):
        _, code_name, message = outcome
        error = by_code().get(code_name, IngestError)(message)
        error.code = code_name
        raise error
    raise IngestError(f"the parser of {name} gave an answer that is not one")


def _read_progress(path: Path, seen: float) -> tuple[ParseProgress | None, float]:
    """The child's latest progress report when it changed since ``seen`` (its mtime)."""
    try:
        mtime = path.lstat().st_mtime
        if mtime == seen:
            return None, seen
        return ParseProgress(**json.loads(read_regular(path, PROGRESS_BYTES))), mtime
    except (OSError, ValueError, TypeError):
        return None, seen


def _ocr_extra(report: ParseProgress, limits: Limits) -> float:
    """Seconds the OCR pages the child reports add to the time limits: at most max_ocr_seconds,
    whatever it says (a count that is not a number adds nothing)."""
    try:
        pages = max(0, min(int(report.ocr_pages), limits.max_pages))
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return min(pages * limits.ocr_page_seconds, limits.max_ocr_seconds)


def _kill_leftovers(pid: int, ended: bool) -> None:
    """Kill what a request left running: a parser's helper outlives no answer (LibreOffice and
    tesseract have exited by then; what has not was started to stay). The child itself too when it
    has ended (its pid is its session's id, so its leftovers are still found)."""
    for other in tree(pid):
        if other != pid or ended:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(other, signal.SIGKILL)


def _run(
    server: subprocess.Popen[bytes],
    path: Path,
    name: str,
    limits: Limits,
    confinement: confine.Confinement,
    out: Path,
    on_progress: Callable[[ParseProgress], None] | None,
) -> tuple[int | None, IngestError | None, float]:
    """One request: the child's exit code, the error when we stopped it, the soft limit it had."""
    assert server.stdin is not None
    lines = _SERVER.lines
    forwarded = ("ASKDOCS_FAILPOINTS", "ASKDOCS_FAILPOINT_DIR", "ASKDOCS_TEST_PARSER")
    env = {k: os.environ.get(k, "") for k in forwarded}
    request = {
        "path": str(path),
        "name": name,
        "ocr": limits.ocr,
        "max_pages": limits.max_pages,
        "pdf_tables": limits.pdf_tables,
        "pdf_reader": limits.pdf_reader,
        "out": str(out),
        "env": env,
        "confine": confinement.to_json(),
    }
    server.stdin.write(json.dumps(request).encode() + b"\n")
    server.stdin.flush()
    started = time.monotonic()
    hello = lines.read(30)
    if hello is None or "pid" not in hello:
        raise ServerGone("the parse server did not start a child")
    pid = int(hello["pid"])
    _warn_missing(hello.get("missing") or [])
    stopped: IngestError | None = None
    asked_to_stop = False
    progress_file = out.with_suffix(".progress")
    seen = 0.0
    extra = 0.0  # seconds the OCR pages add
    try:
        while True:
            done = lines.read(POLL_SECONDS)
            if done is not None:
                _kill_leftovers(pid, ended=int(done["exit"]) != 0)
                report, seen = _read_progress(progress_file, seen)  # the last word
                if report is not None and on_progress is not None:
                    on_progress(report)
                return int(done["exit"]), stopped, limits.soft_seconds + extra
            if stopped is not None:
                continue  # killed: wait for the server to reap it
            report, seen = _read_progress(progress_file, seen)
            if report is not None:
                extra = _ocr_extra(report, limits)
                if on_progress is not None:
                    on_progress(report)
            elapsed = time.monotonic() - started
            if tree_private_bytes(pid) > limits.memory_bytes:
                stopped = TooLarge(_memory_message(name, limits.memory_bytes))
                kill_tree(pid)
            elif elapsed > limits.hard_seconds + extra:
                stopped = ParseTimeout(_timeout_message(name, limits.hard_seconds + extra))
                kill_tree(pid)
            elif elapsed > limits.soft_seconds + extra and not asked_to_stop:
                asked_to_stop = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
    except BaseException:  # the caller is going (a Celery time limit, say): the child goes too
        kill_tree(pid)
        _SERVER.stop()
        raise
