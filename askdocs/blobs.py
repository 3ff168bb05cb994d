"""Originals on disk, named by the sha256 of their bytes (never by the name a user gave)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store bytes atomically; return their sha256. Storing the same bytes twice is a no-op."""
        digest = hashlib.sha256(data).hexdigest()
        dest = self.path(digest)
        if dest.exists():
            return digest
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
        return digest

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
