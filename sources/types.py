"""What a connector hands the sync: one ``Entry`` per thing the source holds, in a ``Scan``."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True)
class BoundToken:
    """A source's stored token and the one origin (``https://host[:port]``) it may be sent to: a
    connector sends it only to that scheme, host and port, never over plain http, never to a
    redirect's or a link's other host."""

    value: str
    origin: str  # "https://host" or "https://host:port", lower case

    def sent_to(self, url: str) -> bool:
        """Whether ``url`` is the token's origin (https only)."""
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            return False
        try:
            port = parts.port or 443
        except ValueError:
            return False
        return origin_of(url) == self.origin and port == (urlsplit(self.origin).port or 443)

    def __repr__(self) -> str:  # never print the secret
        return f"BoundToken(origin={self.origin!r})"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower case, the default port left out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class SourceUnavailable(RuntimeError):
    """The source as a whole could not be read (folder missing, site or repository unreachable):
    the run fails and nothing is deleted."""


@dataclass(frozen=True)
class Known:
    """What the last run recorded of one origin."""

    fingerprint: str | None
    meta: Mapping[str, Any]


@dataclass
class Entry:
    """One document of the source. ``read`` returns its bytes; None when the source said it did
    not change (HTTP 304). ``error`` set: it could not be fetched this time (kept as it was)."""

    origin: str  # a path under the root, or a URL: unique within the source
    name: str  # the document's name in the collection
    fingerprint: str | None
    read: Callable[[], bytes] | None = None
    content_type: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Scan:
    """A connector's answer. ``entries`` is consumed once. When ``complete`` is still True after it
    is consumed, the entries were everything the source holds and every origin not among them is
    gone; otherwise only ``gone`` is (an incremental listing, or one that met errors)."""

    entries: Iterator[Entry]
    complete: bool = True
    gone: list[str] = field(default_factory=list)
    skipped: int = 0
    state: dict[str, Any] = field(default_factory=dict)  # kept for the next run once this one ends
    # Set when the listing cannot be trusted to say what is gone (robots.txt refused, a page's
    # links could not be read, the folder is on another device than before): the run deletes
    # nothing and ends ``held`` with this reason.
    doubt: str | None = None
    close: Callable[[], None] | None = None  # the connector's resources, once the run is done
    # Whether the sync may take a page of entries before it handles them (their items are read
    # in one query). False where each entry already holds its bytes (a web page's body): then
    # entries are taken one at a time, so that no more than one body is held.
    read_ahead: bool = True


class Connector(Protocol):
    def scan(self, previous: Mapping[str, Known]) -> Scan: ...


def wanted(path: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """``path`` (POSIX, relative, or a URL's path) passes the globs: some ``include`` matches (or
    there are none) and no ``exclude`` does. ``*`` matches across ``/`` (fnmatch)."""
    base = path.rsplit("/", 1)[-1]
    if include and not any(fnmatch.fnmatch(path, g) or fnmatch.fnmatch(base, g) for g in include):
        return False
    return not any(fnmatch.fnmatch(path, g) or fnmatch.fnmatch(base, g) for g in exclude)
