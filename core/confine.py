"""What a child process that reads untrusted files may do: resource limits, no network, and its own
unprivileged user. Ingestion's parse children (``ingest.sandbox``, ``ingest.parse_server``) and the
API's page renderer and LibreOffice conversions (``api.page_render``) are confined so.

The trusted side builds a ``Confinement`` from the settings and hands it to the child; the child
applies it once, right after it starts and before it reads a file (``apply``). The order matters:
the network namespace is made while the child still holds the privileges to make one, the limits
are set while it may still set any, and the user is dropped last, after which nothing of this can
be undone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import resource
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

NOBODY = 65534  # where no dedicated user exists
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38


@dataclass(frozen=True)
class Confinement:
    """The limits and the identity of one confined child (JSON-able: it travels in a request).

    :param uid: the user the child drops to; None keeps the worker's (a worker not run as root)
    :param address_space_bytes: RLIMIT_AS on top of the child's own size at its fork
    :param cpu_seconds: CPU seconds one request may use (RLIMIT_CPU holds two requests' worth)
    :param max_processes: RLIMIT_NPROC, set only with a dedicated user (it counts per real uid)
    """

    uid: int | None
    gid: int | None
    address_space_bytes: int
    cpu_seconds: int
    max_processes: int
    max_file_bytes: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Confinement:
        return cls(**data)


def parse_identity(user: str) -> tuple[int, int] | None:
    """(uid, gid) a confined child drops to when this process runs as root: ``user``'s, or nobody's
    when no such user exists; None when not root (the child keeps this process's user)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return NOBODY, NOBODY
    if entry.pw_uid == 0:
        return None
    return entry.pw_uid, entry.pw_gid


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> None:
    # os.unshare is Python 3.12+; the same system call through libc
    if _libc().unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _isolate_network() -> str | None:
    """Move this process into a network namespace of its own (no interface but a loopback that is
    down): as root directly, otherwise inside a user namespace of its own when the kernel lets
    unprivileged users make one. Must run while the process has one thread. The reason it could
    not, or None."""
    try:
        if os.geteuid() == 0:
            _unshare(CLONE_NEWNET)
            return None
        uid, gid = os.getuid(), os.getgid()
        _unshare(CLONE_NEWUSER | CLONE_NEWNET)
    except OSError as e:
        return (
            f"no network namespace ({e.strerror or e}): the child may open network connections; "
            "run it as root or allow unprivileged user namespaces"
        )
    # Show the same ids inside as outside. Files it writes are the worker's either way (the kernel
    # keeps the real ids); unmapped, the child only sees itself as uid 65534.
    with contextlib.suppress(OSError):
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    return None


def _vm_size() -> int:
    """This process's virtual size (bytes): what it maps before it reads a file."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _set(limit: int, soft: int, hard: int | None = None) -> None:
    resource.setrlimit(limit, (soft, soft if hard is None else hard))


def apply(confinement: Confinement, home: Path) -> list[str]:
    """Confine this (freshly forked, single-threaded) process; what could not be done, for the
    operator's log. Raises when the user cannot be dropped: such a child must not parse."""
    missing: list[str] = []
    network = _isolate_network()
    if network is not None:
        missing.append(network)
    _set(resource.RLIMIT_CORE, 0)
    _set(resource.RLIMIT_FSIZE, confinement.max_file_bytes)
    _set(resource.RLIMIT_AS, _vm_size() + confinement.address_space_bytes)
    # SIGXCPU at the soft limit, SIGKILL 5 s later; a child ends once a request took more than
    # cpu_seconds of its total, so each request it takes has at least cpu_seconds left
    cpu = 2 * confinement.cpu_seconds
    _set(resource.RLIMIT_CPU, cpu, cpu + 5)
    # no setuid program (su, a setuid helper) gives it privileges back
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if confinement.uid is None or confinement.gid is None:
        return missing
    # RLIMIT_NPROC counts every process of the real uid: only meaningful for a user of its own
    _set(resource.RLIMIT_NPROC, confinement.max_processes)
    os.chown(home, confinement.uid, confinement.gid)
    os.setgroups([])
    os.setgid(confinement.gid)
    os.setuid(confinement.uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise PermissionError("the confined child is still root")
    return missing


def cpu_used() -> float:
    """CPU seconds this process has used (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
