"""Failpoints: let the crash tests stop a real process at an exact step, with a real signal.

``ASKDOCS_FAILPOINTS="ingest.parsing=kill,index.before_replace=hang"`` arms them in a process;
``ASKDOCS_FAILPOINT_DIR`` holds one marker per fired point, so each fires once per test run (the
restarted process goes on). Unset (always, outside tests), ``hit`` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def hit(name: str) -> None:
    """``kill``: SIGKILL this process here; ``hang``: stop here until killed from outside;
    ``hog``: take memory until stopped from outside."""
    armed = os.environ.get("ASKDOCS_FAILPOINTS")
    if not armed:
        return
    actions = dict(item.split("=", 1) for item in armed.split(",") if "=" in item)
    action = actions.get(name)
    if action is None:
        return
    marker = Path(os.environ.get("ASKDOCS_FAILPOINT_DIR", "/tmp")) / f"{name}.fired"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # fired once already
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "hang":
        while True:
            time.sleep(3600)
    elif action == "hog":
        held = []
        while True:
            held.append(bytearray(b"x" * 2**26))  # written, so resident
            time.sleep(0.01)
