"""The last health check, kept: `/health` is open to anyone, so what it costs must not grow with
how often it is asked.

At most one check runs at a time, in a thread of its own; a caller gets the last result at once
(with its age) and, when that is older than the TTL, starts the next check for later callers. Only
the callers before the very first result wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread

log = logging.getLogger(__name__)

Components = dict[str, dict[str, object]]


@dataclass(frozen=True)
class Checked:
    """One health check's result and when it finished (wall clock and monotonic)."""

    components: Components
    at: float
    monotonic: float

    def age(self) -> float:
        return time.monotonic() - self.monotonic


class HealthCache:
    """The result of ``check`` (blocking), at most ``ttl_s`` seconds old when no check is late."""

    def __init__(
        self, check: Callable[[], Components], ttl_s: float, first_wait_s: float = 30.0
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("the health TTL must be positive")
        self._check, self.ttl_s, self.first_wait_s = check, ttl_s, first_wait_s
        self._last: Checked | None = None
        self._running = threading.Lock()
        self._first = threading.Event()

    def refresh_if_due(self) -> None:
        """Start a check in the background if the last one is older than the TTL and none runs."""
        last = self._last
        if last is not None and last.age() < self.ttl_s:
            return
        if not self._running.acquire(blocking=False):
            return
        threading.Thread(target=self._run, name="health-check", daemon=True).start()

    def _run(self) -> None:
        try:
            try:
                components = self._check()
            except Exception:  # noqa: BLE001 - a check that breaks says so; /health stays up
                log.exception("health check")
                components = {
                    "check": {"ok": False, "error": "the check failed: see the server log"}
                }
            self._last = Checked(components, time.time(), time.monotonic())
            self._first.set()
        finally:
            self._running.release()

    async def get(self) -> Checked | None:
        """The last result, at once when there is one; else the first one, or None when it took
        longer than ``first_wait_s``."""
        self.refresh_if_due()
        last = self._last
        if last is None:
            await anyio.to_thread.run_sync(self._first.wait, self.first_wait_s)
            last = self._last
        return last
