"""Memory of each API process when the API runs several (ASKDOCS_API_PROCESSES): RSS, PSS and
what is shared, after start (embedding model loaded), after searching a collection whose vector
segment is read into each process, and after searching one whose segment is memory-mapped
(``retrieval.segments.MMAP_OVER`` vectors or more: read-only pages of the page cache, shared by
every process that maps them).

    .venv/bin/python bench/api_memory.py [--processes 2] [--small 50000] [--large 520000] [--data DIR]

Synthetic collections (``bench/big_collection.py``: random unit vectors, Zipf words), Flat
segments; a data dir is reused when it already holds them. Prints one JSON object: per stage and
per API process, VmRSS, its anonymous and file-backed parts, PSS and shared pages (MiB, from
/proc/PID/status and /proc/PID/smaps_rollup).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.stack import api_argv, settings_env  # noqa: E402
from askdocs.supervisor import free_port  # noqa: E402
from bench import big_collection  # noqa: E402
from bench.query_latency import bench_key  # noqa: E402
from core.catalog import Catalog  # noqa: E402
from core.settings import Settings  # noqa: E402
from retrieval.embedding import model_label  # noqa: E402
from retrieval.segments import MMAP_OVER  # noqa: E402

DIM = 384
FLAT_ONLY = 1 << 40  # an HNSW threshold no segment reaches: Flat segments, built in seconds


def build(settings: Settings, name: str, chunks: int, seed: int) -> None:
    done = settings.data_dir / f"bench-{name}-{chunks}.done"
    if done.exists():
        return
    big_collection.build(
        Catalog(settings.catalog_url).create(),
        settings.index_dir,
        name,
        chunks,
        model_label(settings.embedding_model),
        DIM,
        FLAT_ONLY,
        seed=seed,  # chunk ids come from the seed: one per collection
    )
    done.write_text("ok")


def children(master: int) -> list[int]:
    """The API processes under uvicorn's master (spawned children, not the resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == master and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


def memory(pid: int) -> dict[str, int]:
    """MiB: VmRSS with its anonymous and file-backed parts, PSS, shared and private pages."""

    def fields(path: str) -> dict[str, int]:
        out = {}
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            parts = value.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[key.strip()] = int(parts[0]) // 1024
        return out

    status, rollup = fields(f"/proc/{pid}/status"), fields(f"/proc/{pid}/smaps_rollup")
    return {
        "rss": status["VmRSS"],
        "rss_anon": status["RssAnon"],
        "rss_file": status["RssFile"],
        "pss": rollup["Pss"],
        "shared": rollup["Shared_Clean"] + rollup["Shared_Dirty"],
        "private": rollup["Private_Clean"] + rollup["Private_Dirty"],
    }


def searches_by_process(metrics_dir: Path) -> dict[int, float]:
    """POST /search answered, by API process (each process's own counter file)."""
    counts: dict[int, float] = {}
    for f in metrics_dir.glob("counter_*.db"):
        pid = int(f.stem.rsplit("_", 1)[1])
        for metric in MultiProcessCollector.merge([str(f)], accumulate=True):
            for s in metric.samples:
                if s.name == "askdocs_http_requests_total" and s.labels.get("route") == "/search":
                    counts[pid] = counts.get(pid, 0.0) + s.value
    return counts


def search_until_all_served(
    url: str, key: str, collection: str, pids: list[int], metrics_dir: Path
) -> int:
    """Search ``collection`` on new connections until every API process answered one more search
    than before (so each has loaded it); returns the searches sent."""
    before = searches_by_process(metrics_dir)
    sent = 0
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        r = httpx.post(
            f"{url}/search",
            json={"collection": collection, "query": f"harbour ferry {sent}", "k": 5},
            headers=headers,
            timeout=300,
        )
        r.raise_for_status()
        sent += 1
        now = searches_by_process(metrics_dir)
        if all(now.get(p, 0) > before.get(p, 0) for p in pids):
            return sent
    raise RuntimeError(f"not every API process answered a search of {collection}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--small", type=int, default=50_000, help="Vectors of the in-memory one.")
    ap.add_argument("--large", type=int, default=MMAP_OVER + 20_000, help="Of the mapped one.")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    if args.large < MMAP_OVER or args.small >= MMAP_OVER:
        raise SystemExit(f"--small must stay below and --large reach MMAP_OVER ({MMAP_OVER})")
    data = args.data or Path(tempfile.mkdtemp(prefix="askdocs-api-memory-"))
    port = free_port()
    settings = Settings(data_dir=data, api_port=port)
    t0 = time.monotonic()
    build(settings, "small", args.small, seed=0)
    build(settings, "large", args.large, seed=1)
    built = round(time.monotonic() - t0)
    metrics_dir = data / "metrics-bench"
    env = {
        **os.environ,
        **settings_env(settings),
        "ASKDOCS_START_GENERATOR": "false",
        "ASKDOCS_RATE_LIMIT_PER_KEY": "1000000",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    key = bench_key(settings)
    subprocess.run(["rm", "-rf", str(metrics_dir)], check=True)
    metrics_dir.mkdir()
    api = subprocess.Popen(
        api_argv("127.0.0.1", port, args.processes),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    report: dict[str, object] = {
        "processes": args.processes,
        "small_vectors": args.small,
        "large_vectors": args.large,
        "mmap_over": MMAP_OVER,
        "build_s": built,
    }
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            pids = children(api.pid)
            up = False
            with contextlib.suppress(httpx.HTTPError):
                up = httpx.get(f"{url}/health", timeout=5).status_code == 200
            if up and len(pids) == args.processes:
                break
            time.sleep(0.5)  # waiting for the API processes to come up, bounded
        else:
            raise RuntimeError("the API did not come up")
        # /health answers once one process is up: let every process finish its start
        search_until_all_served(url, key, "default", pids, metrics_dir)
        report["started"] = {str(p): memory(p) for p in pids}
        report["small_searches"] = search_until_all_served(url, key, "small", pids, metrics_dir)
        report["after_small"] = {str(p): memory(p) for p in pids}
        report["large_searches"] = search_until_all_served(url, key, "large", pids, metrics_dir)
        report["after_large"] = {str(p): memory(p) for p in pids}
        report["master"] = memory(api.pid)
        segment_mib = {
            name: sum(f.stat().st_size for f in (data / "index" / name).glob("seg-*.faiss"))
            // (1 << 20)
            for name in ("small", "large")
        }
        report["segment_file_mib"] = segment_mib
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
