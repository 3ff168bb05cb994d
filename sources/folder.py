"""A directory on the server (a mounted share): every file under it, by relative path; the
fingerprint is size + mtime.

Nothing outside the directory is ever read, whatever changes on disk during a run: the root is
opened once and checked where it really is (``ServerPaths.check_opened``, against the path read
back from the open descriptor), the walk goes down by directory descriptors without following
symbolic links (``os.fwalk``), and each file is opened from the root one component at a time with
``O_NOFOLLOW`` and checked with ``fstat``. Symbolic links are skipped, wherever they point.

A share that is not mounted looks like an empty directory: an optional marker file must exist for
the listing to count, and a root that moved to another device since the last run makes the
listing doubtful (the run deletes nothing; see ``sources.sync``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from sources.config import FolderConfig
from sources.types import Entry, Known, Scan, SourceUnavailable, wanted

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

# (the resolved root actually opened) -> raises when the source may not read it
RootCheck = Callable[[Path], None]


def open_beneath(root_fd: int, rel: str) -> int:
    """A descriptor of the regular file ``rel`` under ``root_fd``, reached without following a
    symbolic link at any step; OSError otherwise."""
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise OSError(f"{rel!r} is not a path inside the folder")
    here = root_fd
    opened: list[int] = []
    try:
        for part in parts[:-1]:
            here = os.open(part, DIR_FLAGS, dir_fd=here)
            opened.append(here)
        fd = os.open(parts[-1], FILE_FLAGS, dir_fd=here)
    finally:
        for d in opened:
            os.close(d)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{rel} is not a regular file")
    return fd


READ_PIECE = 2**20


def read_beneath(root_fd: int, rel: str, max_bytes: int) -> bytes:
    """The bytes of ``rel`` under ``root_fd``; ValueError past ``max_bytes``. Read in pieces: a
    single read of ``max_bytes + 1`` sets that much memory aside whatever the file's size."""
    fd = open_beneath(root_fd, rel)
    pieces: list[bytes] = []
    total = 0
    with os.fdopen(fd, "rb") as f:
        os.set_blocking(fd, True)
        while total <= max_bytes:
            piece = f.read(min(READ_PIECE, max_bytes + 1 - total))
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
    if total > max_bytes:
        raise ValueError(f"{rel} is over the limit of {max_bytes} bytes")
    return b"".join(pieces)


class FolderConnector:
    def __init__(
        self,
        config: FolderConfig,
        max_bytes: int,
        check_root: RootCheck,
        state: Mapping[str, object] | None = None,
    ) -> None:
        self._config = config
        self._max_bytes = max_bytes
        self._check_root = check_root
        self._state = state or {}

    def scan(self, previous: Mapping[str, Known]) -> Scan:
        cfg = self._config
        real = Path(cfg.path).resolve()
        try:
            root_fd = os.open(real, DIR_FLAGS)
        except OSError as e:
            raise SourceUnavailable(
                f"{cfg.path} is not a directory on the server (or not mounted): {e.strerror or e}"
            ) from e
        try:
            opened = Path(os.readlink(f"/proc/self/fd/{root_fd}"))
            self._check_root(opened)  # where the descriptor really is, whatever the path said
            if cfg.marker:
                try:
                    os.close(open_beneath(root_fd, cfg.marker))
                except OSError as e:
                    raise SourceUnavailable(
                        f"the marker file {cfg.marker} is missing from {cfg.path} (is the share "
                        "mounted?): nothing was read and nothing is deleted"
                    ) from e
            device = os.fstat(root_fd).st_dev
        except BaseException:
            os.close(root_fd)
            raise
        scan = Scan(iter(()), state={"device": device}, close=lambda: os.close(root_fd))
        before = self._state.get("device")
        if isinstance(before, int) and before != device and previous:
            scan.doubt = (
                f"{cfg.path} is on another device than at the last run (a share unmounted or "
                "mounted elsewhere?)"
            )
        scan.entries = self._walk(root_fd, scan)
        return scan

    def _walk(self, root_fd: int, scan: Scan) -> Iterator[Entry]:
        cfg = self._config

        def on_error(e: OSError) -> None:
            scan.complete = False  # an unreadable folder: what it held is not gone
            scan.skipped += 1

        walk = os.fwalk(".", onerror=on_error, follow_symlinks=False, dir_fd=root_fd)
        for dirpath, dirnames, filenames, dir_fd in walk:
            prefix = "" if dirpath == "." else dirpath.removeprefix("./") + "/"
            dirnames[:] = sorted(d for d in dirnames if cfg.hidden or not d.startswith("."))
            for f in sorted(filenames):
                if not cfg.hidden and f.startswith("."):
                    continue
                rel = prefix + f
                if not wanted(rel, cfg.include, cfg.exclude):
                    continue
                try:
                    st = os.stat(f, dir_fd=dir_fd, follow_symlinks=False)
                except OSError as e:
                    yield Entry(rel, rel, None, error=f"cannot read {rel}: {e.strerror or e}")
                    continue
                if stat.S_ISLNK(st.st_mode):
                    scan.skipped += 1  # never followed: it could point anywhere
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if st.st_size > self._max_bytes:
                    yield Entry(
                        rel,
                        rel,
                        None,
                        error=f"{rel} is {st.st_size} bytes, over the limit of {self._max_bytes}",
                    )
                    continue
                yield Entry(
                    origin=rel,
                    name=rel,
                    fingerprint=f"{st.st_size}:{st.st_mtime_ns}",
                    read=lambda r=rel: read_beneath(root_fd, r, self._max_bytes),
                )
