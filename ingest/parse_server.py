"""The parse server: ``python -m ingest.parse_server``, started and spoken to by ``ingest.sandbox``.

It imports the parsers once, then forks a child that parses files, one request (a JSON line on
stdin) at a time, writing each outcome (pickled) to the file the request names. It answers two JSON
lines on stdout per request: ``{"pid": N}`` when the child works on it (so the client can watch and
kill it), and ``{"exit": CODE}`` when it is done: 0 when the child answered (it then waits for the
next request, up to ``REUSE_MAX`` of them), else the child's exit code (negative: the signal that
killed it; the next request gets a fresh child). It dies with the process that started it
(``PR_SET_PDEATHSIG``), and its children exit when it is gone, so no parse outlives a killed worker.

A request may carry a ``confine`` object (``ingest.confine.Confinement``): the child that serves it
is confined so at its fork (its own session, no network, resource limits, its own user), and a
request that asks for other confinement than the current child's gets a fresh child. The first
``{"pid": N}`` of a child carries ``missing``: what of its confinement could not be done.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import gc
import json
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ingest import confine
from ingest.proc_tree import private_bytes
from ingest.types import ParseProgress

PR_SET_PDEATHSIG = 1
# A child serves documents one after the other (a fork of the ~650 MB server and its exit cost
# ~70 ms a document) until it has served this many or holds this much memory of its own.
REUSE_MAX = 200
REUSE_BYTES = 256 * 1024 * 1024
# Reading a child's private memory (/proc/PID/smaps_rollup) costs ~13 ms of kernel time in a process
# of the parsers' size, as much as parsing a small text file: it is read every this many requests
# (what one parse takes is bounded by the client's memory watch while it runs).
REUSE_CHECK_EVERY = 16


class SoftTimeout(BaseException):
    """Raised in a child by SIGTERM; a BaseException so no parser's ``except Exception`` eats it."""


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _orphan_watch() -> None:
    """In a child: exit once the server is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(3)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise SoftTimeout


def _test_parser() -> Any:
    """Tests only: ``ASKDOCS_TEST_PARSER=module:function`` (forwarded like the failpoints) runs
    that function in the child before the parsers, with the file, the progress callback and the
    outcome's path; what it returns, when not None, is the outcome. It is how the tests run hostile code in a child."""
    target = os.environ.get("ASKDOCS_TEST_PARSER")
    if not target:
        return None
    import importlib

    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def _plain(value: Any) -> Any:
    """``value`` in types the worker unpickles (``sandbox.read_outcome``): a parser's metadata
    may hold objects of its own (an e-mail header is a ``str`` subclass)."""
    if value is None or type(value) in (str, int, float, bool, bytes):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.timedelta)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return str(value)


def _outcome(request: dict[str, Any]) -> tuple[Any, ...]:
    from core import failpoints
    from ingest import parsing
    from ingest.errors import IngestError

    name = request["name"]
    progress_file = Path(request["out"]).with_suffix(".progress")

    def progress(p: ParseProgress) -> None:
        tmp = progress_file.with_suffix(".progress-tmp")
        tmp.write_text(json.dumps(asdict(p)))
        tmp.rename(progress_file)

    try:
        failpoints.hit("parse.child")
        hostile = _test_parser()
        if hostile is not None and (
            parsed := hostile(Path(request["path"]), progress, Path(request["out"]))
        ):
            return ("ok", parsed)
        parsed = parsing.parse(
            Path(request["path"]),
            name,
            ocr=request["ocr"],
            max_pages=request["max_pages"],
            pdf_tables=request.get("pdf_tables", True),
            pdf_reader=request.get("pdf_reader", "pdfium"),
            progress=progress,
        )
        return ("ok", replace(parsed, metadata=_plain(parsed.metadata)))
    except SoftTimeout:
        return ("soft_timeout",)
    except IngestError as e:
        return ("err", e.code, e.message)
    except MemoryError:
        return ("memory",)
    except BaseException as e:  # noqa: BLE001 - reported to the client, never raised in a void
        return ("err", "corrupt", f"{name} could not be read: {type(e).__name__}: {e}"[:500])


def _write_outcome(request: dict[str, Any], outcome: tuple[Any, ...]) -> None:
    out = Path(request["out"])
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(outcome, f)
    tmp.rename(out)


def _confine(confinement: confine.Confinement | None, home: str) -> list[str]:
    """Confine this fresh child (before its first thread); what could not be done."""
    os.setsid()  # its own session and group: a kill reaches tesseract and LibreOffice too
    # the server's stdin (the worker's requests) is none of a parser's business
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.umask(0o077)
    if confinement is None:
        return []
    try:
        return confine.apply(confinement, Path(home))
    except OSError as e:  # a child that could not drop its user must not parse
        print(f"askdocs parse child: could not confine it: {e}", file=sys.stderr, flush=True)
        os._exit(4)


def _child(requests: int, done: int, home: str, confinement: confine.Confinement | None) -> None:
    """Parse requests (JSON lines on ``requests``) one after the other, writing each outcome and
    then ``done`` a line, until one ends badly (a soft stop, memory), REUSE_MAX were served, this
    child holds REUSE_BYTES of its own or used more CPU than one request may: then it exits and the
    server forks a fresh one."""
    missing = _confine(confinement, home)
    _orphan_watch()
    signal.signal(signal.SIGTERM, _on_sigterm)
    # LibreOffice keeps a profile in $HOME and refuses a second instance on the same one: each
    # server (one per worker process) gives its children their own, so workers never collide.
    os.environ["HOME"] = home
    # and its shared-extensions cache in the same place: the system one
    # (/var/spool/libreoffice/uno_packages) is made 0700 by the first soffice run as root, after
    # which a soffice of any other user fails ("DeploymentException")
    os.environ["UNO_SHARED_PACKAGES_CACHE"] = f"{Path(home).as_uri()}/uno-shared"
    served = 0
    try:
        with os.fdopen(requests, "r") as lines:
            for line in lines:
                request = json.loads(line)
                # taken: from now on this request is ours (the first says what was not confined)
                first = b" " + json.dumps(missing).encode() if served == 0 else b""
                os.write(done, b"start" + first + b"\n")
                os.environ.update(request.get("env") or {})
                outcome = _outcome(request)
                _write_outcome(request, outcome)
                served += 1
                os.write(done, b"done\n")
                if (
                    outcome[0] not in ("ok", "err")
                    or served >= REUSE_MAX
                    or (confinement is not None and confine.cpu_used() > confinement.cpu_seconds)
                    or (
                        served % REUSE_CHECK_EVERY == 0 and private_bytes(os.getpid()) > REUSE_BYTES
                    )
                ):
                    break
    except SoftTimeout:  # asked to stop as it finished, or while writing: this child is done
        pass
    os._exit(0)


class _Worker:
    """The server's side of its current child."""

    def __init__(
        self, home: str, close_in_child: list[Any], confinement: confine.Confinement | None
    ) -> None:
        self.confinement = confinement
        self.missing: list[str] = []
        req_r, self.req_w = os.pipe()
        self.done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                for f in close_in_child:
                    f.close()
                os.close(self.req_w)
                os.close(self.done_r)
                _child(req_r, done_w, home, confinement)
            finally:
                os._exit(1)
        os.close(req_r)
        os.close(done_w)
        self.pid = pid
        self._buf = b""

    def take(self, line: str) -> bool:
        """Hand it a request; False when it had ended before taking it (then it is reaped)."""
        try:
            os.write(self.req_w, line.encode() if line.endswith("\n") else (line + "\n").encode())
        except OSError:  # EPIPE: it ended
            self.close()
            return False
        started = self._next()
        if started is None:
            self.close()
            return False
        if started.startswith(b"start "):
            self.missing = json.loads(started[6:])
        return True

    def wait_done(self) -> int | None:
        """None when it answered the request it took (and waits for the next); else it ended:
        its exit code (1 when unknown)."""
        if self._next() is not None:
            return None
        code = self.close()
        return 1 if code is None else code

    def _next(self) -> bytes | None:
        """Its next line (``start``, ``done``); None when it ended."""
        while b"\n" not in self._buf:
            data = os.read(self.done_r, 64)
            if not data:
                return None
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def close(self) -> int | None:
        """Reap it (it has ended or is told to) and give its exit code."""
        for fd in (self.req_w, self.done_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status)


def _import_encodings() -> None:
    """Import every codec now: a child that runs as its own user may be unable to read the
    standard library (a Python installed under /root), and parsers look codecs up by name late
    (a zip's cp437 member names, a page's declared charset)."""
    import encodings
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(encodings.__path__):
        with contextlib.suppress(Exception):
            importlib.import_module(f"encodings.{module.name}")


def _fresh_home() -> str:
    """This server's $HOME for its children; those of servers no longer running are removed."""
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob("askdocs-parse-home-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    home = tmp / f"askdocs-parse-home-{os.getpid()}"
    home.mkdir(mode=0o700, exist_ok=True)
    return str(home)


def serve() -> None:
    _die_with_parent()
    # stdout is the protocol: keep it to ourselves and send anything a parser prints to stderr
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    def _say(message: dict[str, Any]) -> None:
        proto.write(json.dumps(message) + "\n")
        proto.flush()

    import ingest._preload  # noqa: F401  (the parsers, warmed up, shared by every child)

    _import_encodings()

    home = _fresh_home()
    # What is loaded now lives as long as the server: out of the collector's sight, a child's
    # garbage collections no longer walk (and so copy, page by page) the server's objects.
    gc.collect()
    gc.freeze()

    _say({"ready": True})
    worker: _Worker | None = None
    for line in sys.stdin:
        asked = json.loads(line).get("confine")
        confinement = None if asked is None else confine.Confinement.from_json(asked)
        if worker is not None and worker.confinement != confinement:
            worker.close()  # idle between two requests: it reads the end of its pipe and exits
            worker = None
        # a child that ended after its last answer (reuse limit, a late stop, killed from outside)
        # never takes the request: a fresh one does
        fresh = worker is None or not worker.take(line)
        if fresh:
            worker = _Worker(home, [proto], confinement)
            if not worker.take(line):
                _say({"pid": worker.pid})
                code = worker.close()  # a fresh child that ended at once: it crashed
                _say({"exit": code or 1})
                worker = None
                continue
        _say({"pid": worker.pid, "missing": worker.missing} if fresh else {"pid": worker.pid})
        ended = worker.wait_done()
        if ended is not None:  # killed, crashed or exited: the next request forks a fresh child
            worker = None
        _say({"exit": 0 if ended is None else ended})


if __name__ == "__main__":
    serve()
