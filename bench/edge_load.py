"""The API's edge under load, measured on a real API process (uvicorn, the real app factory):

1. a 1 GiB anonymous upload streamed at /documents: the API's RSS before, at its peak while the
   body streams and after, and how many bytes got in before the 401;
2. /search p50/p99 idle, then while 200 anonymous callers ask /health over and over.

    .venv/bin/python bench/edge_load.py [--chunks 20000] [--searches 200] [--data DIR]

The collection is synthetic (bench/big_collection.py, as bench/query_latency.py builds it); the
generator is down (a closed port), as when /health matters most.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.supervisor import free_port  # noqa: E402
from bench.big_collection import vocab, zipf_words  # noqa: E402
from bench.query_latency import COLLECTION, build  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.security.edge_server import EdgeServer, edge_server, stream_post  # noqa: E402

GIB = 1024 * 1024 * 1024
HEALTH_CALLERS = 200


def upload_rss(server: EdgeServer) -> dict[str, float]:
    """RSS of the API before, at peak during and after a 1 GiB anonymous upload (MB)."""
    before = server.rss_bytes()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_bytes())
            done.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    got = stream_post(server.port, "/documents", GIB, {})
    took = time.perf_counter() - t0
    done.set()
    sampler.join()
    after = server.rss_bytes()
    mb = 1024 * 1024
    return {
        "status": got.status,
        "sent_mb_before_answer": round(got.sent / mb, 2),
        "answered_in_s": round(took, 3),
        "rss_before_mb": round(before / mb, 1),
        "rss_peak_mb": round(peak / mb, 1),
        "rss_after_mb": round(after / mb, 1),
        "rss_growth_peak_mb": round((peak - before) / mb, 2),
    }


def searches(http: httpx.Client, queries: list[str]) -> dict[str, float]:
    """Wall-clock ms of each /search as the client sees it: p50 and p99."""
    took = []
    for q in queries:
        t0 = time.perf_counter()
        r = http.post("/search", json={"collection": COLLECTION, "query": q})
        took.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 2),
        "p99_ms": round(took[int(0.99 * (len(took) - 1))], 2),
    }


class HealthFlood:
    """``HEALTH_CALLERS`` anonymous callers asking /health back to back, on their own loop."""

    def __init__(self, url: str) -> None:
        self.url, self.calls, self.failed = url, 0, 0
        self.took: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _caller(self, http: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            r = await http.get("/health")
            self.took.append((time.perf_counter() - t0) * 1000)
            self.calls += 1
            self.failed += r.status_code != 200

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=HEALTH_CALLERS)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=120) as http:
            await asyncio.gather(*(self._caller(http) for _ in range(HEALTH_CALLERS)))

    def __enter__(self) -> HealthFlood:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20_000)
    ap.add_argument("--searches", type=int, default=200)
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="askdocs-edge-"))
    build(Settings(data_dir=data), args.chunks, 1)
    rng = np.random.default_rng(1)
    words = vocab(np.random.default_rng(0))
    queries = [" ".join(zipf_words(rng, words, 6)) for _ in range(args.searches)]
    with edge_server(
        data,
        "redis://127.0.0.1:6379/12",
        f"http://127.0.0.1:{free_port()}/v1",  # nothing listens: the generator is down
        rate_limit_per_key="1000000",  # the limits count, never refuse: this measures load
    ) as server:
        upload = upload_rss(server)
        headers = {"Authorization": f"Bearer {server.admin_key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=300) as http:
            searches(http, queries[:20])  # warm up
            idle = searches(http, queries)
            with HealthFlood(server.url) as flood:
                while flood.calls < HEALTH_CALLERS:  # every caller in before the clock starts
                    time.sleep(0.05)
                loaded = searches(http, queries)
            flood.took.sort()
        print(
            json.dumps(
                {
                    "chunks": args.chunks,
                    "upload_1gib_anonymous": upload,
                    "search_idle": idle,
                    "search_during_health_flood": loaded,
                    "p99_ratio": round(loaded["p99_ms"] / idle["p99_ms"], 2),
                    "health_calls": flood.calls,
                    "health_not_200": flood.failed,
                    "health_p99_ms": round(flood.took[int(0.99 * (len(flood.took) - 1))], 2),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
