"""One collection's long index builds against everything else: search latency on another
collection, in the same reader process, while the indexer merges a large collection's Flat segments
into one HNSW segment and then compacts it; and how long the indexer's catalog write transactions
last meanwhile, with the wait of another catalog writer (an upload's, a worker's) beside it.

    .venv/bin/python bench/index_contention.py [--chunks 200000] [--segments 4] [--threads 2]

Synthetic data: random unit vectors (``bench.big_collection``) in a SQLite catalog. The readers
are an ``IndexCache`` as the API holds it: two threads search the small collection in a loop, one
thread reads the large one once the build is on (its generation moved just before, as after an
apply, so that read loads it again). Prints p50/p99/max of the small collection's searches idle and during each build, the
longest write transaction the indexer held, and the other writer's wait (p50/max, errors).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import big_collection  # noqa: E402
from core.blobs import BlobStore  # noqa: E402
from core.catalog import Catalog, Collection, utcnow  # noqa: E402
from retrieval.index_store import IndexCache, ServedModel  # noqa: E402
from retrieval.indexer import Indexer  # noqa: E402
from retrieval.vector_index import VectorIndex  # noqa: E402

DIM = 384
MODEL = "bench-model"


class WriteTransactions:
    """The duration of every write transaction (SQLite BEGIN IMMEDIATE) on an engine."""

    def __init__(self, catalog: Catalog) -> None:
        self.durations: list[float] = []
        self._began: dict[int, float] = {}
        engine = catalog.engine
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _begin(self, conn) -> None:  # type: ignore[no-untyped-def]
        if conn.get_execution_options().get("askdocs_begin", "IMMEDIATE") == "IMMEDIATE":
            self._began[id(conn)] = time.perf_counter()

    def _end(self, conn) -> None:  # type: ignore[no-untyped-def]
        began = self._began.pop(id(conn), None)
        if began is not None:
            self.durations.append(time.perf_counter() - began)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (
        f"n={len(values)} p50={pct(values, 0.5) * 1e3:.1f} ms p99={pct(values, 0.99) * 1e3:.1f} ms "
        f"max={max(values) * 1e3:.1f} ms"
    )


def _bump(catalog: Catalog, collection: str) -> None:
    with catalog.session() as s:
        coll = s.get(Collection, collection)
        assert coll is not None
        coll.index_generation += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=200_000, help="vectors of the large collection")
    ap.add_argument("--segments", type=int, default=4, help="its Flat segments before the merge")
    ap.add_argument("--small", type=int, default=5_000, help="vectors of the searched collection")
    ap.add_argument("--threads", type=int, default=2, help="threads searching the small one")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds of idle searching")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="askdocs-contention-") as tmp:
        data = Path(tmp)
        index_dir = data / "index"
        catalog = Catalog(f"sqlite:///{data / 'catalog.db'}").create()
        # Flat segments that together pass the HNSW threshold: the merge policy builds one HNSW
        big_collection.build(
            catalog, index_dir, "big", args.chunks, MODEL, DIM, args.chunks, args.segments
        )
        big_collection.build(catalog, index_dir, "small", args.small, MODEL, DIM, 10**9, 1, 1)
        with catalog.session() as s:
            s.add(Collection(id="other"))

        reader_catalog = Catalog(catalog.url)  # the API's own engine
        cache = IndexCache(reader_catalog, index_dir, ServedModel(MODEL, DIM))
        cache.get("small")
        cache.get("big")
        indexer_catalog = Catalog(catalog.url)
        writes = WriteTransactions(indexer_catalog)
        indexer = Indexer(
            indexer_catalog,
            BlobStore(data / "blobs"),
            index_dir,
            MODEL,
            DIM,
            hnsw_threshold=args.chunks,
        )

        stop = threading.Event()
        searches: list[tuple[float, float]] = []  # (started at, seconds)
        other_writes: list[tuple[float, float]] = []  # (started at, seconds)
        other_errors: list[str] = []
        rng = np.random.default_rng(7)
        queries = rng.normal(size=(64, DIM)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)

        def search_small(seed: int) -> None:
            i = seed
            while not stop.is_set():
                t = time.perf_counter()
                cache.get("small").vectors.search(queries[i % len(queries)], 10)
                searches.append((t, time.perf_counter() - t))
                i += 1

        writer_catalog = Catalog(catalog.url)  # an upload's or a worker's process

        def write_other() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    with writer_catalog.session() as s:
                        coll = s.get(Collection, "other")
                        assert coll is not None
                        coll.reembed_at = utcnow()
                except Exception as e:  # noqa: BLE001 - counted and printed
                    other_errors.append(type(e).__name__)
                other_writes.append((t, time.perf_counter() - t))
                stop.wait(0.05)

        threads = [
            threading.Thread(target=search_small, args=(j,), daemon=True)
            for j in range(args.threads)
        ] + [threading.Thread(target=write_other, daemon=True)]
        for th in threads:
            th.start()
        idle_from = time.perf_counter()
        stop.wait(args.idle)
        idle_to = time.perf_counter()

        building = threading.Event()  # set when the indexer starts building a FAISS index
        build_index = VectorIndex.build.__func__  # type: ignore[attr-defined]

        def noted_build(cls, *a, **kw):  # type: ignore[no-untyped-def]
            building.set()
            return build_index(cls, *a, **kw)

        VectorIndex.build = classmethod(noted_build)  # type: ignore[method-assign,assignment]

        def phase(name: str, build: Callable[[], object]) -> None:
            before = len(writes.durations)
            big_reads: list[float] = []
            building.clear()
            _bump(indexer_catalog, "big")  # as after an apply: readers of "big" load it again

            def read_big() -> None:  # a search of the large collection once the build is on
                building.wait()
                t = time.perf_counter()
                cache.get("big")
                big_reads.append(time.perf_counter() - t)

            start = time.perf_counter()
            reader = threading.Thread(target=read_big, daemon=True)
            reader.start()
            build()
            end = time.perf_counter()
            building.set()
            reader.join()
            during = [d for at, d in searches if start <= at <= end]
            theirs = [d for at, d in other_writes if start <= at <= end]
            longest = max(writes.durations[before:], default=0.0)
            print(f"{name}: {end - start:.1f} s")
            print(f"  small-collection searches started during it: {ms(during)}")
            print(f"  large-collection read started once the build was on: {ms(big_reads)}")
            print(f"  indexer's longest write transaction: {longest * 1e3:.1f} ms")
            print(f"  another writer's transactions started during it: {ms(theirs)}")

        print(f"large: {args.chunks} vectors in {args.segments} Flat segments; small: {args.small}")
        idle = [d for at, d in searches if idle_from <= at <= idle_to]
        print(f"idle: small-collection search: {ms(idle)}")
        idle_writes = [d for at, d in other_writes if idle_from <= at <= idle_to]
        print(f"idle: another writer's transaction: {ms(idle_writes)}")
        phase("merge of the Flat segments into HNSW", lambda: indexer.merge_if_needed("big"))
        phase("compact (whole collection from the catalog)", lambda: indexer.compact("big"))
        stop.set()
        for th in threads:
            th.join()
        if other_errors:
            print(f"another writer's errors: {sorted(set(other_errors))} x{len(other_errors)}")
        print(
            f"searches in all: {len(searches)}, median {statistics.median(d for _, d in searches) * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
