"""Where search puts the evidence: evidence@1/3/5/10/20 per mode, and how often the first passage
comes from the document the question names, on a data dir that `bench/documents.py` ingested.

    .venv/bin/python bench/evidence_ranks.py DATA_DIR --qa ../shared/data/sec-10q/qna_data.csv \
        [--tuning '{"chunk_dense_weight": 0.45}']

The QA file's ``Source Docs`` column (``*AAPL*``, ``*AAPL*, *MSFT*``) names the documents a question is
about; a first passage whose document name holds one of those patterns counts as the right document.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.documents import has_evidence  # noqa: E402
from bench.stack import running_stack  # noqa: E402

DEPTHS = (1, 3, 5, 10, 20)
MODES = ("hybrid", "dense", "lexical")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="a data dir of bench/documents.py (collection bench)")
    ap.add_argument("--qa", type=Path, required=True, help="CSV: Question, Answer, Source Docs")
    ap.add_argument("--tuning", default="{}", help="per-search overrides, JSON")
    args = ap.parse_args(argv)
    tuning = json.loads(args.tuning) or None
    with args.qa.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    found_at = {m: [0] * len(DEPTHS) for m in MODES}
    right_document = dict.fromkeys(MODES, 0)
    with running_stack(args.data, auth="false") as http:
        for r in rows:
            patterns = [
                p.strip().strip("*").lower()
                for p in re.split(r"[,;]", r.get("Source Docs", ""))
                if p.strip().strip("*")
            ]
            for mode in MODES:
                query = {"collection": "bench", "query": r["Question"], "k": DEPTHS[-1]}
                got = http.search({**query, "mode": mode, "tuning": tuning})["passages"]
                texts = [f"{p.get('heading') or ''}\n{p['text']}" for p in got]
                for i, k in enumerate(DEPTHS):
                    found_at[mode][i] += has_evidence(r["Question"], r["Answer"], texts[:k])
                if got and any(p in got[0]["document_name"].lower() for p in patterns):
                    right_document[mode] += 1
    n = len(rows)
    print(f"{n} questions; evidence@{'/'.join(map(str, DEPTHS))}, first passage's document right")
    for mode in MODES:
        shares = " / ".join(f"{100 * c / n:.1f}%" for c in found_at[mode])
        print(f"{mode:8s} {shares}   {100 * right_document[mode] / n:.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
