"""Choose the hybrid fusion's weights on saved candidate lists, leave-one-set-out.

    # 1. candidates of every question, once per dev set (a stack over DATA; ingests if empty)
    .venv/bin/python bench/fusion_tune.py collect runs/sec10q.json --data /tmp/sec10q \\
        --docs ../shared/data/sec-10q --qa ../shared/data/sec-10q/qna_data.csv
    .venv/bin/python bench/fusion_tune.py collect runs/scifact.json --data /tmp/scifact \\
        --beir ../shared/data/scifact --split train
    # 2. every configuration of the grid replayed on every set, offline
    .venv/bin/python bench/fusion_tune.py tune runs/sec10q.json runs/scifact.json

``collect`` saves, per question, the dense and the lexical candidates exactly as the server's
hybrid search gets them (``POST /search`` in each mode, k = the depth), the document of each
passage, its text, and each document's issuer and period (read from the catalog; for documents
ingested before those columns, from their first page's chunks as ingestion would). ``tune``
replays ``retrieval.search.fuse`` and the per-document spread on them for each configuration: no
server, seconds per configuration.

Printed per set and configuration: a question-answer set (CSV with Question, Answer and Source
Docs columns) gives evidence@5 (the gold answer's figures or key words in the top 5, as
``bench/documents.py``), the share of questions whose first passage comes from a document the
question is about (``Source Docs``, a file-name pattern), and the mean number of distinct documents
in the top 5; a BEIR set gives nDCG@10 (pytrec_eval, as ``askdocs eval retrieval``). Then, for each
set, the configuration chosen on the other sets (best worst-case margin over each set's best single
mode) and how it does on the held-out one.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import fnmatch
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from askdocs import bulk  # noqa: E402
from askdocs.eval_retrieval import evaluate, read_corpus, read_jsonl, read_qrels  # noqa: E402
from bench.documents import has_evidence  # noqa: E402
from bench.stack import running_stack  # noqa: E402
from core.catalog import Catalog, DocStatus, Document  # noqa: E402
from retrieval import doc_fields  # noqa: E402
from retrieval.doc_fields_fill import fill_missing  # noqa: E402
from retrieval.fusion import spread  # noqa: E402
from retrieval.search import SearchConfig, fuse  # noqa: E402

K = 5
DEPTH = 100
COLLECTION = "tune"


def _fields(data: Path) -> dict[str, dict[str, Any]]:
    """Each ready document's name, issuer and period, read first (as the janitor does) where the
    catalog holds none yet or holds those of older rules."""
    catalog = Catalog(f"sqlite:///{data / 'catalog.db'}")
    while fill_missing(catalog, 1000):
        pass
    with catalog.reader() as s:
        rows = s.execute(
            select(Document.id, Document.name, Document.issuer, Document.period).where(
                Document.status == DocStatus.ready
            )
        ).all()
    return {d: {"name": n, "issuer": i, "period": p} for d, n, i, p in rows}


def collect(args: argparse.Namespace) -> int:
    data: Path = args.data
    fresh = not (data / "catalog.db").exists()
    if args.qa:
        with args.qa.open(encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        queries = [
            {
                "id": str(i),
                "text": r["Question"],
                "answer": r["Answer"],
                "about": r.get("Source Docs", ""),
            }
            for i, r in enumerate(rows)
        ]
        kind = "qa"
    else:
        qrels = read_qrels(args.beir / "qrels" / f"{args.split}.tsv")
        texts = {str(q["_id"]): q["text"] for q in read_jsonl(args.beir / "queries.jsonl")}
        queries = [{"id": q, "text": texts[q], "qrels": qrels[q]} for q in qrels if q in texts]
        kind = "beir"
    settings = {} if fresh else {"auth": "false"}
    with running_stack(data, **settings) as http:
        if fresh:
            if args.qa:
                files = sorted(p for p in args.docs.rglob(args.glob) if p.is_file())
                local = [
                    bulk.LocalFile(p, p.name, p.stat().st_size, bulk.sha256_file(p)) for p in files
                ]
            else:
                tmp = data / "corpus"
                tmp.mkdir(exist_ok=True)
                local = []
                for d in read_corpus(args.beir / "corpus.jsonl"):
                    p = tmp / f"{d.id}.md"
                    p.write_bytes(d.as_markdown())
                    local.append(bulk.LocalFile(p, p.name, p.stat().st_size, bulk.sha256_file(p)))
            job = bulk.upload(http, COLLECTION, local)
            while not http.job(job)["done"]:
                time.sleep(1.0)  # polling the job until every document is terminal
        runs: dict[str, dict[str, list[list[float]]]] = {"dense": {}, "lexical": {}}
        doc_of: dict[int, str] = {}
        passages: dict[int, str] = {}
        for n, q in enumerate(queries):
            for mode in ("dense", "lexical"):
                found = http.search(
                    {
                        "collection": COLLECTION,
                        "query": q["text"],
                        "k": DEPTH,
                        "mode": mode,
                        "rerank": False,
                    }
                )["passages"]
                runs[mode][q["id"]] = [[p["chunk_id"], p["score"]] for p in found]
                for p in found:
                    doc_of[p["chunk_id"]] = p["document_id"]
                    if kind == "qa":
                        passages[p["chunk_id"]] = f"{p.get('heading') or ''}\n{p['text']}"
            if n % 50 == 0:
                print(f"{n}/{len(queries)} questions", file=sys.stderr, flush=True)
    out = {
        "kind": kind,
        "name": args.name or args.out.stem,
        "queries": queries,
        "runs": runs,
        "doc_of": {str(k): v for k, v in doc_of.items()},
        "texts": {str(k): v for k, v in passages.items()},
        "docs": _fields(data),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out))
    print(f"{len(queries)} questions -> {args.out}")
    return 0


@dataclasses.dataclass
class DevSet:
    kind: str
    name: str
    queries: list[dict[str, Any]]
    dense: dict[str, list[tuple[int, float]]]
    lexical: dict[str, list[tuple[int, float]]]
    doc_of: dict[int, str]
    texts: dict[int, str]
    fields: dict[str, doc_fields.DocFields]
    names: dict[str, str]

    @staticmethod
    def load(path: Path) -> DevSet:
        raw = json.loads(path.read_text())
        return DevSet(
            kind=raw["kind"],
            name=raw["name"],
            queries=raw["queries"],
            dense={q: [(int(c), s) for c, s in r] for q, r in raw["runs"]["dense"].items()},
            lexical={q: [(int(c), s) for c, s in r] for q, r in raw["runs"]["lexical"].items()},
            doc_of={int(k): v for k, v in raw["doc_of"].items()},
            texts={int(k): v for k, v in raw["texts"].items()},
            fields={
                d: doc_fields.DocFields(f["issuer"], doc_fields.Period.decode(f["period"]))
                for d, f in raw["docs"].items()
                if f["issuer"] or f["period"]
            },
            names={d: f["name"] for d, f in raw["docs"].items()},
        )


def ranked(ds: DevSet, q: dict[str, Any], mode: str, cfg: SearchConfig, k: int) -> list[int]:
    """The chunk ids a search of ``mode`` returns for ``q`` (as ``Retriever._search_once``)."""
    dense, lexical = ds.dense[q["id"]], ds.lexical[q["id"]]
    if mode == "dense":
        return [c for c, _ in dense[:k]]
    if mode == "lexical":
        return [c for c, _ in lexical[:k]]
    priors: dict[str, float] = {}
    if cfg.fusion == "passages" and cfg.prior_weight:
        docs = {ds.doc_of[c] for c, _ in dense + lexical}
        fields = {d: ds.fields[d] for d in docs if d in ds.fields}
        priors = doc_fields.priors(doc_fields.asked(q["text"]), fields)
    fused = fuse(cfg, dense, lexical, ds.doc_of, priors)
    if cfg.fusion == "passages":
        fused = spread(fused, ds.doc_of, k, cfg.per_document, cfg.spread_margin)
    return [c for c, _ in fused[:k]]


def measure(ds: DevSet, mode: str, cfg: SearchConfig) -> dict[str, float]:
    if ds.kind == "beir":
        run: dict[str, dict[str, float]] = {}
        spread_docs = 0
        for q in ds.queries:
            ids = ranked(ds, q, mode, cfg, 200)
            docs: dict[str, float] = {}
            for rank, c in enumerate(ids):
                name = ds.names.get(ds.doc_of[c], "?").removesuffix(".md")
                docs.setdefault(name, float(len(ids) - rank))
            run[q["id"]] = docs
            spread_docs += len({ds.doc_of[c] for c in ids[:K]})
        qrels = {q["id"]: q["qrels"] for q in ds.queries}
        return {
            "score": evaluate(qrels, run)["nDCG@10"],
            "docs_in_top5": spread_docs / len(ds.queries),
        }
    hits = first_right = spread_docs = 0
    for q in ds.queries:
        ids = ranked(ds, q, mode, cfg, K)
        hits += has_evidence(q["text"], q["answer"], [ds.texts[c] for c in ids])
        about = [p.strip() for p in q.get("about", "").split(",") if p.strip()]
        if ids and about:
            name = ds.names.get(ds.doc_of[ids[0]], "")
            first_right += any(fnmatch.fnmatch(name, p) for p in about)
        spread_docs += len({ds.doc_of[c] for c in ids})
    n = len(ds.queries)
    return {"score": hits / n, "first_right": first_right / n, "docs_in_top5": spread_docs / n}


GRID = {
    "document_share": [0.7, 0.85, 0.95, 0.99],
    "prior_weight": [0.0, 0.5, 1.0],
    "per_document": [0, 2, 3],
    "spread_margin": [0.1, 0.3],
    "dense_weight": [0.35, 0.45],
    "chunk_dense_weight": [0.8, 0.9],
}


def tune(args: argparse.Namespace) -> int:
    sets = [DevSet.load(p) for p in args.runs]
    base = SearchConfig()
    singles = {ds.name: {m: measure(ds, m, base) for m in ("dense", "lexical")} for ds in sets}
    best_single = {n: max(v["score"] for v in m.values()) for n, m in singles.items()}
    for ds in sets:
        for m, r in singles[ds.name].items():
            print(f"{ds.name:10s} {m:8s} " + " ".join(f"{k}={v:.4f}" for k, v in r.items()))
        old = measure(ds, "hybrid", dataclasses.replace(base, fusion="minmax_doc"))
        print(
            f"{ds.name:10s} {'minmax_doc':8s} " + " ".join(f"{k}={v:.4f}" for k, v in old.items())
        )
    keys = list(GRID)
    configs = []
    for values in itertools.product(*(GRID[k] for k in keys)):
        change = dict(zip(keys, values, strict=True))
        if change["per_document"] == 0 and change["spread_margin"] != GRID["spread_margin"][0]:
            continue
        configs.append(change)
    results: list[tuple[dict[str, Any], dict[str, dict[str, float]]]] = []
    for n, change in enumerate(configs):
        cfg = dataclasses.replace(base, fusion="passages", **change)
        results.append((change, {ds.name: measure(ds, "hybrid", cfg) for ds in sets}))
        if n % 50 == 0:
            print(f"{n}/{len(configs)} configurations", file=sys.stderr, flush=True)

    def margin(res: dict[str, dict[str, float]], names: list[str]) -> float:
        return min(res[n]["score"] - best_single[n] for n in names)

    names = [ds.name for ds in sets]
    overall = max(
        results, key=lambda r: (margin(r[1], names), sum(r[1][n]["score"] for n in names))
    )
    print("\nbest on all sets:", json.dumps(overall[0]))
    for n in names:
        print(f"  {n}: " + " ".join(f"{k}={v:.4f}" for k, v in overall[1][n].items()))
    for held in names:
        others = [n for n in names if n != held] or [held]
        chosen = max(
            results, key=lambda r: (margin(r[1], others), sum(r[1][n]["score"] for n in others))
        )
        got = chosen[1][held]
        print(
            f"held out {held}: chosen on {others}: {json.dumps(chosen[0])} -> "
            + " ".join(f"{k}={v:.4f}" for k, v in got.items())
            + f" (best single mode {best_single[held]:.4f})"
        )
    current = {k: getattr(base, k) for k in keys}
    match = next((r for c, r in results if c == current), None)
    if match:
        print("\ndefault", json.dumps(current))
        for n in names:
            print(f"  {n}: " + " ".join(f"{k}={v:.4f}" for k, v in match[n].items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="save the candidates of every question of one dev set")
    c.add_argument("out", type=Path)
    c.add_argument("--data", type=Path, required=True, help="the stack's data dir (reused)")
    c.add_argument("--name", help="the set's name in tables (default: the file's)")
    c.add_argument("--docs", type=Path, help="a folder of documents (with --qa)")
    c.add_argument("--glob", default="*.pdf")
    c.add_argument("--qa", type=Path, help="CSV with Question, Answer, Source Docs")
    c.add_argument("--beir", type=Path, help="a BEIR folder (corpus, queries, qrels)")
    c.add_argument("--split", default="train")
    t = sub.add_parser("tune", help="replay the grid on saved candidates")
    t.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args(argv)
    return collect(args) if args.cmd == "collect" else tune(args)


if __name__ == "__main__":
    raise SystemExit(main())
