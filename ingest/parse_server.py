"""The parse server: ``python -m ingest.parse_server``, started and spoken to by ``ingest.sandbox``.

It imports the parsers once, then for each request (a JSON line on stdin) forks a child that parses
one file and writes the outcome (pickled) to the file the request names. It answers two JSON lines
on stdout: ``{"pid": N}`` when the child runs (so the client can watch and kill it), and
``{"exit": CODE}`` when it ended (negative: the signal that killed it). One request at a time.
It dies with the process that started it (``PR_SET_PDEATHSIG``), and its children exit when it is
gone, so no parse outlives a killed worker.
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

from ingest.types import ParseProgress

PR_SET_PDEATHSIG = 1


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
    from askdocs import failpoints
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


def _child(request: dict[str, Any], home: str) -> None:
    os.setpgid(0, 0)  # its own group: a kill reaches tesseract too
    _orphan_watch()
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.environ.update(request.get("env") or {})
    # LibreOffice keeps a profile in $HOME and refuses a second instance on the same one: each
    # server (one per worker process) gives its children their own, so workers never collide.
    os.environ["HOME"] = home
    outcome = _outcome(request)
    out = Path(request["out"])
    tmp = out.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as f:
            pickle.dump(outcome, f)
        tmp.rename(out)
    except SoftTimeout:
        pass
    os._exit(0)


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
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                proto.close()
                _child(request, home)
            finally:
                os._exit(1)
        _say({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _say({"exit": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    serve()
