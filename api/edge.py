"""The API's edge: who is calling and how often, settled before a request's body is read.

``Edge`` is a pure ASGI middleware in front of the body limit and the routes. For every route but
the open ones it takes the ``Authorization: Bearer`` key from the headers, looks it up (a catalog
query, in a worker thread) and answers 401 or 429 without ever calling ``receive()``: the body of a
request nobody may make is never read, spooled or parsed. The caller it found is kept in
``scope["state"]``, where ``api.deps.current_principal`` takes it from (no second lookup).

Rate limits (``api.ratelimit``): a client address is counted for each request without a valid key,
before the key is looked up, so that a flood of made-up keys stops at one Redis command each; an
address past its limit gets 429 without a lookup. A valid key's request is taken back from its
address's count and counted against the key instead.

The open routes (/health, the API docs, a public /metrics) take no key, and none is looked up
there; every request to them counts against its address's open count (``open:<address>``, a
limit of its own, ``rate_limit_open_per_address``), on the event loop, so that /health, cheap as
it is, cannot be asked so often that it crowds out the routes behind a key. With auth off nothing
here applies.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.ratelimit import Hit, RateLimiter
from core.auth import Principal, authenticate
from core.catalog import Catalog
from core.settings import Settings

# Where the caller found by the edge waits for the routes: scope["state"][PRINCIPAL].
PRINCIPAL = "askdocs_principal"
KNOWN_KEYS = 10_000  # valid keys remembered per process (a revoked one is forgotten when seen)

Send = Callable[[dict[str, Any]], Awaitable[None]]

NO_KEY_MESSAGE = (
    "an API key is required: send 'Authorization: Bearer <key>' "
    "(make one with `askdocs key create USER`)"
)
BAD_KEY_MESSAGE = "the API key is unknown, revoked or mistyped"


async def send_error(
    send: Send,
    status: int,
    type_: str,
    message: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    close: bool = False,
) -> None:
    """Answer with the API's error envelope (``api.errors``) from an ASGI middleware; ``close``:
    end the connection after it (a request body that was not read is not waited for)."""
    envelope = {"error": {"type": type_, "message": message, "detail": None}}
    body = json.dumps(envelope, separators=(",", ":")).encode()  # as JSONResponse writes it
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Refusal:
    """An answer the edge gives instead of the route's."""

    status: int
    type: str
    message: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


CHALLENGE = ((b"www-authenticate", b"Bearer"),)
NO_KEY = Refusal(401, "unauthorized", NO_KEY_MESSAGE, CHALLENGE)
BAD_KEY = Refusal(401, "unauthorized", BAD_KEY_MESSAGE, CHALLENGE)


def too_many(hit: Hit, limit: int, window_s: int, whose: str) -> Refusal:
    return Refusal(
        429,
        "rate_limited",
        f"too many requests {whose}: at most {limit} in {window_s} s; "
        f"try again in {hit.retry_after} s",
        ((b"retry-after", str(hit.retry_after).encode()),),
    )


class Gate:
    """Decides one request from its client address and presented key: the caller, or a refusal.
    Blocking (a catalog query, Redis): run it in a worker thread."""

    def __init__(
        self,
        catalog: Catalog,
        limiter: RateLimiter | None,
        per_key: int,
        per_address: int,
    ) -> None:
        self.catalog, self.limiter = catalog, limiter
        self.per_key, self.per_address = per_key, per_address
        # keys (by SHA-256) that were valid lately, here or (through Redis) in another API
        # process: their holders are not held back by junk sent from the same address (a NAT, a
        # proxy, the UI's server)
        self._known: OrderedDict[bytes, str] = OrderedDict()
        self._known_lock = threading.Lock()

    def _known_as(self, digest: bytes) -> str | None:
        """The key id a key that was valid lately had, here or in another API process (None: not
        known)."""
        with self._known_lock:
            key = self._known.get(digest)
        if key is None and self.limiter is not None:
            key = self.limiter.known(digest)
            if key is not None:
                self._keep(digest, key)
        return key

    def _remember(self, digest: bytes, key: str | None) -> None:
        """What the lookup of a key found, here and for the other processes (written only when it
        changes what this process knew)."""
        with self._known_lock:
            changed = self._known.get(digest) != key
        if not changed:
            return
        if key is None:
            with self._known_lock:
                self._known.pop(digest, None)
        else:
            self._keep(digest, key)
        if self.limiter is not None:
            self.limiter.remember(digest, key)

    def _keep(self, digest: bytes, key: str) -> None:
        with self._known_lock:
            self._known[digest] = key
            self._known.move_to_end(digest)
            while len(self._known) > KNOWN_KEYS:
                self._known.popitem(last=False)

    def admit(self, address: str, presented: str | None) -> Principal | Refusal:
        digest = hashlib.sha256(presented.encode()).digest() if presented else b""
        known = self._known_as(digest) if presented else None
        counted = hit = None
        if known is not None:  # counted against its key before it is looked up again
            hit = self._count(f"key:{known}", self.per_key)
            if hit is not None and hit.over(self.per_key):
                return self._too_many(hit, self.per_key, "with this API key")
        else:
            counted = self._count(f"addr:{address}", self.per_address)
            if counted is not None and counted.over(self.per_address):
                return self._too_many(counted, self.per_address, "from this address without a key")
        if presented is None:
            return NO_KEY
        who = authenticate(self.catalog, presented)
        self._remember(digest, None if who is None else (who.key_id or who.user))
        if who is None:
            return BAD_KEY
        if counted is not None and self.limiter is not None:
            self.limiter.refund(counted)  # a valid key counts against the key, not the address
        if hit is None:
            hit = self._count(f"key:{who.key_id or who.user}", self.per_key)
        if hit is not None and hit.over(self.per_key):
            return self._too_many(hit, self.per_key, "with this API key")
        return who

    def _count(self, name: str, limit: int) -> Hit | None:
        if self.limiter is None or limit == 0:
            return None
        return self.limiter.hit(name)

    def _too_many(self, hit: Hit, limit: int, whose: str) -> Refusal:
        assert self.limiter is not None
        return too_many(hit, limit, self.limiter.window_s, whose)


def bearer_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key of the first ``Authorization: Bearer <key>`` header, as FastAPI's HTTPBearer reads
    it (scheme case-insensitive); None without one."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").strip().partition(" ")
            key = key.strip()
            return key if scheme.lower() == "bearer" and key else None
    return None


def has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the request says a body follows (a length above 0, or chunked)."""
    for name, value in headers:
        if name == b"content-length" and value.strip() not in (b"", b"0"):
            return True
        if name == b"transfer-encoding":
            return True
    return False


class Edge:
    """ASGI middleware: authenticate and rate-limit before the body is read (see the module)."""

    def __init__(
        self, app: Any, settings: Settings, catalog: Catalog, open_paths: Iterable[str]
    ) -> None:
        self.app = app
        self.auth = settings.auth
        self.open = frozenset(open_paths) | ({"/metrics"} if settings.metrics_public else set())
        limits = (
            settings.rate_limit_per_key,
            settings.rate_limit_per_address,
            settings.rate_limit_open_per_address,
        )
        limited = any(limit > 0 for limit in limits)
        self.limiter = limiter = (
            RateLimiter(settings.redis_url, settings.rate_limit_window_seconds)
            if limited and settings.auth
            else None
        )
        self.gate = Gate(
            catalog, limiter, settings.rate_limit_per_key, settings.rate_limit_per_address
        )
        self.per_open = settings.rate_limit_open_per_address

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http" or not self.auth:
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if scope["path"] in self.open:
            verdict: Principal | Refusal | None = await self.admit_open(address)
        else:
            verdict = await run_in_threadpool(self.gate.admit, address, bearer_key(headers))
        if isinstance(verdict, Refusal):
            await send_error(
                send,
                verdict.status,
                verdict.type,
                verdict.message,
                verdict.headers,
                close=has_body(headers),
            )
            return
        if verdict is not None:
            scope.setdefault("state", {})[PRINCIPAL] = verdict
        await self.app(scope, receive, send)

    async def admit_open(self, address: str) -> Refusal | None:
        """A request to an open route: counted against its address's open limit (on the event
        loop, no worker thread); a refusal past it, None to let it in."""
        if self.limiter is None or self.per_open == 0:
            return None
        hit = await self.limiter.hit_async(f"open:{address}")
        if hit is None or not hit.over(self.per_open):
            return None
        return too_many(
            hit, self.per_open, self.limiter.window_s, "to the open routes from this address"
        )
