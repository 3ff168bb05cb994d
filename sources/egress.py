"""What the web and git connectors share about going out: the token bound to its origin, error text
with the token scrubbed out, and the run's deadline."""

from __future__ import annotations

import base64
import os
import re
import socket
import threading
import time
from urllib.parse import urlsplit

from sources.types import BoundToken, origin_of

DEADLINE_PASSED = "the run passed its deadline"
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def bind(token: BoundToken | str | None, url: str) -> BoundToken | None:
    """A token as the connectors use it: a plain string is bound to ``url``'s origin when that is
    https, and dropped otherwise (it would cross the network in clear)."""
    if token is None or isinstance(token, BoundToken):
        return token
    if not token or urlsplit(url).scheme.lower() != "https":
        return None
    return BoundToken(token, origin_of(url))


def scrub(text: str, token: BoundToken | None) -> str:
    """``text`` without the token (as written, and as Basic credentials) or any URL's userinfo."""
    text = _USERINFO.sub("***@", text)
    if token is not None and token.value:
        basic = base64.b64encode(f"x-access-token:{token.value}".encode()).decode()
        for form in (token.value, basic, repr(token.value)[1:-1], repr(token.value.encode())[2:-1]):
            text = text.replace(form, "***")
    return text


def remaining(deadline: float | None, cap: float) -> float:
    """Seconds a network wait may last: ``cap``, or less when the deadline is nearer; 0 past it."""
    if deadline is None:
        return cap
    return max(0.0, min(cap, deadline - time.monotonic()))


def passed(deadline: float | None) -> bool:
    """Whether ``deadline`` (a ``time.monotonic()`` value) has passed."""
    return deadline is not None and time.monotonic() >= deadline


class Tripwire:
    """Cuts the connections it watches when the run's deadline passes, wherever they are: a
    server that drips its answer one byte at a time within every read timeout is stopped by the
    clock, not by each read. Sockets are remembered by descriptor and inode and shut down (not
    closed: their owner still closes them), so a descriptor reused meanwhile is never touched."""

    def __init__(self, deadline: float | None) -> None:
        self._socks: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._tripped = False
        self._timer: threading.Timer | None = None
        if deadline is not None:
            self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self.trip)
            self._timer.daemon = True
            self._timer.start()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        fd = sock.fileno()
        if fd < 0:
            return
        with self._lock:
            self._socks.append((fd, os.fstat(fd).st_ino))
            tripped = self._tripped
        if tripped:
            self._cut(fd, os.fstat(fd).st_ino)

    def trip(self) -> None:
        with self._lock:
            self._tripped = True
            socks, self._socks = self._socks, []
        for fd, ino in socks:
            self._cut(fd, ino)

    @staticmethod
    def _cut(fd: int, ino: int) -> None:
        try:
            copy = os.dup(fd)  # first: the number cannot be reused under a copy being checked
        except OSError:
            return
        try:
            if os.fstat(copy).st_ino != ino:
                os.close(copy)
                return  # closed, and the number reused by something else
            dup = socket.socket(fileno=copy)
        except OSError:
            os.close(copy)
            return
        try:
            dup.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            dup.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._socks = []
