"""Zip archives: each file inside becomes a document of its own (linked to the archive), the way an
e-mail's attachments do. The bomb guards (``ingest.guards``) have checked the archive before this."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from ingest.types import Attachment, Block

MAX_FILES = 1000
_SKIP_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db"}


def is_archive(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def members(path: Path) -> list[Attachment]:
    """The files of the archive (folders, hidden and OS-metadata files left out), in order."""
    found: list[Attachment] = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            clean = [p for p in parts if p not in ("", ".", "..")]
            if (
                info.is_dir()
                or not clean
                or any(p in _SKIP_PARTS or p.startswith(".") for p in clean)
            ):
                continue
            data = z.read(info)
            if data:
                found.append(Attachment("/".join(clean), data))
            if len(found) >= MAX_FILES:
                break
    return found


def listing(name: str, files: list[Attachment]) -> Block:
    """The archive's own text: what it holds, so a search for a file name finds it."""
    shown = "\n".join(f"- {f.name}" for f in files[:200])
    more = f"\n(and {len(files) - 200} more)" if len(files) > 200 else ""
    return Block(f"Archive {name} holds {len(files)} files:\n{shown}{more}", "list", None)
