"""Reading a file that someone else controls (a parse child, a synced repository): never through
a symbolic link, only a regular file (not a FIFO that blocks, not /dev/zero), never more than a
bound."""

from __future__ import annotations

import os
import stat
from pathlib import Path

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeFile(ValueError):
    """Not a regular file, or over the bound; the message says which."""


def read_regular(name: str | Path, limit: int, dir_fd: int | None = None) -> bytes:
    """The bytes of the regular file ``name`` (relative to ``dir_fd`` when given), at most
    ``limit``; ``OSError`` (ELOOP for a link, ENOENT...) or ``UnsafeFile`` otherwise."""
    fd = os.open(name, _FLAGS, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{Path(name).name} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"{Path(name).name} is over {limit} bytes")
    return data


def fsync_dir(path: str | Path) -> None:
    """Flush ``path``'s entries (a name just created, renamed into it or unlinked) to disk: a file's
    own fsync does not make its name durable (POSIX; ext4 and XFS lose a fresh rename without it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
