"""The data dir is the service user's alone: it holds secret.key, the catalog, the indexes and
every original, and a parse child (its own user) or any other local user must read none of them."""

from __future__ import annotations

import os
from pathlib import Path


def make_private(path: Path) -> Path:
    """Create ``path`` (mode 0700) or, when this user owns it, take group and others' access to it
    away; a data dir owned by another user (a mounted volume) is left as its owner made it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        path.chmod(0o700)
    return path
