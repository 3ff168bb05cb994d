"""Which directories of the server a source may read, and for whom: the operator's
``ASKDOCS_SOURCES_FOLDER_ROOTS``.

The setting is a comma-separated list of entries. An entry is a directory, optionally followed by
``=`` and who may sync under it, separated by ``|``: a collection's name, ``@user`` for a user's
sources in any collection they may write, or ``*`` for everyone::

    /srv/shares/hr=hr|hr-archive, /srv/shares/wiki=*, /srv/git=@alice, /srv/admin-only

A directory without ``=`` is open to admins only. Admins may use every root. A grant to a
collection's name holds only while an admin owns that collection (a name is free for anyone to
take; an admin makes the collection and gives its members their roles), and a grant to a user
only in collections that user may write. A folder source (or a
git repository given by path) is checked when it is added or changed, and again at every run,
against the directory the run really opened (``check_opened``), so a folder swapped for a symlink
between two runs reads nothing outside its root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

EVERYONE = "*"


class PathRefused(PermissionError):
    """A server path a source may not read (for this caller); the message says why."""


@dataclass(frozen=True)
class Root:
    path: Path  # resolved
    collections: frozenset[str] = field(default_factory=frozenset)
    users: frozenset[str] = field(default_factory=frozenset)
    everyone: bool = False

    def admits(self, collection: str, user: str | None, admin: bool, admin_owned: bool) -> bool:
        if admin or self.everyone:
            return True
        if admin_owned and collection in self.collections:
            return True
        return user is not None and user in self.users


def parse_roots(text: str) -> list[Root]:
    """The roots the setting names (resolved; entries that are blank are ignored)."""
    roots = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        path, _, grants = entry.partition("=")
        names = [g.strip() for g in grants.split("|") if g.strip()]
        roots.append(
            Root(
                Path(path.strip()).resolve(),
                collections=frozenset(n for n in names if not n.startswith("@") and n != EVERYONE),
                users=frozenset(n[1:] for n in names if n.startswith("@") and len(n) > 1),
                everyone=EVERYONE in names,
            )
        )
    return roots


@dataclass(frozen=True)
class ServerPaths:
    """The operator's roots and askdocs' own data directory (never readable by a source)."""

    roots: tuple[Root, ...]
    data_dir: Path

    @classmethod
    def from_setting(cls, folder_roots: str, data_dir: Path) -> ServerPaths:
        return cls(tuple(parse_roots(folder_roots)), data_dir.resolve())

    def check(
        self, path: str, collection: str, user: str | None, admin: bool, admin_owned: bool
    ) -> Path:
        """``path`` resolved, if ``user`` (an admin or not) may have it synced into
        ``collection`` (owned by an admin or not); else ``PathRefused`` with the reason."""
        if ":" in path:
            # dulwich reads "host:path" as an ssh address; no directory name needs one here
            raise PathRefused(f"{path[:200]}: a server path may not contain ':'")
        if not self.roots:
            raise PathRefused(
                "no folder of this server is open to sources: the operator lists the directories "
                "sources may read in ASKDOCS_SOURCES_FOLDER_ROOTS"
            )
        return self._admitted(Path(path).resolve(), collection, user, admin, admin_owned, path)

    def check_opened(
        self, real: Path, collection: str, user: str | None, admin: bool, admin_owned: bool
    ) -> None:
        """The directory a run actually opened (its path read back from the open descriptor)."""
        self._admitted(real, collection, user, admin, admin_owned, str(real))

    def _admitted(
        self,
        real: Path,
        collection: str,
        user: str | None,
        admin: bool,
        admin_owned: bool,
        shown: str,
    ) -> Path:
        data = self.data_dir
        if real.is_relative_to(data) or data.is_relative_to(real):
            raise PathRefused(
                f"{shown[:200]} holds askdocs' own data directory (keys, catalog, originals)"
            )
        under = [r for r in self.roots if real.is_relative_to(r.path)]
        if not under:
            raise PathRefused(
                f"{shown[:200]} is outside the directories open to sources "
                "(ASKDOCS_SOURCES_FOLDER_ROOTS)"
            )
        if not any(r.admits(collection, user, admin, admin_owned) for r in under):
            raise PathRefused(
                f"{shown[:200]} is not open to the collection {collection!r}: an admin adds the "
                "source, or the operator grants the directory to the collection in "
                "ASKDOCS_SOURCES_FOLDER_ROOTS (DIR=collection)"
            )
        return real


def opened_path(fd: int) -> Path:
    """The path of the directory ``fd`` is open on, as the kernel knows it now."""
    return Path(os.readlink(f"/proc/self/fd/{fd}"))
