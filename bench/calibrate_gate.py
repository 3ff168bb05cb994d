"""Calibrate the relevance gate: the best dense cosine of questions the collection answers against
that of questions from another domain, over the same collection.

    .venv/bin/python bench/calibrate_gate.py --collection eval-... \\
        --queries ../shared/data/scifact/queries.jsonl --qrels ../shared/data/scifact/qrels/train.tsv \\
        --foreign ../shared/data/sec-10q/qna_data.csv

Positives: judged queries of the collection's own corpus. Negatives: the foreign questions, which
the collection cannot answer. Prints both distributions and the threshold that keeps 97 % of the
positives, with the share of negatives it rejects. Needs a running API (ASKDOCS_API_URL/PORT).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from askdocs.eval_retrieval import read_jsonl, read_qrels
from client.http import ApiClient
from core.settings import Settings


def best_cosine(api: ApiClient, collection: str, text: str) -> float:
    body = {"collection": collection, "query": text, "k": 1, "mode": "dense"}
    passages = api.search(body)["passages"]
    return passages[0]["score"] if passages else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--collection", required=True)
    ap.add_argument("--queries", type=Path, required=True)
    ap.add_argument("--qrels", type=Path, required=True)
    ap.add_argument("--foreign", type=Path, required=True, help="CSV with a Question column")
    ap.add_argument("--keep", type=float, default=0.97, help="share of positives to keep")
    args = ap.parse_args()
    judged = read_qrels(args.qrels)
    own = [q["text"] for q in read_jsonl(args.queries) if str(q["_id"]) in judged]
    with args.foreign.open(encoding="utf-8-sig") as f:
        foreign = [row["Question"] for row in csv.DictReader(f)]
    settings = Settings()
    http = ApiClient(settings.api_base, settings.api_key, timeout=60)
    pos = np.array([best_cosine(http, args.collection, q) for q in own])
    neg = np.array([best_cosine(http, args.collection, q) for q in foreign])
    threshold = float(np.quantile(pos, 1 - args.keep))
    print(
        json.dumps(
            {
                "positives": len(pos),
                "negatives": len(neg),
                "positive_quantiles": {
                    p: round(float(np.quantile(pos, p)), 3) for p in (0.01, 0.03, 0.1, 0.5)
                },
                "negative_quantiles": {
                    p: round(float(np.quantile(neg, p)), 3) for p in (0.5, 0.9, 0.99, 1.0)
                },
                "threshold": round(threshold, 3),
                "positives_kept": round(float((pos >= threshold).mean()), 3),
                "negatives_rejected": round(float((neg < threshold).mean()), 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
