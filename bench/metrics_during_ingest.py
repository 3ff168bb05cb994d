"""The Prometheus metrics of a real stack during an ingest and a few searches, rendered to a PNG (what
the Grafana dashboard shows, where Grafana cannot run).

    .venv/bin/python bench/metrics_during_ingest.py --generate 300 --out docs/metrics.png

Starts its own `askdocs up` (no generator) on a scratch data dir, scrapes `/metrics` every second
while it ingests N generated small files and then runs searches in each mode, and draws: documents by
state, queue depth, chunks embedded per second, documents per indexer commit, and search latency.
Prints the metric families it saw.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from askdocs import bulk  # noqa: E402
from bench.ingest_throughput import generate, ingest  # noqa: E402
from bench.stack import running_stack  # noqa: E402
from client.http import ApiClient  # noqa: E402

Sample = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(http: ApiClient) -> Sample:
    text = http.metrics()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(sample: Sample, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in sample.items() if n == name and want <= set(ls))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generate", type=int, default=300)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "metrics.png")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="askdocs-metrics-"))
    source = data / "generated"
    generate(source, args.generate)
    series: list[tuple[float, Sample]] = []
    with running_stack(data) as http:
        stop = threading.Event()
        t0 = time.monotonic()

        def poll() -> None:
            while not stop.wait(1.0):
                series.append((time.monotonic() - t0, scrape(http)))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        files = [
            bulk.LocalFile(p, name, p.stat().st_size, bulk.sha256_file(p))
            for p, name in bulk.walk([source])
        ]
        ingest(http, "bench", files)
        for _ in range(20):
            for mode in ("dense", "lexical", "hybrid"):
                http.search({"collection": "bench", "query": "quarterly audit", "mode": mode})
        stop.set()
        poller.join()
        last = scrape(http)
        series.append((time.monotonic() - t0, last))  # the state after the searches
    families = sorted({n for n, _ in last if n.startswith("askdocs_")})
    print("\n".join(families))

    ts = [t for t, _ in series]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    ax = axes[0][0]
    for state in ("queued", "parsing", "embedding", "indexing", "ready", "failed"):
        ax.plot(ts, [total(s, "askdocs_documents", state=state) for _, s in series], label=state)
    ax.set_title("documents by state")
    ax.legend()
    ax = axes[0][1]
    for queue in ("ingest", "index"):
        ax.plot(ts, [total(s, "askdocs_queue_depth", queue=queue) for _, s in series], label=queue)
    ax.set_title("queue depth")
    ax.legend()
    ax = axes[0][2]
    chunks = [total(s, "askdocs_embed_chunks_total") for _, s in series]
    ax.plot(ts[1:], [b - a for a, b in zip(chunks, chunks[1:], strict=False)])
    ax.set_title("chunks embedded per second")
    ax = axes[1][0]
    n = [total(s, "askdocs_index_batch_documents_count") for _, s in series]
    docs = [total(s, "askdocs_index_batch_documents_sum") for _, s in series]
    ax.plot(ts, [d / c if c else 0 for d, c in zip(docs, n, strict=True)])
    ax.set_title("documents per indexer commit (mean so far)")
    ax = axes[1][1]
    for typ in ("txt",):
        count = [total(s, "askdocs_parse_seconds_count", type=typ) for _, s in series]
        secs = [total(s, "askdocs_parse_seconds_sum", type=typ) for _, s in series]
        ax.plot(ts, [1000 * x / c if c else 0 for x, c in zip(secs, count, strict=True)], label=typ)
    ax.set_title("parse ms per document (mean so far)")
    ax.legend()
    ax = axes[1][2]
    modes = ("dense", "lexical", "hybrid")
    means = [
        1000
        * total(last, "askdocs_search_seconds_sum", mode=m)
        / max(1.0, total(last, "askdocs_search_seconds_count", mode=m))
        for m in modes
    ]
    ax.bar(modes, means)
    ax.set_title("search ms (mean of 20 each)")
    for a in [*axes[0], *axes[1][:2]]:
        a.set_xlabel("seconds")
    fig.suptitle(f"askdocs /metrics during an ingest of {args.generate} small files (2 cores)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
