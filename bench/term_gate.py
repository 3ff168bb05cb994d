"""How the coverage check (``generation.coverage``) divides questions: answerable questions of a QA
file it refuses, and the questions the filings do not answer (``bench.generators.UNANSWERABLE``)
it refuses.

    ASKDOCS_DATA_DIR=... .venv/bin/python bench/term_gate.py --collection eval-qa-... \\
        --qa ../shared/data/sec-10q/qna_data.csv [--json /tmp/term_gate.json]

Retrieval only, no generator: each question goes through ``AnswerService.prepare`` in this process,
over the data dir's catalog and indexes (retrieval, the relevance gate, then the check), as `/ask`
prepares it. Printed: for the answerable questions (a gold answer), how many the check refused,
their share, how many of those had a passage holding the gold answer (its text or a figure it
states: a wrong refusal), and each refused question with its missing terms; for the unanswerable
ones, how many the check refused, how many the relevance gate refused before it, and both together.
``--vocabulary on|off`` forces the rule on a word the collection never uses either way (``auto``:
as the service applies it, from ``generation.coverage.VOCABULARY_MIN_PASSAGES`` chunks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api import answering  # noqa: E402
from api.answering import Prepared  # noqa: E402
from api.app import build_services  # noqa: E402
from askdocs.eval_answers import QA, holds_answer, read_qa  # noqa: E402
from bench.generators import UNANSWERABLE  # noqa: E402
from core.settings import Settings  # noqa: E402


def share(n: int, of: int) -> float:
    return round(n / of, 4) if of else 0.0


def report(rows: list[tuple[QA, Prepared]]) -> dict[str, object]:
    """The counts and lists printed, from each question with what ``prepare`` made of it."""
    answerable = [(q, p) for q, p in rows if q.answer.strip()]
    unanswerable = [(q, p) for q, p in rows if not q.answer.strip()]
    refused = [(q, p) for q, p in answerable if p.missing]
    # a wrong refusal: a passage found holds the gold answer (its text or a figure it states)
    wrong = {
        q.question
        for q, p in refused
        if holds_answer("\n".join(c.text for c in p.passages), q.answer)
    }
    un_refused = sum(1 for _, p in unanswerable if p.missing)
    un_gated = sum(1 for _, p in unanswerable if p.gated)
    return {
        "answerable": {
            "questions": len(answerable),
            "gated": sum(1 for _, p in answerable if p.gated),
            "refused_by_terms": len(refused),
            "refused_share": share(len(refused), len(answerable)),
            "refused_with_gold_in_passages": len(wrong),
            "refused": [
                {
                    "question": q.question,
                    "missing": list(p.missing),
                    "gold_in_passages": q.question in wrong,
                }
                for q, p in refused
            ],
        },
        "unanswerable": {
            "questions": len(unanswerable),
            "refused_by_terms": un_refused,
            "refused_share": share(un_refused, len(unanswerable)),
            "gated": un_gated,
            "refused_in_all": un_refused + un_gated,
            "refused_in_all_share": share(un_refused + un_gated, len(unanswerable)),
            "each": [
                {"question": q.question, "missing": list(p.missing), "gated": p.gated}
                for q, p in unanswerable
            ],
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collection", required=True, help="an ingested collection of the data dir")
    ap.add_argument("--qa", type=Path, required=True, help="CSV with Question and Answer columns")
    ap.add_argument("--limit", type=int, default=0, help="the first N questions of the QA file")
    ap.add_argument("--json", type=Path, help="also write the report here")
    ap.add_argument(
        "--vocabulary",
        choices=["auto", "on", "off"],
        default="auto",
        help="the rule on words the collection never uses (auto: as the service applies it)",
    )
    args = ap.parse_args(argv)
    settings = Settings()
    # never asked: a model name here keeps prepare from asking the server which one it serves
    settings = settings.model_copy(update={"generator_model": settings.generator_model or "-"})
    services = build_services(settings)
    services.embedder.load()
    if args.vocabulary != "auto":
        answering.VOCABULARY_MIN_PASSAGES = 0 if args.vocabulary == "on" else sys.maxsize
    chunks = services.retriever.indexes(args.collection).lexical.searched
    qas = read_qa(args.qa)
    if args.limit:
        qas = qas[: args.limit]
    asked = {q.question for q in qas}
    qas += [QA(q, "") for q in UNANSWERABLE if q not in asked]
    rows = []
    for qa in qas:
        rows.append((qa, services.answers.prepare(args.collection, qa.question, [])))
    out = {
        "collection_chunks": chunks,
        "vocabulary_rule": chunks >= answering.VOCABULARY_MIN_PASSAGES,
        **report(rows),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
