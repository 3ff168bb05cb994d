"""One vector segment read into memory against memory-mapped (faiss IO_FLAG_MMAP_IFC, as readers
load segments of ``MMAP_OVER`` vectors or more): this process's anonymous and file-backed memory
after loading and searching, and the median time of one query, in alternating rounds.

    .venv/bin/python bench/segment_mmap.py [--vectors 100000] [--kind flat|hnsw] [--rounds 3]

Random unit vectors written by ``segments.write_segment`` in a temporary directory; one FAISS
thread, as the API searches. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval.segments import write_segment  # noqa: E402

DIM = 384
MODES = {"in_memory": 0, "mapped": faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY}


def memory_mib() -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["RssAnon"].split()[0]) // 1024, int(fields["RssFile"].split()[0]) // 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--kind", choices=["flat", "hnsw"], default="flat")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="askdocs-segment-") as tmp:
        directory = Path(tmp)
        vecs = rng.normal(size=(args.vectors, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        ids = np.arange(args.vectors, dtype=np.int64) + 1
        threshold = 10**12 if args.kind == "flat" else 1
        entry = write_segment(directory, ids, vecs, ["d"] * args.vectors, DIM, threshold)
        del vecs
        path = str(directory / f"{entry.name}.faiss")
        queries = rng.normal(size=(args.queries, DIM)).astype(np.float32)
        out: dict[str, dict[str, list[float]]] = {m: {} for m in MODES}
        for _ in range(args.rounds):
            for mode, flags in MODES.items():
                before = memory_mib()
                index = faiss.read_index(path, flags)
                took = []
                for q in queries:
                    t0 = time.perf_counter()
                    index.search(q[None], 10)
                    took.append((time.perf_counter() - t0) * 1000)
                after = memory_mib()
                row = out[mode]
                row.setdefault("median_ms", []).append(round(statistics.median(took), 2))
                row.setdefault("anon_mib", []).append(after[0] - before[0])
                row.setdefault("file_mib", []).append(after[1] - before[1])
                del index
    print(json.dumps({"vectors": args.vectors, "kind": args.kind, **out}, indent=2))


if __name__ == "__main__":
    main()
