"""A git repository given by a path on the server, opened so that a fetch reads nothing outside
the root it was granted under.

A repository can point elsewhere in several ways git itself follows: ``.git`` as a symbolic link
or as a ``gitdir:`` file (at its top, or inside its git directory), a ``commondir`` file,
``objects/info/alternates``, a config that includes other files, or a link anywhere in its
directories. The repository's directory is opened once, checked where it really is
(``check_root``), refused if it holds any of those, and handed to dulwich as the open descriptor's
``/proc/self/fd/N`` path, so a directory swapped for a link after the check is not what is read.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from core.files import UnsafeFile, read_regular
from sources.config import GitConfig
from sources.folder import DIR_FLAGS, RootCheck
from sources.types import Known, Scan, SourceUnavailable

# files that make git read another directory
_POINTERS = ("commondir", "objects/info/alternates", "objects/info/http-alternates")
CONFIG_BYTES = 64 * 1024


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def open_git_dir(path: str, check_root: RootCheck) -> int:
    """A descriptor of the git directory of the repository at ``path`` (``path/.git``, or
    ``path`` itself when bare), after every check; ``SourceUnavailable`` with the reason."""
    try:
        top = os.open(Path(path).resolve(), DIR_FLAGS)
    except OSError as e:
        raise SourceUnavailable(
            f"{path} is not a directory on the server: {e.strerror or e}"
        ) from e
    try:
        check_root(Path(os.readlink(f"/proc/self/fd/{top}")))
        try:
            st = os.stat(".git", dir_fd=top, follow_symlinks=False)
        except FileNotFoundError:
            git = os.dup(top)  # a bare repository
        else:
            if not stat.S_ISDIR(st.st_mode):
                raise SourceUnavailable(
                    f"{path}/.git is a link or a gitdir file: a repository on the server must "
                    "hold its own .git directory"
                )
            git = os.open(".git", DIR_FLAGS, dir_fd=top)
    finally:
        os.close(top)
    try:
        for name in _POINTERS:
            if _exists(name, git):
                raise SourceUnavailable(
                    f"{path} reads objects from another directory ({name}): not synced"
                )
        _refuse_includes(path, git)
        for here, dirs, files, here_fd in os.fwalk(".", dir_fd=git, follow_symlinks=False):
            if ".git" in dirs or ".git" in files:  # dulwich would open that one instead
                raise SourceUnavailable(
                    f"{path}'s git directory holds a .git of its own: not synced"
                )
            for name in files:  # links to directories are listed as files here
                mode = os.stat(name, dir_fd=here_fd, follow_symlinks=False).st_mode
                if not stat.S_ISREG(mode):
                    raise SourceUnavailable(
                        f"{path}'s git directory holds a link or a special file "
                        f"({here}/{name}): not synced"
                    )
    except BaseException:
        os.close(git)
        raise
    return git


def _refuse_includes(path: str, git: int) -> None:
    """git's config may include other files (``[include]``, ``[includeIf]``), which dulwich reads
    wherever they are: a repository on the server may not."""
    try:
        text = read_regular("config", CONFIG_BYTES, dir_fd=git)
    except FileNotFoundError:
        return
    except (OSError, UnsafeFile) as e:
        raise SourceUnavailable(
            f"{path}'s git config cannot be read safely ({e}): not synced"
        ) from None
    if re.search(rb"^\s*\[\s*include", text, re.IGNORECASE | re.MULTILINE):
        raise SourceUnavailable(f"{path}'s git config includes other files: not synced")


class LocalGitConnector:
    """Opens the repository, then lets the git connector fetch from the opened directory."""

    def __init__(
        self, config: GitConfig, check_root: RootCheck, make: Callable[[GitConfig], object]
    ) -> None:
        self._config = config
        self._check_root = check_root
        self._make = make

    def scan(self, previous: Mapping[str, Known]) -> Scan:
        fd = open_git_dir(self._config.url, self._check_root)
        where = f"/proc/self/fd/{fd}"
        try:
            opened = self._config.model_copy(update={"url": where})
            return self._make(opened).scan(previous)  # type: ignore[attr-defined]
        except SourceUnavailable as e:
            raise SourceUnavailable(str(e).replace(where, self._config.url)) from None
        finally:
            os.close(fd)  # the fetch is done: what is read next comes from the mirror
