"""Fixed-window request counters in Redis, shared by every API process of a deployment.

A counter is one Redis key per name and window (``askdocs:rate:<name>:<window number>``): INCR and
EXPIRE in one round trip, gone by itself two windows later. A fixed window lets a caller make up to
twice the limit across a window's edge; that is the price of one key and one command per request.
When Redis does not answer the limits are off (fail open, logged at most once a minute): the queue
is down then too, and a rate limit must not take the whole API down with it.

``hit`` blocks (run it in a worker thread, next to the key lookup it goes with); ``hit_async``
counts on the event loop, through a small pool of its own (``ASYNC_CONNECTIONS``), for the open
routes: a flood of /health must not take the worker threads the other routes need.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis
import redis.asyncio

log = logging.getLogger(__name__)

PREFIX = "askdocs:rate"
# Keys seen valid lately, by the SHA-256 of the key, shared by the API processes (the edge counts
# their requests against the key, not against the address they come from).
KNOWN_PREFIX = "askdocs:known"
KNOWN_TTL_S = 24 * 3600
_WARN_EVERY_S = 60.0
# Redis connections the event loop's counts share; a count that waits longer than the timeout for
# one is not counted (fail open), as when Redis does not answer.
ASYNC_CONNECTIONS = 16


@dataclass(frozen=True)
class Hit:
    """One request counted: the counter's key, the count with it, and the seconds left in its window."""

    key: str
    count: int
    retry_after: int

    def over(self, limit: int) -> bool:
        return self.count > limit


class RateLimiter:
    """Counts requests by name (``key:<key id>``, ``addr:<address>``, ``open:<address>``) in
    fixed windows of ``window_s`` seconds. ``hit`` and ``refund`` block: run them off the event
    loop; ``hit_async`` runs on it."""

    def __init__(self, redis_url: str, window_s: int, timeout_s: float = 0.5) -> None:
        if window_s < 1:
            raise ValueError("a rate-limit window is at least one second")
        self.window_s = window_s
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._async_redis = redis.asyncio.Redis(
            connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                redis_url,
                max_connections=ASYNC_CONNECTIONS,
                timeout=timeout_s,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
            )
        )
        self._warned_at = -math.inf

    def hit(self, name: str) -> Hit | None:
        """Count one request of ``name``; None when Redis did not answer (not counted)."""
        now = time.time()
        key = self._key(name, now)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, 2 * self.window_s)
            count, _ = pipe.execute()
        except redis.RedisError as e:
            self._warn(e)
            return None
        return self._hit(key, int(count), now)

    async def hit_async(self, name: str) -> Hit | None:
        """``hit`` on the event loop: no worker thread taken, however many callers."""
        now = time.time()
        key = self._key(name, now)
        try:
            pipe = self._async_redis.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, 2 * self.window_s)
            count, _ = await pipe.execute()
        except redis.RedisError as e:
            self._warn(e)
            return None
        return self._hit(key, int(count), now)

    def known(self, digest: bytes) -> str | None:
        """The key id a key (by its SHA-256) had when some API process last found it valid; None
        when none did lately, or Redis did not answer."""
        try:
            got = self._redis.get(f"{KNOWN_PREFIX}:{digest.hex()}")
        except redis.RedisError as e:
            self._warn(e)
            return None
        return got.decode() if isinstance(got, bytes) else None

    def remember(self, digest: bytes, key: str | None) -> None:
        """Record that a key is valid with id ``key`` (None: it is not, forget it)."""
        name = f"{KNOWN_PREFIX}:{digest.hex()}"
        try:
            if key is None:
                self._redis.delete(name)
            else:
                self._redis.set(name, key, ex=KNOWN_TTL_S)
        except redis.RedisError as e:
            self._warn(e)

    def _key(self, name: str, now: float) -> str:
        return f"{PREFIX}:{name}:{int(now // self.window_s)}"

    def _hit(self, key: str, count: int, now: float) -> Hit:
        window = int(now // self.window_s)
        left = max(1, math.ceil((window + 1) * self.window_s - now))
        return Hit(key, count, left)

    def refund(self, hit: Hit) -> None:
        """Take back a request counted by ``hit`` (same window's counter)."""
        try:
            self._redis.decr(hit.key)
        except redis.RedisError as e:
            self._warn(e)

    def _warn(self, e: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning("rate limits are off while Redis does not answer: %s", e)
