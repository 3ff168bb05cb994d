"""The API's edge under load, measured on a real API process (uvicorn, the real app factory):

1. a 1 GiB anonymous upload streamed at /documents: the API's RSS before, at its peak while the
   body streams and after, and how many bytes got in before the 401;
2. /search p50/p99 (one client, one search at a time, with a key) idle; then while 200 anonymous
   callers each ask /health once a second (paced, about 200 calls a second, a 429 honoured for its
   Retry-After); then from a single burst of 200 /health calls sent at the same moment on; idle
   again at the end, to see how much the machine itself moved.

    .venv/bin/python bench/edge_load.py [--chunks 20000] [--searches 200] [--data DIR]
        [--open-limit N] [--phases paced,burst] [--no-upload]

The collection is synthetic (bench/big_collection.py, as bench/query_latency.py builds it). The
generator hangs once the API has started (a loopback port that takes connections and never
answers; refused while the API starts, whose own probe would wait for it): a /health that asks it
on every call waits for its timeout, as when /health matters most. The /health callers run in
a process of their own (bench/health_load.py).
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.big_collection import vocab, zipf_words  # noqa: E402
from bench.query_latency import COLLECTION, build  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.security.edge_server import (  # noqa: E402
    EdgeServer,
    HangingGenerator,
    edge_server,
    stream_post,
)

HERE = Path(__file__).resolve().parent
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


def searches(
    http: httpx.Client, queries: list[str], timeout_s: float, phase_s: float
) -> dict[str, float | int]:
    """Wall-clock ms of each /search as the client sees it: p50, p99, max; a search that takes
    longer than ``timeout_s`` counts as one that long, and the phase ends after ``phase_s``."""
    took = []
    timed_out = 0
    end = time.monotonic() + phase_s
    for q in queries:
        if time.monotonic() > end:
            break
        t0 = time.perf_counter()
        try:
            r = http.post("/search", json={"collection": COLLECTION, "query": q}, timeout=timeout_s)
            r.raise_for_status()
        except httpx.TimeoutException:
            timed_out += 1
        took.append((time.perf_counter() - t0) * 1000)
    took.sort()
    return {
        "searches": len(took),
        "timed_out": timed_out,
        "p50_ms": round(statistics.median(took), 2),
        "p99_ms": round(took[int(0.99 * (len(took) - 1))], 2),
        "max_ms": round(took[-1], 2),
    }


@contextmanager
def health_load(url: str, mode: str, callers: int) -> Iterator[dict[str, object]]:
    """bench/health_load.py in a process of its own, on from ``started`` to the end of the block;
    what its callers got is filled into the dict yielded."""
    argv = [sys.executable, str(HERE / "health_load.py"), url, mode, "--callers", str(callers)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    got: dict[str, object] = {}
    try:
        line = proc.stdout.readline().strip()
        if line != "started":
            raise AssertionError(f"the /health load did not start: {line!r}")
        yield got
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    got.update(json.loads(out.strip().splitlines()[-1]))


def ratio(loaded: dict[str, float | int], idle: dict[str, float | int], key: str) -> float:
    return round(loaded[key] / idle[key], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20_000)
    ap.add_argument("--searches", type=int, default=200)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--callers", type=int, default=HEALTH_CALLERS)
    ap.add_argument(
        "--open-limit",
        default="1000000",
        help="ASKDOCS_RATE_LIMIT_OPEN_PER_ADDRESS of the API; default: counted, never refused "
        "(the callers all come from 127.0.0.1 and stand for as many addresses)",
    )
    ap.add_argument("--search-timeout", type=float, default=30.0)
    ap.add_argument("--phase-seconds", type=float, default=120.0)
    ap.add_argument("--phases", default="paced,burst", help="of paced, burst, in that order")
    ap.add_argument("--no-upload", action="store_true", help="leave out the 1 GiB upload")
    args = ap.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="askdocs-edge-"))
    build(Settings(data_dir=data), args.chunks, 1)
    rng = np.random.default_rng(1)
    words = vocab(np.random.default_rng(0))
    queries = [" ".join(zipf_words(rng, words, 6)) for _ in range(args.searches)]
    report: dict[str, object] = {"chunks": args.chunks, "health_callers": args.callers}
    with (
        HangingGenerator() as generator,
        edge_server(
            data,
            "redis://127.0.0.1:6379/12",
            generator.url,  # refused while the API starts, then hangs
            rate_limit_per_key="1000000",  # the limits count, never refuse: this measures load
            rate_limit_open_per_address=args.open_limit,
        ) as server,
    ):
        generator.hang()
        if not args.no_upload:
            report["upload_1gib_anonymous"] = upload_rss(server)
        headers = {"Authorization": f"Bearer {server.admin_key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=300) as http:
            searches(http, queries[:20], args.search_timeout, args.phase_seconds)  # warm up
            # the first check done, as the stack's start waits for it (an API that asks the
            # generator on every /health call answers this one only after its timeout)
            with suppress(httpx.TimeoutException):
                http.get("/health", timeout=30)
            measure = partial(searches, http, queries, args.search_timeout, args.phase_seconds)
            idle = report["search_idle"] = measure()
            for phase in args.phases.split(","):
                with health_load(server.url, phase, args.callers) as health:
                    loaded = measure()
                report[f"search_{phase}"] = loaded
                report[f"health_{phase}"] = health
                report[f"p50_ratio_{phase}"] = ratio(loaded, idle, "p50_ms")
                report[f"p99_ratio_{phase}"] = ratio(loaded, idle, "p99_ms")
            report["search_idle_after"] = measure()
        report["generator_connections"] = generator.connections
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
