"""Compare prompt layouts (``generation.prompt.LAYOUTS``) on the same retrieved passages: wrong
refusals, refusals of questions the collection cannot answer, citations, time to first token.

    ASKDOCS_DATA_DIR=... ASKDOCS_REDIS_URL=... .venv/bin/python bench/answer_prompts.py \\
        --collection eval-qa-... --qa /tmp/qa_sample.csv [--plain] \\
        [--foreign ../shared/data/scifact/queries.jsonl --foreign-n 10 [--foreign-ungated]] \\
        [--layouts standard standard+look rules_first ...] [--only-answerable] [--json out.json]

``LAYOUT+look`` asks again after a refusal (the profile's ``second_look``). Each layout is a variant
of the configured generation profile (``--profile`` to name another, ``--focus`` to cut the passages
to the sentences that bear on the question): its rules and their place change, the rest stays.

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
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import Services, build_services  # noqa: E402
from askdocs.eval_answers import holds_answer, read_qa  # noqa: E402
from core.settings import Settings  # noqa: E402
from generation.profiles import PROFILES, GenerationProfile  # noqa: E402
from generation.prompt import LAYOUTS, approx_tokens, select_passages  # noqa: E402
from generation.rag import Answer, answer  # noqa: E402
from retrieval.types import ScoredChunk  # noqa: E402

# Plain questions a new user asks of short notes: (question, what a right answer holds, or None
# where the passages bear on the question but do not answer it, passages as (name, text)). The
# places and products are made up, so the model's own knowledge cannot answer for it.
_HARROW = (
    "harrow.pdf",
    "The Harrow Valley cooperative counts 212 member farms. The cooperative's cold store in "
    "Lenby holds 4,800 tonnes of apples.",
)
_LEAVE = (
    "handbook.docx",
    "Employees may carry over up to 5 days of unused annual leave into the next calendar year. "
    "Carry-over requests must be approved by the line manager before 31 January.",
)
_BACKUP = (
    "runbook.md",
    "The nightly backup job starts at 02:30 and keeps 14 daily snapshots. A restore is tested "
    "on the first Monday of every month.",
)
_BRIDGE = (
    "kestrel.txt",
    "The Kestrel bridge opened to traffic in 1987. It spans 640 metres across the Arlen estuary "
    "and carries two lanes in each direction.",
)
_THERMO = (
    "vantro-x2-manual.pdf",
    "To reset the Vantro X2 thermostat to its factory settings, hold the MODE button for ten "
    "seconds until the display flashes. The thermostat keeps its schedule during a power cut.",
)
_BOARD = (
    "minutes-2024-03.docx",
    "On 14 March 2024 the board approved a budget of EUR 1.2 million for the upgrade of the "
    "Ostrava plant. Work is to start in the third quarter.",
)
_FREIGHT = (
    "shipping.html",
    "Orders heavier than 200 kg ship by freight from the Tilburg warehouse. Lighter orders ship "
    "by parcel post within two working days.",
)
PLAIN: list[tuple[str, str | None, list[tuple[str, str]]]] = [
    ("How many tonnes of apples does the cold store in Lenby hold?", "4,800", [_HARROW]),
    ("How many member farms does the Harrow Valley cooperative count?", "212", [_HARROW, _BRIDGE]),
    ("How many days of unused leave can employees carry over?", "5", [_LEAVE, _BACKUP]),
    ("How many daily snapshots does the backup job keep?", "14", [_BACKUP]),
    ("When does the nightly backup start?", "02:30", [_LEAVE, _BACKUP]),
    ("How long is the Kestrel bridge?", "640", [_BRIDGE, _HARROW]),
    ("When did the Kestrel bridge open?", "1987", [_BRIDGE]),
    ("How do I reset the Vantro X2 thermostat?", "MODE", [_THERMO, _FREIGHT]),
    ("What budget did the board approve for the Ostrava plant?", "1.2 million", [_BOARD]),
    ("How do orders above 200 kg ship?", "freight", [_FREIGHT, _THERMO]),
    ("How many tonnes of pears does the cold store in Lenby hold?", None, [_HARROW]),
    ("How many days of sick leave do employees get?", None, [_LEAVE, _BACKUP]),
    ("Where are the backup snapshots stored?", None, [_BACKUP]),
    ("Who designed the Kestrel bridge?", None, [_BRIDGE, _HARROW]),
]


def plain_passages(texts: list[tuple[str, str]]) -> list[ScoredChunk]:
    return [
        ScoredChunk(i + 1, name, name, "plain", text, 1, None, 1.0 - i / 10)
        for i, (name, text) in enumerate(texts)
    ]


def variant(base: GenerationProfile, spec: str, focused: bool) -> GenerationProfile:
    """``base`` with the rules and layout of ``spec`` (``LAYOUT`` or ``LAYOUT+look``)."""
    layout, _, look = spec.partition("+")
    how = LAYOUTS[layout]
    return replace(
        base,
        rules=how.rules,
        rules_first=how.rules_first,
        question_first=how.question_first,
        best_last=how.best_last,
        second_look=look == "look",
        focus_passages=focused,
    )


def ask(
    services: Services,
    question: str,
    passages: list[ScoredChunk],
    profile: GenerationProfile,
) -> tuple[Answer, float | None]:
    """The final answer, and the seconds to its first token (None when nothing streamed)."""
    t0 = time.perf_counter()
    first = None
    final: Answer | None = None
    for ev in answer(
        question,
        passages,
        services.generator,
        services.answers.passage_budget(),
        services.settings.generator_max_tokens,
        profile=profile,
    ):
        if isinstance(ev, Answer):
            final = ev
        elif first is None:
            first = time.perf_counter() - t0
    assert final is not None
    return final, first


def run_plain(services: Services, profile: GenerationProfile) -> list[dict]:
    out = []
    for question, expect, texts in PLAIN:
        final, _first = ask(services, question, plain_passages(texts), profile)
        right = not final.abstained and expect is not None and expect in final.text
        out.append(
            {
                "question": question,
                "expect": expect,
                "answer": final.text,
                "abstained": final.abstained,
                "second_look": final.second_look,
                "right": right,
            }
        )
    return out


def run_one(
    services: Services,
    collection: str,
    question: str,
    profile: GenerationProfile,
    gate: bool = True,
) -> dict:
    prepared = services.answers.prepare(collection, question, [])
    if prepared.gated and gate:
        return {"gated": True, "abstained": True, "given": "", "answer": "", "ttft_s": None}
    final, first = ask(services, prepared.standalone, prepared.passages, profile)
    return {
        "gated": prepared.gated,
        "abstained": final.abstained,
        "second_look": final.second_look,
        "given": "\n".join(p.text for p in final.passages),
        "answer": final.text,
        "citations": len(final.citations),
        "supported": sum(1 for c in final.citations if c.supported),
        "ttft_s": first,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--collection")
    ap.add_argument("--qa", type=Path, help="Questions and gold answers (needs --collection).")
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
        "--profile",
        choices=list(PROFILES),
        help="The generation profile the layouts vary (default: the configured generator's).",
    )
    ap.add_argument(
        "--focus",
        action="store_true",
        help="Cut each passage to the sentences and table rows sharing a word with the question.",
    )
    ap.add_argument(
        "--only-answerable",
        action="store_true",
        help="Ask only questions whose gold answer is in the passages the first layout was given.",
    )
    ap.add_argument(
        "--plain",
        action="store_true",
        help="Also ask the built-in plain questions over short made-up notes (answerable and not).",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    services = build_services(Settings())
    services.embedder.load()
    if (args.qa is None) != (args.collection is None):
        ap.error("--qa and --collection go together")
    qas = read_qa(args.qa) if args.qa else []
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
    base = PROFILES[args.profile] if args.profile else services.answers.profile
    for spec in args.layouts:  # a layout, or LAYOUT+look: with the second look after a refusal
        profile = variant(base, spec, args.focus)
        out = rows.setdefault(spec, [])
        for qa in qas:
            r = run_one(services, args.collection, qa.question, profile)
            r.update(question=qa.question, gold=qa.answer, kind="qa")
            r["holds"] = holds_answer(r["given"], qa.answer)
            out.append(r)
        for q in foreign:
            r = run_one(
                services,
                args.collection,
                q,
                profile,
                gate=not args.foreign_ungated,
            )
            r.update(question=q, gold="", kind="foreign", holds=False)
            out.append(r)
        plain = run_plain(services, profile) if args.plain else []
        for r in plain:
            r.update(kind="plain")
        out.extend(plain)
        qa_rows = [r for r in out if r["kind"] == "qa"]
        answerable = [r for r in qa_rows if r["holds"]]
        fr = [r for r in out if r["kind"] == "foreign"]
        ttfts = [r["ttft_s"] for r in out if r.get("ttft_s") is not None]
        cited = sum(r.get("citations", 0) for r in out)
        summary[spec] = {
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
        if plain:
            summary[spec] |= {
                "plain_answerable": sum(r["expect"] is not None for r in plain),
                "plain_right": sum(r["right"] for r in plain),
                "plain_wrong_refusals": sum(
                    r["abstained"] and r["expect"] is not None for r in plain
                ),
                "plain_unanswerable_refused": sum(
                    r["abstained"] and r["expect"] is None for r in plain
                ),
                "plain_unanswerable": sum(r["expect"] is None for r in plain),
            }
        summary[spec]["second_looks_kept"] = sum(bool(r.get("second_look")) for r in out)
        print(spec, json.dumps(summary[spec]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
