"""Compare prompt layouts (``generation.prompt.LAYOUTS``) on the same retrieved passages: wrong
refusals, refusals of questions the collection cannot answer, citations, time to first token.

    ASKDOCS_DATA_DIR=... ASKDOCS_REDIS_URL=... .venv/bin/python bench/answer_prompts.py \\
        --collection eval-qa-... --qa /tmp/qa_sample.csv \\
        [--foreign ../shared/data/scifact/queries.jsonl --foreign-n 10 [--foreign-ungated]] \\
        [--layouts rules_first standard best_last lenient quote] [--only-answerable] [--json out.json]

Runs in this process over a data dir an `askdocs eval answers` run filled (its collection, its
running generator): each question is retrieved and gated once, exactly as `/ask` does, then every
layout answers from the same passages under the same budget. A wrong refusal is a refusal while a
given passage holds the gold answer (``askdocs.eval_answers.holds_answer``); the foreign questions
(another corpus's, which this collection cannot answer) count as refused when the relevance gate
or the model refused them. ``--json`` keeps every answer, to read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import Services, build_services  # noqa: E402
from askdocs.eval_answers import holds_answer, read_qa  # noqa: E402
from core.settings import Settings  # noqa: E402
from generation.prompt import LAYOUTS, approx_tokens, select_passages  # noqa: E402
from generation.rag import Answer, answer  # noqa: E402


def run_one(
    services: Services, collection: str, question: str, layout: str, gate: bool = True
) -> dict:
    s = services.settings
    prepared = services.answers.prepare(collection, question, [])
    if prepared.gated and gate:
        return {"gated": True, "abstained": True, "given": "", "answer": "", "ttft_s": None}
    t0 = time.perf_counter()
    first = None
    final: Answer | None = None
    for ev in answer(
        prepared.standalone,
        prepared.passages,
        services.generator,
        services.answers.passage_budget(),
        s.generator_max_tokens,
        focused=s.focus_passages,
        layout=layout,
    ):
        if isinstance(ev, Answer):
            final = ev
        elif first is None:
            first = time.perf_counter() - t0
    assert final is not None
    return {
        "gated": prepared.gated,
        "abstained": final.abstained,
        "given": "\n".join(p.text for p in final.passages),
        "answer": final.text,
        "citations": len(final.citations),
        "supported": sum(1 for c in final.citations if c.supported),
        "ttft_s": first,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--collection", required=True)
    ap.add_argument("--qa", type=Path, required=True)
    ap.add_argument("--foreign", type=Path, help="JSONL of questions from another corpus")
    ap.add_argument("--foreign-n", type=int, default=10)
    ap.add_argument(
        "--foreign-ungated",
        action="store_true",
        help="Give the foreign questions' passages to the model even below the relevance gate "
        "(does the model itself refuse what its passages do not answer?).",
    )
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS))
    ap.add_argument(
        "--only-answerable",
        action="store_true",
        help="Ask only questions whose gold answer is in the passages the first layout was given.",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    services = build_services(Settings())
    services.embedder.load()
    qas = read_qa(args.qa)
    if args.only_answerable:  # retrieval only: the passages that fit the budget hold the gold?
        count = services.generator.token_counter(approx_tokens)
        budget = services.answers.passage_budget()
        kept = []
        for qa in qas:
            prepared = services.answers.prepare(args.collection, qa.question, [])
            given = select_passages(prepared.passages, budget, count)
            if not prepared.gated and holds_answer("\n".join(p.text for p in given), qa.answer):
                kept.append(qa)
        print(f"{len(kept)} of {len(qas)} questions have the gold answer in their passages")
        qas = kept
    foreign: list[str] = []
    if args.foreign:
        with args.foreign.open() as f:
            foreign = [json.loads(line)["text"] for line in f if line.strip()][: args.foreign_n]
    rows: dict[str, list[dict]] = {}
    summary: dict[str, dict] = {}
    for layout in args.layouts:
        out = rows.setdefault(layout, [])
        for qa in qas:
            r = run_one(services, args.collection, qa.question, layout)
            r.update(question=qa.question, gold=qa.answer, kind="qa")
            r["holds"] = holds_answer(r["given"], qa.answer)
            out.append(r)
        for q in foreign:
            r = run_one(services, args.collection, q, layout, gate=not args.foreign_ungated)
            r.update(question=q, gold="", kind="foreign", holds=False)
            out.append(r)
        qa_rows = [r for r in out if r["kind"] == "qa"]
        answerable = [r for r in qa_rows if r["holds"]]
        fr = [r for r in out if r["kind"] == "foreign"]
        ttfts = [r["ttft_s"] for r in out if r["ttft_s"] is not None]
        cited = sum(r.get("citations", 0) for r in out)
        summary[layout] = {
            "questions": len(qa_rows),
            "abstain_rate": round(sum(r["abstained"] for r in qa_rows) / max(len(qa_rows), 1), 3),
            "gold_in_given": len(answerable),
            "wrong_refusals": sum(r["abstained"] for r in answerable),
            "wrong_refusal_rate": round(
                sum(r["abstained"] for r in answerable) / max(len(answerable), 1), 3
            ),
            "foreign": len(fr),
            "foreign_gated": sum(r["gated"] for r in fr),
            "foreign_refused": sum(r["abstained"] for r in fr),
            "citation_precision": round(sum(r.get("supported", 0) for r in out) / cited, 3)
            if cited
            else 0.0,
            "ttft_p50_s": round(statistics.median(ttfts), 2) if ttfts else 0.0,
        }
        print(layout, json.dumps(summary[layout]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
