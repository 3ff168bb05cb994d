"""Originals on disk, named by the sha256 of their bytes (never by the name a user gave).

A file under its hash name is complete: bytes go to a temporary file, which is flushed to disk
(``fsync``) before it is renamed into place, and the directory holding the new name is flushed
after. A crash at any point leaves either no file under the name or the whole file (and maybe a
``.tmp-*`` file, which the blob sweep removes). A file already under the name is checked by its
size before it is trusted: a file of the wrong size (one truncated by a crash of an older writer
that never flushed) is replaced. Same-size damage (the disk's own) is not looked for on every
write, which would read a large original again at each duplicate upload; ``askdocs check --deep``
re-hashes every original.

Nobody deletes an original while a document may still use it: that is the catalog's business
(``core.blob_refs`` for writers, ``core.blob_sweep`` for the unlink).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from core import failpoints
from core.files import fsync_dir

# Bytes read and written at a time: memory per stored stream is this, whatever its size.
PIECE = 1 << 20
TMP_PREFIX = ".tmp-"
SHA256 = re.compile(r"[0-9a-f]{64}")


class TooLarge(ValueError):
    """A stream passed the size it was allowed; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than the limit of {limit} bytes")
        self.limit = limit


def file_sha256(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The sha256 of a file's bytes, read in pieces; ``progress`` gets each piece's size."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(PIECE):
            digest.update(piece)
            if progress is not None:
                progress(len(piece))
    return digest.hexdigest()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not SHA256.fullmatch(sha256):  # never a path from outside
            raise ValueError(f"not a sha256: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256

    def intact(self, sha256: str, size: int) -> bool:
        """An original of these bytes is stored, of the right size."""
        try:
            return self.path(sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    def put(self, data: bytes) -> str:
        """Store bytes durably; return their sha256. Storing the same bytes again rewrites only a
        damaged copy."""
        digest = hashlib.sha256(data).hexdigest()
        if self.intact(digest, len(data)):
            return digest
        shard = self._shard(digest)
        fd, tmp = tempfile.mkstemp(dir=shard, prefix=TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._place(Path(tmp), digest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def put_stream(self, stream: BinaryIO, limit: int) -> tuple[str, int]:
        """Store what ``stream`` holds, read from where it is in pieces of ``PIECE`` bytes and
        hashed on the way; return (sha256, size). Past ``limit`` bytes it raises ``TooLarge`` and
        keeps nothing."""
        self.root.mkdir(parents=True, exist_ok=True)
        # in the store's root (its shard is known only at the end): one file system, so the
        # rename into the shard is atomic
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=TMP_PREFIX)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                while piece := stream.read(PIECE):
                    size += len(piece)
                    if size > limit:
                        raise TooLarge(limit)
                    digest.update(piece)
                    f.write(piece)
                f.flush()
                os.fsync(f.fileno())
            sha = digest.hexdigest()
            if self.intact(sha, size):
                Path(tmp).unlink()
            else:
                self._shard(sha)
                self._place(Path(tmp), sha)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha, size

    def delete(self, sha256: str) -> None:
        """Remove an original (only the blob sweep calls this, once no document uses it)."""
        self.path(sha256).unlink(missing_ok=True)

    def _shard(self, sha256: str) -> Path:
        """The directory of ``sha256``, made (and its entry flushed) if new."""
        shard = self.path(sha256).parent
        if not shard.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            shard.mkdir(exist_ok=True)
            fsync_dir(self.root)
        return shard

    def _place(self, tmp: Path, sha256: str) -> None:
        """Rename a complete, flushed file to ``sha256``'s name, then flush the rename."""
        dest = self.path(sha256)
        failpoints.hit("blobs.before_rename")
        os.replace(tmp, dest)
        failpoints.hit("blobs.before_dir_sync")
        fsync_dir(dest.parent)
