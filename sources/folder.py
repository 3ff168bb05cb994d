"""A directory on the server (a mounted share): every file under it, by relative path; the
fingerprint is size + mtime. Symlinks are followed only when they stay inside the root."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from sources.config import FolderConfig
from sources.types import Entry, Known, Scan, SourceUnavailable, wanted


class FolderConnector:
    def __init__(self, config: FolderConfig, max_bytes: int) -> None:
        self._config = config
        self._max_bytes = max_bytes

    def scan(self, previous: Mapping[str, Known]) -> Scan:
        root = Path(self._config.path)
        if not root.is_dir():
            raise SourceUnavailable(f"{root} is not a directory on the server (or not mounted)")
        real_root = root.resolve()
        scan = Scan(iter(()))
        scan.entries = self._walk(root, real_root, scan)
        return scan

    def _inside(self, path: Path, real_root: Path) -> bool:
        try:
            return path.resolve().is_relative_to(real_root)
        except OSError:
            return False

    def _walk(self, root: Path, real_root: Path, scan: Scan) -> Iterator[Entry]:
        cfg = self._config

        def on_error(e: OSError) -> None:
            scan.complete = False  # an unreadable folder: what it held is not gone
            scan.skipped += 1

        for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
            here = Path(dirpath)
            keep = []
            for d in sorted(dirnames):
                if not cfg.hidden and d.startswith("."):
                    continue
                # a symlinked folder is walked only when it points inside the root
                if (here / d).is_symlink() and not self._inside(here / d, real_root):
                    scan.skipped += 1
                    continue
                keep.append(d)
            dirnames[:] = keep
            for f in sorted(filenames):
                if not cfg.hidden and f.startswith("."):
                    continue
                path = here / f
                rel = path.relative_to(root).as_posix()
                if not wanted(rel, cfg.include, cfg.exclude):
                    continue
                if path.is_symlink() and not self._inside(path, real_root):
                    scan.skipped += 1
                    continue
                try:
                    st = path.stat()
                except OSError as e:
                    yield Entry(rel, rel, None, error=f"cannot read {rel}: {e.strerror or e}")
                    continue
                if not path.is_file():
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
                    read=lambda p=path: p.read_bytes(),
                )
