"""The urllib3 pool manager a git fetch over http(s) goes through (dulwich takes it as is): every
connection to an address the policy looked up and checked, redirects followed by hand and only on
the repository's host (never from https to http), the token only to its origin, a connect/read
timeout on every request, and a byte cap and the run's deadline on what the fetch reads."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as u3conn

from sources.addresses import AddressPolicy, Refused
from sources.egress import DEADLINE_PASSED, Tripwire, passed, remaining
from sources.types import BoundToken

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class WireStop(Exception):
    """The fetch was stopped: a refused hop, too many bytes, the deadline. The message says why."""


def _pinned_connect(
    policy: AddressPolicy, conn: HTTPConnection, tripwire: Tripwire | None
) -> socket.socket:
    """A socket to one of the checked addresses of ``conn``'s host (never a lookup of its own);
    TLS, set up after, still verifies the certificate against the host name. ``tripwire`` cuts
    it at the run's deadline."""
    last: OSError | None = None
    for addr in policy.addresses(conn._dns_host, conn.port):  # noqa: SLF001 - the host as given
        try:
            sock = u3conn.create_connection(
                (addr, conn.port),
                conn.timeout,  # type: ignore[arg-type]
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as e:
            raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out") from e
        except OSError as e:
            last = e
            continue
        if tripwire is not None:
            tripwire.watch(sock)
        return sock
    raise NewConnectionError(conn, f"Failed to establish a new connection: {last}")


def _pools(policy: AddressPolicy, tripwire: Tripwire | None) -> dict[str, type[HTTPConnectionPool]]:
    class Conn(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _pinned_connect(policy, self, tripwire)

    class TLSConn(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _pinned_connect(policy, self, tripwire)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConn

    return {"http": Pool, "https": TLSPool}


class GitWire(urllib3.PoolManager):
    """One fetch's pool manager. :param url: the repository's URL (redirects stay on its host).
    :param max_bytes: most bytes all responses of the fetch may give.
    :param deadline: a ``time.monotonic()`` value the fetch stops at."""

    def __init__(
        self,
        policy: AddressPolicy,
        url: str,
        token: BoundToken | None,
        timeout: float,
        max_bytes: int,
        deadline: float | None,
    ) -> None:
        super().__init__(retries=False)  # no retry and no redirect behind our back
        self.tripwire = Tripwire(deadline)  # cuts a connection still open at the deadline
        self.pool_classes_by_scheme = _pools(policy, self.tripwire)
        self._policy = policy
        self._host = (urlsplit(url).hostname or "").lower()
        self._token = token
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._deadline = deadline
        self.received = 0

    def _admit(self, url: str, previous: str | None) -> None:
        try:
            self._policy.check_listed(url)
        except Refused as e:
            raise WireStop(f"refused: {e}") from e
        parts = urlsplit(url)
        if (parts.hostname or "").lower() != self._host:
            raise WireStop(f"refused: the repository redirects to another host ({parts.hostname})")
        downgrade = previous is not None and urlsplit(previous).scheme == "https"
        if downgrade and parts.scheme != "https":
            raise WireStop("refused: the repository redirects from https to plain http")

    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        headers = dict(kw.pop("headers", None) or {})
        kw.pop("timeout", None)
        previous: str | None = None
        for _hop in range(MAX_REDIRECTS + 1):
            self._admit(url, previous)
            wait = remaining(self._deadline, self._timeout)
            if wait <= 0:
                raise WireStop(DEADLINE_PASSED)
            hop = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if self._token is not None and self._token.sent_to(url):
                basic = base64.b64encode(f"x-access-token:{self._token.value}".encode()).decode()
                hop["Authorization"] = f"Basic {basic}"
            try:
                resp = super().urlopen(
                    method,
                    url,
                    redirect=False,
                    retries=False,
                    headers=hop,
                    timeout=urllib3.Timeout(connect=wait, read=wait),
                    **kw,
                )
            except Refused as e:  # the connection's lookup answered a refused address
                raise WireStop(f"refused: {e}") from e
            location = resp.get_redirect_location() if resp.status in REDIRECTS else None
            if not location:
                resp.url = url  # dulwich takes a changed URL for the redirect it followed
                self._count(resp)
                return resp
            resp.drain_conn()
            resp.release_conn()
            if method != "GET":
                raise WireStop(f"refused: the repository redirects a {method} request")
            previous, url = url, urljoin(url, location)
        raise WireStop(f"more than {MAX_REDIRECTS} redirects")

    def _count(self, resp: urllib3.BaseHTTPResponse) -> None:
        """Make ``resp.read`` (all dulwich calls) count against the cap and watch the deadline."""
        read: Callable[..., bytes] = resp.read

        def counted(*args: Any, **kwargs: Any) -> bytes:
            data = read(*args, **kwargs)
            self.received += len(data)
            if self.received > self._max_bytes:
                raise WireStop(
                    f"the fetch passed its limit of {self._max_bytes} bytes "
                    "(ASKDOCS_SOURCES_GIT_MAX_BYTES)"
                )
            if passed(self._deadline):
                raise WireStop(DEADLINE_PASSED)
            return data

        resp.read = counted  # type: ignore[method-assign]
