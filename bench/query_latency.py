"""Query latency of the whole retrieval step (embed query + dense + lexical + fusion + catalog check)
at a given number of chunks, measured through the real API process, plus that process's RSS.

    .venv/bin/python bench/query_latency.py --chunks 100000 [--queries 300] [--data DIR]

Synthetic data (allowed for scale): random unit vectors and Zipf-distributed pseudo-words, written
straight into a catalog, a vector index (HNSW above ASKDOCS_HNSW_THRESHOLD) and a tantivy index
laid out exactly as the indexer writes them. A data dir is reused when it already holds that size.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.stack import api_argv, settings_env  # noqa: E402
from askdocs.supervisor import free_port  # noqa: E402
from bench import big_collection  # noqa: E402
from bench.big_collection import vocab, zipf_words  # noqa: E402
from core.auth import bootstrap_admin, create_key  # noqa: E402
from core.catalog import Catalog  # noqa: E402
from core.settings import Settings  # noqa: E402
from retrieval.embedding import model_label  # noqa: E402

COLLECTION = "bench"
DIM = 384


def build(settings: Settings, chunks: int, segments: int) -> None:
    big_collection.build(
        Catalog(settings.catalog_url).create(),
        settings.index_dir,
        COLLECTION,
        chunks,
        model_label(settings.embedding_model),
        DIM,
        settings.hnsw_threshold,
        segments,
    )
    (settings.data_dir / f"bench-{chunks}-{segments}.done").write_text("ok")


def rss_mb(pid: int) -> tuple[int, int]:
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def bench_key(settings: Settings) -> str:
    """An admin key for the bench's own data dir (the first admin's, or a new one)."""
    catalog = Catalog(settings.catalog_url).create()
    key = bootstrap_admin(catalog)
    if key is None:
        with catalog.session() as s:
            key = create_key(s, "admin", label="bench")
    return key


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--segments", type=int, default=1, help="Split the vectors into N segments.")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="askdocs-latency-"))
    port = free_port()
    settings = Settings(data_dir=data, api_port=port)
    if not (data / f"bench-{args.chunks}-{args.segments}.done").exists():
        build(settings, args.chunks, args.segments)
    env = {
        **os.environ,
        **settings_env(settings),
        "ASKDOCS_START_GENERATOR": "false",
        "ASKDOCS_RATE_LIMIT_PER_KEY": "1000000",  # counted, never refused: this measures search
    }
    key = bench_key(settings)  # auth stays on: the key check is part of every real request
    api = subprocess.Popen(
        api_argv("127.0.0.1", port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=300,
            headers={"Authorization": f"Bearer {key}"},
        )
        while True:
            try:
                http.get("/collections").raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        rng = np.random.default_rng(1)
        words = vocab(np.random.default_rng(0))
        queries = [" ".join(zipf_words(rng, words, 6)) for _ in range(args.queries)]
        # hybrid as served, and with the document-first fusion it replaced, queried in turn so
        # that both see the same machine load: their ratio is the measurement
        runs = {
            "dense": {"mode": "dense"},
            "lexical": {"mode": "lexical"},
            "hybrid": {"mode": "hybrid"},
            "hybrid_minmax_doc": {"mode": "hybrid", "tuning": {"fusion": "minmax_doc"}},
        }
        took: dict[str, list[float]] = {name: [] for name in runs}
        for body in runs.values():
            http.post("/search", json={"collection": COLLECTION, "query": "warm up", **body})
        for q in queries:
            for name, body in runs.items():
                out = http.post("/search", json={"collection": COLLECTION, "query": q, **body})
                took[name].append(out.json()["took_ms"])
        results = {}
        for name, values in took.items():
            values.sort()
            results[name] = {
                "p50_ms": round(statistics.median(values), 2),
                "p99_ms": round(values[int(0.99 * (len(values) - 1))], 2),
            }
        results["hybrid_p50_over_minmax_doc"] = round(
            results["hybrid"]["p50_ms"] / results["hybrid_minmax_doc"]["p50_ms"], 3
        )
        rss, hwm = rss_mb(api.pid)
        print(
            json.dumps(
                {
                    "chunks": args.chunks,
                    "queries": args.queries,
                    **results,
                    "api_rss_mb": rss,
                    "api_peak_rss_mb": hwm,
                },
                indent=2,
            )
        )
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait()


if __name__ == "__main__":
    main()
