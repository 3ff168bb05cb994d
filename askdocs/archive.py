"""The files of a backup on disk: written private (directories 0700, files 0600, under a umask
that leaves no moment when they are readable by others), listed with their sha256 and size, and
read back without following a symbolic link or leaving the directory they belong to.

A backup is handed to a backup system and may come back from anywhere, so restore trusts no path
and no byte of it until every file matches the list its manifest holds.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_CHUNK = 1 << 20
# O_NOFOLLOW: a symbolic link as the last part of a path fails with ELOOP instead of being read.
_READ = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class BackupError(RuntimeError):
    """A backup or restore that cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class FileEntry:
    """What the manifest says of one file: its sha256 (hex) and its size in bytes."""

    sha256: str
    size: int


@contextmanager
def private_umask() -> Iterator[None]:
    """Everything made inside is readable by its owner only (the umask is per process: a backup
    is a command of its own, not a thread of the service)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def make_dirs(path: Path) -> None:
    """``path`` and its missing parents, each made 0700 (an existing one is left as it is)."""
    if path.is_dir() and not path.is_symlink():
        return
    if not path.parent.exists():
        make_dirs(path.parent)
    try:
        os.mkdir(path, PRIVATE_DIR)
    except FileExistsError:
        if path.is_symlink() or not path.is_dir():
            raise BackupError(f"{path} is not a directory") from None


def _open_regular(path: Path) -> int:
    """A descriptor on the regular file ``path``; a symbolic link or anything else is refused."""
    try:
        fd = os.open(path, _READ)
    except OSError as e:
        if path.is_symlink():
            raise BackupError(f"{path} is a symbolic link: refused") from None
        raise BackupError(f"cannot read {path}: {e.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BackupError(f"{path} is not a regular file: refused")
    return fd


def copy_private(src: Path, dst: Path) -> FileEntry:
    """Copy the regular file ``src`` to the new file ``dst`` (0600, parents 0700), following no
    symbolic link at either end; the sha256 and size of the bytes written."""
    make_dirs(dst.parent)
    digest, size = hashlib.sha256(), 0
    fd_in = _open_regular(src)
    try:
        fd_out = os.open(dst, _CREATE, PRIVATE_FILE)
        try:
            while chunk := os.read(fd_in, _CHUNK):
                digest.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd_out, view) :]
            os.fsync(fd_out)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
    return FileEntry(digest.hexdigest(), size)


def create_private(path: Path) -> int:
    """A descriptor on the new file ``path``, made 0600 (parents 0700); it must not exist."""
    make_dirs(path.parent)
    return os.open(path, _CREATE, PRIVATE_FILE)


def write_private(path: Path, data: bytes) -> None:
    fd = create_private(path)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file ``path`` (a symbolic link is refused)."""
    with os.fdopen(_open_regular(path), "rb") as f:
        return f.read()


def open_regular(path: Path) -> int:
    """A descriptor on the regular file ``path`` for reading (a symbolic link is refused)."""
    return _open_regular(path)


def hash_file(path: Path) -> FileEntry:
    fd = _open_regular(path)
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return FileEntry(digest.hexdigest(), size)


def copy_tree_private(src: Path, dst: Path, ignore: Callable[[str], bool]) -> None:
    """Copy the directory ``src`` to ``dst`` with ``copy_private``; names ``ignore`` picks are
    left out; a symbolic link inside is refused."""
    make_dirs(dst)
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        if ignore(entry.name):
            continue
        if entry.is_symlink():
            raise BackupError(f"{entry.path} is a symbolic link: refused")
        if entry.is_dir(follow_symlinks=False):
            copy_tree_private(Path(entry.path), dst / entry.name, ignore)
        else:
            copy_private(Path(entry.path), dst / entry.name)


def safe_relative(name: str) -> PurePosixPath:
    """``name`` as a path inside a directory: relative, no ``..``, no empty or ``.`` parts."""
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or any(p in ("", ".", "..") for p in name.split("/"))
    ):
        raise BackupError(f"the manifest names {name!r}, which is not a path inside the backup")
    return path


def inventory(root: Path, leave_out: frozenset[str] = frozenset()) -> dict[str, FileEntry]:
    """Every file under ``root`` by its path relative to it ('/'-separated), with its sha256 and
    size; ``leave_out`` names top-level files not listed. A symbolic link (to a file or a
    directory) or a special file anywhere is refused."""
    found: dict[str, FileEntry] = {}

    def walk(directory: Path, prefix: str) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            rel = prefix + entry.name
            if entry.is_symlink():
                raise BackupError(f"{rel} in {root} is a symbolic link: refused")
            if entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), rel + "/")
            elif entry.is_file(follow_symlinks=False):
                if rel not in leave_out:
                    found[rel] = hash_file(Path(entry.path))
            else:
                raise BackupError(f"{rel} in {root} is not a regular file: refused")

    if root.is_symlink() or not root.is_dir():
        raise BackupError(f"{root} is not a directory")
    walk(root, "")
    return found


def verify(root: Path, expected: dict[str, FileEntry], leave_out: frozenset[str]) -> None:
    """Refuse unless the files under ``root`` are exactly ``expected``, byte for byte."""
    for name in expected:
        safe_relative(name)
    found = inventory(root, leave_out)
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(n for n in set(found) & set(expected) if found[n] != expected[n])
    problems = [
        f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
        for label, names in (("missing", missing), ("not listed", extra), ("changed", changed))
        if names
    ]
    if problems:
        raise BackupError(
            f"{root} does not match its manifest ({'; '.join(problems)}): it was damaged or "
            "altered after it was made; nothing was restored"
        )


def copy_listed(root: Path, name: str, target: Path, expected: FileEntry, drop: int = 0) -> None:
    """Copy the file ``name`` (a manifest path) of the backup at ``root`` to ``target`` joined
    with that path less its first ``drop`` parts; refused when the path would leave ``target``
    or the bytes differ from ``expected`` (changed since ``verify``)."""
    rel = safe_relative(name)
    if len(rel.parts) <= drop:
        raise BackupError(f"the manifest names {name!r} where a file in a directory belongs")
    dst = target.joinpath(*rel.parts[drop:])
    # resolve() follows the links of the part that exists: a link planted in the target is seen
    if not dst.parent.resolve().is_relative_to(target.resolve()):
        raise BackupError(f"{name} would be written outside {target}: refused")
    got = copy_private(root.joinpath(*rel.parts), dst)
    if got != expected:
        raise BackupError(
            f"{name} changed while it was restored: restore again into a new data dir"
        )
