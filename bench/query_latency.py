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
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import insert

from askdocs.stack import api_argv, settings_env
from askdocs.supervisor import free_port
from core.auth import bootstrap_admin, create_key
from core.catalog import Catalog, Chunk, Collection, Document
from core.settings import Settings
from retrieval.index_store import collection_dir
from retrieval.lexical_index import LexicalDoc, LexicalIndex
from retrieval.vector_index import VectorIndex

COLLECTION = "bench"
DIM = 384
PER_DOC = 1000
WORDS = 30_000


def vocab(rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=int(rng.integers(3, 10)))) for _ in range(WORDS)]


def zipf_words(rng: np.random.Generator, words: list[str], n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.2, size=n), WORDS) - 1
    return [words[r] for r in ranks]


def build(settings: Settings, chunks: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    words = vocab(rng)
    catalog = Catalog(settings.catalog_url).create()
    directory = collection_dir(settings.index_dir, COLLECTION)
    lexical = LexicalIndex(directory, writable=True)
    all_ids, all_vecs = [], []
    t0 = time.monotonic()
    for d in range(chunks // PER_DOC):
        doc_id = f"{d:064x}"
        ids = rng.integers(1, 1 << 62, size=PER_DOC, dtype=np.int64)
        vecs = rng.normal(size=(PER_DOC, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        texts = [" ".join(zipf_words(rng, words, 40)) for _ in range(PER_DOC)]
        with catalog.session() as s:
            if d == 0:
                s.add(
                    Collection(
                        id=COLLECTION, embedding_model=settings.embedding_model, embedding_dim=DIM
                    )
                )
            s.add(
                Document(
                    id=doc_id,
                    collection_id=COLLECTION,
                    name=f"doc{d}.txt",
                    size_bytes=0,
                    status="ready",
                    chunk_count=PER_DOC,
                )
            )
            s.flush()
            s.execute(
                insert(Chunk),
                [
                    {"id": int(i), "document_id": doc_id, "ordinal": o, "text": t, "page": 1}
                    for o, (i, t) in enumerate(zip(ids, texts, strict=True))
                ],
            )
        lexical.replace_document(
            doc_id,
            [LexicalDoc(int(i), doc_id, t, f"doc {d}") for i, t in zip(ids, texts, strict=True)],
        )
        all_ids.append(ids)
        all_vecs.append(vecs)
    print(f"catalog + lexical: {time.monotonic() - t0:.0f} s", flush=True)
    t1 = time.monotonic()
    index = VectorIndex.build(
        np.concatenate(all_ids),
        np.concatenate(all_vecs),
        DIM,
        settings.hnsw_threshold,
        settings.hnsw_m,
    )
    index.save(directory, settings.embedding_model)
    print(f"vector index ({index.kind}): {time.monotonic() - t1:.0f} s", flush=True)
    with catalog.session() as s:
        s.get(Collection, COLLECTION).index_generation = 1
    (settings.data_dir / f"bench-{chunks}.done").write_text("ok")


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
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="askdocs-latency-"))
    port = free_port()
    settings = Settings(data_dir=data, api_port=port)
    if not (data / f"bench-{args.chunks}.done").exists():
        build(settings, args.chunks)
    env = {**os.environ, **settings_env(settings), "ASKDOCS_START_GENERATOR": "false"}
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
        results = {}
        for mode in ("dense", "lexical", "hybrid"):
            http.post("/search", json={"collection": COLLECTION, "query": "warm up", "mode": mode})
            took = []
            for q in queries:
                out = http.post(
                    "/search", json={"collection": COLLECTION, "query": q, "mode": mode}
                )
                took.append(out.json()["took_ms"])
            took.sort()
            results[mode] = {
                "p50_ms": round(statistics.median(took), 2),
                "p99_ms": round(took[int(0.99 * (len(took) - 1))], 2),
            }
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
