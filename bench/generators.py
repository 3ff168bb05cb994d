"""Compare the packaged generators on one collection: each profile's model is served by the
embedded llama.cpp server in turn, and the same questions are asked through the answer service in
this process (retrieval, gate, prompt, citations exactly as `/ask`), over a collection an
`askdocs eval answers` run ingested (one ingest for every model).

    # the fixed subset: questions that ask for a computation, a seeded sample, and questions the
    # filings do not answer (empty gold answer)
    .venv/bin/python bench/generators.py subset --qa ../shared/data/sec-10q/qna_data.csv \\
        --n 13 --seed 39 --unanswerable 4 --out /tmp/sec10q-subset.csv
    # ingest once (any profile), then compare
    askdocs eval answers --docs ../shared/data/sec-10q --qa /tmp/sec10q-subset.csv --limit 1
    .venv/bin/python bench/generators.py run --collection eval-qa-... --qa /tmp/sec10q-subset.csv \\
        --profiles qwen2.5-coder-0.5b qwen2.5-coder-1.5b smollm2-135m --json /tmp/gen.json
    # one profile with a switch changed (any field of generation.profiles.GenerationProfile)
    .venv/bin/python bench/generators.py run --collection eval-qa-... --qa /tmp/sec10q-subset.csv \\
        --profiles qwen2.5-coder-0.5b qwen2.5-coder-0.5b:copy_figures=false
    # an `askdocs eval answers --json` file scored the same way
    .venv/bin/python bench/generators.py rescore /tmp/eval.json
    # the operand step alone, on a fixed filing table (a generator serving the profile's model)
    .venv/bin/python bench/generators.py figures --url http://127.0.0.1:8010/v1 \\
        --profile qwen2.5-coder-0.5b
    # what a GGUF says it is: name, architecture, quantization, chat template
    .venv/bin/python bench/generators.py meta data/models/*.gguf

Reports, per model: figure hits (answers with a gold figure), token F1, wrong refusals (refused
though a passage given held the gold answer), unanswerable refused, citation precision, computed
answers and the share whose operands are in the cited passages, time to first token, tokens/s,
and the server's peak resident memory.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import random
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from askdocs.eval_answers import (  # noqa: E402
    QA,
    Outcome,
    in_process_asker,
    outcome,
    read_qa,
    summarize,
)
from askdocs.eval_answers import figures as answer_figures  # noqa: E402
from core.settings import Settings  # noqa: E402
from generation import figures  # noqa: E402
from generation.embedded_server import server_command  # noqa: E402
from generation.profiles import PROFILES, GenerationProfile  # noqa: E402
from generation.prompt import LAYOUTS  # noqa: E402

# Questions about the same companies that the filings do not answer (a right answer refuses).
UNANSWERABLE = (
    "What is the name of Apple's chief executive officer's dog?",
    "How many employees does NVIDIA have in its Tokyo office?",
    "What was Microsoft's revenue in fiscal year 1995?",
    "What dividend will Intel pay per share in 2030?",
    "What is the seating capacity of Amazon's headquarters cafeteria?",
    "Which football club does Intel sponsor in Brazil?",
    "What is the interest rate on Apple's 2045 bonds issued in 2024?",
    "How many patents did NVIDIA file in Germany in 2019?",
)


def _table_lookups(qa: Path) -> set[str]:
    """Questions of a sec-10q style CSV answered from one document's table with a figure
    (``Source Chunk Type`` Table, a ``Single-Doc`` question type, a figure in the gold answer)."""
    with qa.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        r["Question"]
        for r in rows
        if r.get("Source Chunk Type") == "Table"
        and r.get("Question Type", "").startswith("Single-Doc")
        and answer_figures(r.get("Answer") or "")
    }


def subset(
    qa: Path, n: int, seed: int, unanswerable: int = len(UNANSWERABLE), numeric: bool = False
) -> list[QA]:
    """Every question that asks for a computation (``generation.figures.classify``), ``n``
    others drawn with ``seed`` (with ``numeric``, only from questions a table answers with a
    figure), and the first ``unanswerable`` of ``UNANSWERABLE``; the same list for every model."""
    rows = read_qa(qa)
    computing = [q for q in rows if figures.classify(q.question)]
    rest = [q for q in rows if not figures.classify(q.question)]
    if numeric:
        lookups = _table_lookups(qa)
        rest = [q for q in rest if q.question in lookups]
    drawn = random.Random(seed).sample(rest, n)
    return computing + drawn + [QA(q, "") for q in UNANSWERABLE[:unanswerable]]


# GGUF value types (ggml's gguf.h): struct formats of the fixed-size ones; 8 string, 9 array
_GGUF_TYPES = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?"}
_GGUF_TYPES |= {10: "<Q", 11: "<q", 12: "<d"}
# general.file_type (llama_ftype) of the quantizations met here
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 15: "Q4_K_M", 17: "Q5_K_M"}


def gguf_metadata(path: Path) -> dict[str, object]:
    """The key-value header of a GGUF file (arrays of more than 8 items summarized)."""
    out: dict[str, object] = {}
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        f.read(4 + 8)  # version, tensor count
        (n_kv,) = struct.unpack("<Q", f.read(8))

        def string() -> str:
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8", "replace")

        def value(kind: int) -> object:
            if kind == 8:
                return string()
            if kind == 9:
                (item,) = struct.unpack("<I", f.read(4))
                (n,) = struct.unpack("<Q", f.read(8))
                items = [value(item) for _ in range(n)]
                return items if n <= 8 else f"<{n} items>"
            fmt = _GGUF_TYPES[kind]
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        for _ in range(n_kv):
            key = string()
            (kind,) = struct.unpack("<I", f.read(4))
            out[key] = value(kind)
    return out


def describe(path: Path) -> dict[str, object]:
    """What a GGUF says it is."""
    meta = gguf_metadata(path)
    template = str(meta.get("tokenizer.chat_template") or "")
    return {
        "file": str(path),
        "general.name": meta.get("general.name"),
        "general.architecture": meta.get("general.architecture"),
        "general.size_label": meta.get("general.size_label"),
        "quantization": FILE_TYPES.get(
            meta.get("general.file_type"), meta.get("general.file_type")
        ),  # type: ignore[arg-type]
        "chat_template": "ChatML" if "<|im_start|>" in template else (template[:60] or None),
    }


# The operand step on a fixed table (a filing's statement of operations, as the chunker keeps
# it): (question, the figure a right computed answer shows). Measures whether a model names
# operands askdocs can check, apart from retrieval, with prompts of ~300 tokens.
TABLE = (
    "Condensed Consolidated Statements of Operations (In millions)\n"
    "| | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022 |\n|---|---|---|\n"
    "| Products net sales | 60,584 | 63,355 |\n| Services net sales | 21,213 | 19,604 |\n"
    "| Total net sales | 81,797 | 82,959 |\n| Operating income | 22,998 | 23,076 |\n"
    "| Interest expense | 998 | 719 |"
)
SEGMENT_TABLE = (
    "Net sales by reportable segment (In millions)\n"
    "| | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022 |\n|---|---|---|\n"
    "| Americas | 35,383 | 37,472 |\n| Europe | 20,205 | 19,287 |\n"
    "| Greater China | 15,758 | 14,604 |\n| Japan | 4,821 | 5,446 |"
)
FIGURE_QUESTIONS = (
    (
        "What percentage of total net sales did Services contribute in the quarter ended July 1, 2023?",
        "25.9%",
    ),
    ("What was the operating margin in the quarter ended July 1, 2023?", "28.1%"),
    (
        "What was the percentage change in Services net sales from the quarter ended June 25, 2022 to the quarter ended July 1, 2023?",
        "+8.2%",
    ),
    ("What was the interest coverage ratio in the quarter ended July 1, 2023?", "23.04x"),
    (
        "Which segment had the highest net sales in the quarter ended July 1, 2023?",
        "Americas has the highest",
    ),
    (
        "Which segment had the lowest net sales in the quarter ended July 1, 2023?",
        "Japan has the lowest",
    ),
)


def run_figures(url: str, name: str) -> dict:
    """The fixed-table questions against the generator at ``url`` under profile ``name``."""
    from generation.client import GeneratorClient
    from generation.rag import Answer, answer
    from retrieval.types import ScoredChunk

    passages = [
        ScoredChunk(1, "d1", "2023 Q3 AAPL.pdf", "c1", TABLE, 4, "Statements of Operations", 1.0),
        ScoredChunk(2, "d1", "2023 Q3 AAPL.pdf", "c2", SEGMENT_TABLE, 9, "Segments", 0.9),
    ]
    client = GeneratorClient(url, timeout=900)
    rows = []
    for question, expect in FIGURE_QUESTIONS:
        t0 = time.perf_counter()
        *_, last = answer(question, passages, client, profile=PROFILES[name])
        assert isinstance(last, Answer)
        rows.append(
            {
                "question": question,
                "answer": last.text.split("\n\n")[0],
                "computed": last.computed,
                "right": last.computed and expect in last.text,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return {
        "profile": name,
        "computed": sum(r["computed"] for r in rows),
        "right": sum(r["right"] for r in rows),
        "questions": len(rows),
        "rows": rows,
    }


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def variant(spec: str) -> GenerationProfile:
    """``NAME`` or ``NAME:FIELD=VALUE,...``: a profile with some of its switches changed (for
    example ``qwen2.5-coder-0.5b:copy_figures=false``; ``rules=lenient`` takes the rules of a
    layout of ``generation.prompt.LAYOUTS``)."""
    name, _, changes = spec.partition(":")
    fields: dict[str, object] = {}
    for item in filter(None, changes.split(",")):
        key, _, value = item.partition("=")
        current = getattr(PROFILES[name], key)
        if key == "rules":  # a wording of generation.prompt's LAYOUTS, by its name
            fields[key] = LAYOUTS[value].rules
        elif isinstance(current, bool):
            fields[key] = value.lower() in ("1", "true", "yes", "on")
        else:
            fields[key] = type(current)(value)
    return dataclasses.replace(PROFILES[name], **fields)  # type: ignore[arg-type]


def run_profile(
    name: str, collection: str, qas: list[QA], port: int, progress: Path | None = None
) -> dict:
    """Serve the profile's model, ask every question, stop the server; each answer is also
    appended to ``progress`` (JSON lines) as it comes, so a run cut short can still be scored
    (``rescore``) on the questions it finished. ``name`` may be a ``variant``."""
    profile = variant(name)
    base = profile.name
    url = f"http://127.0.0.1:{port}/v1"
    settings = Settings(generator_url=url, generator_profile=base, start_generator=False)
    # the answer service finds the profile by its name: the variant stands in for it this run
    kept, PROFILES[base] = PROFILES[base], profile
    argv = server_command(
        None,
        url,
        settings.model_dir,
        threads=settings.generator_threads,
        n_ctx=settings.generator_ctx,
        packaged=profile.model,  # type: ignore[arg-type]
    )
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(url + "/models", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} server did not start")
            time.sleep(1)  # waiting on the server's port: nothing to wait on but polling
        ask = in_process_asker(settings)
        pairs: list[tuple[QA, Outcome]] = []
        for i, qa in enumerate(qas, 1):
            pairs.append((qa, outcome(ask(collection, qa.question))))
            print(f"  {name} {i}/{len(qas)}", file=sys.stderr, flush=True)
            if progress is not None:
                row = {"question": qa.question, "gold": qa.answer, **pairs[-1][1].__dict__}
                with progress.open("a") as f:
                    f.write(json.dumps(row) + "\n")
        summary = summarize(pairs)
        summary["server_peak_rss_mb"] = _peak_rss_mb(server.pid)
    finally:
        PROFILES[base] = kept
        server.terminate()
        server.wait(30)
    rows = [{"question": q.question, "gold": q.answer, **o.__dict__} for q, o in pairs]
    return {"profile": name, "model": profile.description, "summary": summary, "answers": rows}


COLUMNS = (
    ("figure_hits", "figure hits"),
    ("token_f1", "token F1"),
    ("wrong_refusal_rate", "wrong refusals"),
    ("unanswerable_refused", "unanswerable refused"),
    ("citation_precision", "citation precision"),
    ("computed_operands_in_passages", "computed: operands in passages"),
    ("ttft_p50_s", "TTFT p50 (s)"),
    ("tokens_per_s", "tokens/s"),
    ("server_peak_rss_mb", "server RSS (MB)"),
)


def table(results: list[dict]) -> str:
    head = "| model | " + " | ".join(c for _, c in COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (len(COLUMNS) + 1)]
    for r in results:
        s = r["summary"]
        lines.append(
            f"| {r['profile']} | " + " | ".join(str(s.get(k, "")) for k, _ in COLUMNS) + " |"
        )
    return "\n".join(lines)


def _rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line]
    return json.loads(path.read_text())["answers"]


def rescore(path: Path, only: set[str] | None = None) -> dict:
    """An `askdocs eval answers --json` file (or a run's ``--progress`` lines) summarized as this
    bench does; ``only``: just these questions (to compare runs on the same ones)."""
    data = {"answers": _rows(path)}
    if path.suffix != ".jsonl":
        data["generator"] = json.loads(path.read_text()).get("generator")
    if only is not None:
        data["answers"] = [r for r in data["answers"] if r["question"] in only]
    fields = set(Outcome.__dataclass_fields__)
    pairs = [
        (QA(r["question"], r["gold"]), Outcome(**{k: v for k, v in r.items() if k in fields}))
        for r in data["answers"]
    ]
    return {"profile": data.get("generator") or str(path), "summary": summarize(pairs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("subset")
    s.add_argument("--qa", type=Path, required=True)
    s.add_argument("--n", type=int, default=32)
    s.add_argument("--seed", type=int, default=39)
    s.add_argument("--unanswerable", type=int, default=len(UNANSWERABLE))
    s.add_argument(
        "--numeric",
        action="store_true",
        help="draw only questions one document's table answers with a figure",
    )
    s.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run")
    r.add_argument("--collection", required=True)
    r.add_argument("--qa", type=Path, required=True)
    r.add_argument("--profiles", nargs="+", default=[p for p in PROFILES if p != "plain"])
    r.add_argument("--port", type=int, default=8492)
    r.add_argument("--json", type=Path)
    r.add_argument("--progress", type=Path, help="append each answer here (JSON lines)")
    c = sub.add_parser("rescore")
    c.add_argument("files", type=Path, nargs="+")
    c.add_argument("--common", action="store_true", help="only the questions every file answered")
    g = sub.add_parser("figures")
    g.add_argument("--url", required=True, help="the generator serving the profile's model")
    g.add_argument("--profile", choices=list(PROFILES), required=True)
    m = sub.add_parser("meta")
    m.add_argument("files", type=Path, nargs="+")
    args = ap.parse_args()
    # a terminated run stops the server it started (its ``finally``) rather than leave it behind
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.cmd == "figures":
        out = run_figures(args.url, args.profile)
        print(json.dumps({k: v for k, v in out.items() if k != "rows"}))
        return
    if args.cmd == "meta":
        for path in args.files:
            print(json.dumps(describe(path)))
        return
    if args.cmd == "subset":
        qas = subset(args.qa, args.n, args.seed, args.unanswerable, args.numeric)
        with args.out.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["Question", "Answer"])
            w.writerows((q.question, q.answer) for q in qas)
        print(f"{len(qas)} questions -> {args.out}")
        return
    if args.cmd == "rescore":
        only = None
        if args.common:
            asked = [{r["question"] for r in _rows(p)} for p in args.files]
            only = set.intersection(*asked)
        results = [rescore(p, only) for p in args.files]
        print(json.dumps([r["summary"] for r in results], indent=2))
        print(table(results))
        return
    qas = read_qa(args.qa)
    results = []
    for name in args.profiles:
        results.append(run_profile(name, args.collection, qas, args.port, args.progress))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        print(json.dumps(results[-1]["summary"], indent=2), flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
