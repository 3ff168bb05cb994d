"""`askdocs eval retrieval`: BEIR-layout corpus -> scratch collection through the normal pipeline
(API upload, worker, indexer) -> queries per retrieval mode -> nDCG@10, recall@10/100, MRR@10
(pytrec_eval, i.e. trec_eval) and search latency."""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytrec_eval

from client.http import ApiClient

UPLOAD_BATCH = 64


@dataclass(frozen=True)
class BeirDoc:
    id: str
    title: str
    text: str

    def as_markdown(self) -> bytes:
        head = f"# {self.title.strip()}\n\n" if self.title.strip() else ""
        return (head + self.text.strip() + "\n").encode()


def read_jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def read_corpus(path: Path) -> list[BeirDoc]:
    return [BeirDoc(str(d["_id"]), d.get("title", ""), d.get("text", "")) for d in read_jsonl(path)]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or not parts[-1].lstrip("-").isdigit():
                continue  # header or blank
            qid, did, rel = parts[0], parts[-2], int(parts[-1])
            qrels.setdefault(qid, {})[did] = rel
    return qrels


def scratch_collection(corpus: Path) -> str:
    """One collection per corpus file content, so a rerun reuses what was ingested."""
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()[:12]
    return f"eval-{digest}"


def to_doc_run(passages: list[dict], doc_key: Callable[[dict], str]) -> dict[str, float]:
    """Chunk hits -> one score per document (its best chunk), as a rank-preserving score."""
    run: dict[str, float] = {}
    for rank, p in enumerate(passages):
        did = doc_key(p)
        if did not in run:
            run[did] = float(len(passages) - rank)
    return run


def evaluate(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]
) -> dict[str, float]:
    """Mean nDCG@10, recall@10, recall@100 and MRR@10 over the queries of ``qrels``."""
    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10,100"})
    top10 = {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:10]) for q, docs in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
    per_q = full.evaluate(run)
    per_q_mrr = mrr.evaluate(top10)
    queries = list(qrels)

    def mean(table: dict, key: str) -> float:
        return sum(table.get(q, {}).get(key, 0.0) for q in queries) / len(queries)

    return {
        "nDCG@10": mean(per_q, "ndcg_cut_10"),
        "recall@10": mean(per_q, "recall_10"),
        "recall@100": mean(per_q, "recall_100"),
        "MRR@10": mean(per_q_mrr, "recip_rank"),
    }


def document_spread(
    tops: dict[str, list[str]], qrels: dict[str, dict[str, int]]
) -> dict[str, float]:
    """``docs@5``: how many distinct documents the first five passages hold (mean); ``first_rel``:
    the share of queries whose first passage comes from a document judged relevant."""
    queries = [q for q in qrels if q in tops]
    if not queries:
        return {"docs@5": 0.0, "first_rel": 0.0}
    first = sum(1 for q in queries if tops[q] and qrels[q].get(tops[q][0], 0) > 0)
    return {
        "docs@5": sum(len(set(tops[q])) for q in queries) / len(queries),
        "first_rel": first / len(queries),
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ingest(
    api: ApiClient,
    docs: list[BeirDoc],
    collection: str,
    progress: Callable[[int, int], None],
) -> dict[str, str]:
    """Upload the corpus as Markdown files and wait; returns askdocs document id -> corpus id."""
    jobs: list[str] = []
    for i in range(0, len(docs), UPLOAD_BATCH):
        batch = docs[i : i + UPLOAD_BATCH]
        files = [(f"{d.id}.md", d.as_markdown(), "text/markdown") for d in batch]
        jobs.append(api.upload(collection, files)["id"])
        progress(0, len(docs))
    mapping: dict[str, str] = {}
    for job_id in jobs:  # one request per second, oldest job first: jobs finish roughly in order
        while True:
            job = api.job(job_id, documents=True)
            terminal = sum(n for st, n in job["counts"].items() if st in ("ready", "failed"))
            progress(len(mapping) + terminal, len(docs))
            if job["done"]:
                break
            time.sleep(1.0)  # polling job state until every document is terminal
        for d in job["documents"]:
            mapping[d["id"]] = d["name"].removesuffix(".md")
    return mapping


def run_queries(
    api: ApiClient,
    collection: str,
    queries: Iterable[tuple[str, str]],
    mode: str,
    doc_of: dict[str, str],
    k: int = 200,
    options: dict | None = None,
    on_query: Callable[[], None] | None = None,
    tops: dict[str, list[str]] | None = None,
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """Search every query; returns the document run and the server-side latencies (ms), and
    fills ``tops`` (when given) with the corpus ids of each query's first five passages."""
    run: dict[str, dict[str, float]] = {}
    took: list[float] = []
    for qid, text in queries:
        body = {"collection": collection, "query": text, "k": k, **search_mode(mode)}
        body.update(options or {})
        out = api.search(body)
        took.append(out["took_ms"])
        run[qid] = to_doc_run(out["passages"], lambda p: doc_of.get(p["document_id"], "?"))
        if tops is not None:
            tops[qid] = [doc_of.get(p["document_id"], "?") for p in out["passages"][:5]]
        if on_query:
            on_query()
    return run, took


def search_mode(mode: str) -> dict[str, object]:
    """``/search`` fields of an evaluation mode: ``rerank`` is hybrid rescored by the server's
    cross-encoder; the others never rerank, so their rows stay comparable."""
    if mode == "rerank":
        return {"mode": "hybrid", "rerank": True}
    return {"mode": mode, "rerank": False}


def default_modes(api: ApiClient) -> list[str]:
    """dense, lexical, hybrid, and rerank when the server has a cross-encoder."""
    components = api.status()["components"]
    return ["dense", "lexical", "hybrid"] + (["rerank"] if "reranker" in components else [])


def summary_row(mode: str, metrics: dict[str, float], took: list[float]) -> dict[str, object]:
    return {
        "mode": mode,
        **{k: round(v, 4) for k, v in metrics.items()},
        "p50_ms": round(statistics.median(took), 1) if took else 0.0,
        "p99_ms": round(percentile(took, 99), 1),
    }
