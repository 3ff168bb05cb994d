"""The parse server: ``python -m ingest.parse_server``, started and spoken to by ``ingest.sandbox``.

It imports the parsers once, then forks a child that parses files, one request (a JSON line on
stdin) at a time, writing each outcome (pickled) to the file the request names. It answers two JSON
lines on stdout per request: ``{"pid": N}`` when the child works on it (so the client can watch and
kill it), and ``{"exit": CODE}`` when it is done: 0 when the child answered (it then waits for the
next request, up to ``REUSE_MAX`` of them), else the child's exit code (negative: the signal that
killed it; the next request gets a fresh child). It dies with the process that started it
(``PR_SET_PDEATHSIG``), and its children exit when it is gone, so no parse outlives a killed worker.
"""

from __future__ import annotations

import contextlib
import ctypes
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
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ingest.sandbox import private_bytes
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
        parsed = parsing.parse(
            Path(request["path"]),
            name,
            ocr=request["ocr"],
            max_pages=request["max_pages"],
            pdf_tables=request.get("pdf_tables", True),
            pdf_reader=request.get("pdf_reader", "pdfium"),
            progress=progress,
        )
        return ("ok", parsed)
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


def _child(requests: int, done: int, home: str) -> None:
    """Parse requests (JSON lines on ``requests``) one after the other, writing each outcome and
    then ``done`` a line, until one ends badly (a soft stop, memory), REUSE_MAX were served or this
    child holds REUSE_BYTES of its own: then it exits and the server forks a fresh one."""
    os.setpgid(0, 0)  # its own group: a kill reaches tesseract too
    _orphan_watch()
    signal.signal(signal.SIGTERM, _on_sigterm)
    # LibreOffice keeps a profile in $HOME and refuses a second instance on the same one: each
    # server (one per worker process) gives its children their own, so workers never collide.
    os.environ["HOME"] = home
    served = 0
    try:
        with os.fdopen(requests, "r") as lines:
            for line in lines:
                request = json.loads(line)
                os.write(done, b"start\n")  # taken: from now on this request is ours
                os.environ.update(request.get("env") or {})
                outcome = _outcome(request)
                _write_outcome(request, outcome)
                served += 1
                os.write(done, b"done\n")
                if (
                    outcome[0] not in ("ok", "err")
                    or served >= REUSE_MAX
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

    def __init__(self, home: str, close_in_child: list[Any]) -> None:
        req_r, self.req_w = os.pipe()
        self.done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                for f in close_in_child:
                    f.close()
                os.close(self.req_w)
                os.close(self.done_r)
                _child(req_r, done_w, home)
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
        if self._next() is None:
            self.close()
            return False
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

    home = _fresh_home()
    # What is loaded now lives as long as the server: out of the collector's sight, a child's
    # garbage collections no longer walk (and so copy, page by page) the server's objects.
    gc.collect()
    gc.freeze()

    _say({"ready": True})
    worker: _Worker | None = None
    for line in sys.stdin:
        # a child that ended after its last answer (reuse limit, a late stop, killed from outside)
        # never takes the request: a fresh one does
        if worker is None or not worker.take(line):
            worker = _Worker(home, [proto])
            if not worker.take(line):
                _say({"pid": worker.pid})
                code = worker.close()  # a fresh child that ended at once: it crashed
                _say({"exit": code or 1})
                worker = None
                continue
        _say({"pid": worker.pid})
        ended = worker.wait_done()
        if ended is not None:  # killed, crashed or exited: the next request forks a fresh child
            worker = None
        _say({"exit": 0 if ended is None else ended})


if __name__ == "__main__":
    serve()
