"""Hostile "parsers" run inside a real parse child (``ASKDOCS_TEST_PARSER=module:function``): each
reads its orders from the JSON "document" it is given and returns what it saw as the text of one
block, so a test can assert what the child could and could not do."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ingest.types import Block, ParsedDocument, ParseProgress


def _saw(text: str) -> ParsedDocument:
    return ParsedDocument([Block(text, "text")], None)


def connect(path: Path, _progress: Callable[[ParseProgress], None], _out: Path) -> ParsedDocument:
    """Open a TCP connection to the port in the document, on 127.0.0.1."""
    port = json.loads(path.read_text())["port"]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError as e:
        return _saw(f"refused {e.errno}")
    return _saw("connected")


def read_files(
    path: Path, _progress: Callable[[ParseProgress], None], _out: Path
) -> ParsedDocument:
    """Read each file the document names; report each one's errno (0: it was read)."""
    seen = {}
    for name in json.loads(path.read_text())["files"]:
        try:
            Path(name).read_bytes()
            seen[name] = 0
        except OSError as e:
            seen[name] = e.errno
    return _saw(json.dumps({"uid": os.getuid(), "errno": seen}))


def grandchildren_hog(
    path: Path, _progress: Callable[[ParseProgress], None], _out: Path
) -> ParsedDocument:
    """Fork grandchildren that each take some memory and keep it; write their pids; wait."""
    orders = json.loads(path.read_text())
    pids = []
    for _ in range(orders["children"]):
        pid = os.fork()
        if pid == 0:
            held = b"x" * (orders["mib"] * 2**20)  # written, so resident
            while held:
                time.sleep(3600)
            os._exit(0)
        pids.append(pid)
    Path(orders["pids"]).write_text(json.dumps(pids))
    for pid in pids:
        os.waitpid(pid, 0)
    return _saw("survived")


def huge_page_count(
    path: Path, progress: Callable[[ParseProgress], None], _out: Path
) -> ParsedDocument:
    """Claim a million pages to OCR, then take forever."""
    progress(ParseProgress(pages=10**6, pages_done=0, ocr_pages=10**6, ocr_done=0))
    while True:
        time.sleep(3600)


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def poisoned_outcome(
    path: Path, _progress: Callable[[ParseProgress], None], out: Path
) -> ParsedDocument:
    """Write a pickle that runs a command where it is loaded, as the outcome, and exit."""
    import pickle

    marker = json.loads(path.read_text())["marker"]
    out.write_bytes(pickle.dumps(("ok", _Payload(marker))))
    os._exit(0)


def leave_behind(
    path: Path, _progress: Callable[[ParseProgress], None], _out: Path
) -> ParsedDocument:
    """Start a process that stays (and tries to leave the child's session), then answer."""
    orders = json.loads(path.read_text())
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)  # a group of its own: a kill of the child's group misses it
        while True:
            time.sleep(3600)
    Path(orders["pids"]).write_text(json.dumps([pid]))
    return _saw("answered")


def environment(
    _path: Path, _progress: Callable[[ParseProgress], None], _out: Path
) -> ParsedDocument:
    """Copy the child's environment into the document's text."""
    return _saw(json.dumps(dict(os.environ)))


def outcome_link(
    path: Path, _progress: Callable[[ParseProgress], None], out: Path
) -> ParsedDocument:
    """Put a link to the file the document names where the outcome goes, and exit."""
    os.symlink(json.loads(path.read_text())["target"], out)
    os._exit(0)
