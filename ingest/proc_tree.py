"""A parse child and everything it started, read from ``/proc``: the processes, the memory they
hold of their own, and one signal that reaches all of them.

A parse child is the leader of a session of its own (``setsid`` at its fork): LibreOffice, tesseract
and whatever they start stay in that session, or at least stay its descendants, unless they make
a session of their own and their parent exits. Those few are not counted here; their rlimits
(inherited: CPU seconds, address space, and the process count of the parse user) still bound them.
"""

from __future__ import annotations

import contextlib
import os
import signal


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, sid) of ``pid``; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: the fields start after the last ")"
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[1]), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        return None


def tree(pid: int) -> list[int]:
    """``pid`` and every process of its session or process group or below it (``pid`` first)."""
    parents: dict[int, int] = {}
    found = [pid]
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        other = int(entry.name)
        stat = _stat(other)
        if stat is None or other == pid:
            continue
        ppid, pgid, sid = stat
        if pid in (pgid, sid):
            found.append(other)
        else:
            parents[other] = ppid
    # descendants that left the session (setsid) but whose parent is still of the tree
    known = set(found)
    grew = True
    while grew:
        grew = False
        for other, ppid in list(parents.items()):
            if ppid in known:
                known.add(other)
                found.append(other)
                del parents[other]
                grew = True
    return found


def private_bytes(pid: int) -> int:
    """Memory ``pid`` holds of its own (0 once it is gone): what the parse added, not the parser
    modules it shares with the server."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f if line.startswith("Private_"))
    except (OSError, ValueError, IndexError):
        return 0


def tree_private_bytes(pid: int) -> int:
    """The private memory of ``pid`` and of every process of its tree (``tree``), summed."""
    return sum(private_bytes(p) for p in tree(pid))


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``'s process group, then each process of its tree."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for other in tree(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(other, signal.SIGKILL)
