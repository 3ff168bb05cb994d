"""Anonymous /health callers for bench/edge_load.py, in a process of their own (their work must not
share the measuring process's interpreter lock):

    python bench/health_load.py URL paced|burst [--callers 200] [--timeout 130]

paced: each caller asks once a second (the callers spread over the second) until SIGTERM, and
honours a 429: it waits Retry-After seconds before it asks again.
burst: every caller connects, then all ask at the same moment, once; done when all are answered,
or at SIGTERM.

Prints ``started`` once the load is on (paced: every caller has sent its first request; burst: the
requests are written), then one JSON line of what the callers got. Each caller keeps one HTTP/1.1
connection, spoken over asyncio streams: cheaper per call than an HTTP library, so the load's own
CPU takes less from the machine it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections import Counter
from urllib.parse import urlsplit

PATH = "/health"


class Connection:
    """One keep-alive connection to the API; reopened after an error or a ``Connection: close``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        return self._streams

    async def get(self, path: str) -> tuple[int, dict[str, str]]:
        reader, writer = await self.open()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class Tally:
    """What the callers got: statuses (``timeout``, ``error`` for no answer), answer times."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.took_ms: list[float] = []
        self.in_flight = 0
        self.first_sent = 0
        self.t0 = time.monotonic()

    def report(self, mode: str, callers: int) -> dict[str, object]:
        seconds = time.monotonic() - self.t0
        took = sorted(self.took_ms)
        answered = sum(self.statuses.values())

        def pct(q: float) -> float | None:
            return round(took[int(q * (len(took) - 1))], 2) if took else None

        return {
            "mode": mode,
            "callers": callers,
            "seconds": round(seconds, 2),
            "calls": answered + self.in_flight,
            "calls_per_s": round((answered + self.in_flight) / seconds, 1),
            "statuses": dict(sorted(self.statuses.items())),
            "unanswered_at_stop": self.in_flight,
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "max_ms": round(took[-1], 2) if took else None,
        }


async def ask(conn: Connection, tally: Tally, timeout_s: float) -> tuple[str, dict[str, str]]:
    """One /health call, counted; its status (or ``timeout``/``error``) and headers."""
    t0 = time.perf_counter()
    tally.in_flight += 1
    try:
        status, headers = await asyncio.wait_for(conn.get(PATH), timeout_s)
        outcome = str(status)
    except TimeoutError:
        conn.close()
        outcome, headers = "timeout", {}
    except (OSError, asyncio.IncompleteReadError, ValueError):
        conn.close()
        outcome, headers = "error", {}
    finally:
        tally.in_flight -= 1
    tally.statuses[outcome] += 1
    tally.took_ms.append((time.perf_counter() - t0) * 1000)
    return outcome, headers


async def paced_caller(
    conn: Connection, tally: Tally, offset_s: float, timeout_s: float, stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(offset_s)
    due = loop.time()
    first = True
    while not stop.is_set():
        sent = ask(conn, tally, timeout_s)
        if first:
            tally.first_sent += 1
            first = False
        outcome, headers = await sent
        if outcome == "429":  # honoured: ask again when the window has passed
            due = loop.time() + float(headers.get("retry-after", "1"))
        else:  # once a second; a late caller does not catch up in a flurry
            due = max(due + 1.0, loop.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, due - loop.time()))


async def burst_caller(conn: Connection, tally: Tally, go: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(OSError):  # a failed connect is counted by the call below
        await conn.open()
    tally.first_sent += 1  # connected (or failed to): ready to ask
    await go.wait()
    await ask(conn, tally, timeout_s)


async def run(url: str, mode: str, callers: int, timeout_s: float) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conns = [Connection(host, port) for _ in range(callers)]
    tally = Tally()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if mode == "paced":
        tasks = [
            asyncio.create_task(paced_caller(c, tally, i / callers, timeout_s, stop))
            for i, c in enumerate(conns)
        ]
        while tally.first_sent < callers:
            await asyncio.sleep(0.01)
    else:
        go = asyncio.Event()
        tasks = [asyncio.create_task(burst_caller(c, tally, go, timeout_s)) for c in conns]
        while tally.first_sent < callers:
            await asyncio.sleep(0.01)
        tally.t0 = time.monotonic()
        go.set()
        await asyncio.sleep(0)  # every request written
    print("started", flush=True)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([stopping, asyncio.gather(*tasks)], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await asyncio.sleep(0.05)  # paced callers between calls see the stop
    unanswered = tally.in_flight
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    tally.in_flight = unanswered
    for c in conns:
        c.close()
    return tally.report(mode, callers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("mode", choices=["paced", "burst"])
    ap.add_argument("--callers", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=130.0)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.mode, args.callers, args.timeout))), flush=True)


if __name__ == "__main__":
    main()
