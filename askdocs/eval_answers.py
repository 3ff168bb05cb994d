"""`askdocs eval answers`: a folder of documents -> a scratch collection through the normal pipeline
-> every question of a QA file asked through `/ask` -> answer accuracy (normalized exact match, token
F1, contains the gold answer, the gold figure), citation precision, wrong refusals, refusals of
questions the documents do not answer, computed answers whose operands are in the cited passages,
time to first token and tokens/s.

QA files: CSV with `Question` and `Answer` columns (as sec-10q's `qna_data.csv`), or JSONL with
`question` and `answer`; an empty answer marks a question the documents do not answer (a right
answer refuses it). Normalization follows SQuAD's (lower case, no punctuation or articles)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import statistics
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.answering import Question
from api.app import build_services
from askdocs.eval_retrieval import percentile
from client.http import ApiClient
from core.auth import LOCAL
from core.settings import Settings

_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class QA:
    question: str
    answer: str


@dataclass(frozen=True)
class Outcome:
    """One question's result."""

    answer: str
    abstained: bool
    citations: int
    supported_citations: int
    ttft_s: float | None
    tokens: int
    generation_s: float
    # the text of the passages the model was given (to tell a wrong refusal from a right one)
    given: str = ""
    closest_evidence: int = 0  # sentences shown as the closest evidence after a refusal
    # askdocs computed the answer's figure from operands the model named (generation.figures)
    computed: bool = False
    # a computed answer: every operand of its formula is in a passage it cites (checked here,
    # apart from the check the answer step makes)
    operands_in_passages: bool = False


def read_qa(path: Path) -> list[QA]:
    if path.suffix.lower() == ".jsonl":
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [QA(str(r["question"]), str(r["answer"])) for r in rows]
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [QA(r["Question"], r.get("Answer") or "") for r in rows if r.get("Question")]


def normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize(prediction) == normalize(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or not common:
        return float(pred == ref)
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, gold: str) -> float:
    g = normalize(gold)
    return float(bool(g) and g in normalize(prediction))


def generator_line(settings: Settings) -> str:
    """Which model and server answer (`/v1/models`: vLLM says owned_by "vllm" and its context)."""
    import httpx

    url = settings.generator_url.rstrip("/")
    try:
        listed = httpx.get(url + "/models", timeout=10).json().get("data", [])
    except (httpx.HTTPError, ValueError):
        return f"generator at {url}: not answering"
    if not listed:
        return f"generator at {url}: no model"
    m = listed[0]
    owner = str(m.get("owned_by") or "")
    server = "vLLM" if owner == "vllm" else "llama.cpp (llama-cpp-python)" if owner else "unknown"
    ctx = m.get("max_model_len")
    return f"generator: {m.get('id')} on {server} at {url}" + (f", context {ctx}" if ctx else "")


_FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")


def figures(text: str) -> set[str]:
    """The figures of a text that identify an answer: numbers without their thousands commas,
    leaving out years (1900-2099) and numbers below 10, which any filing is full of."""
    out = set()
    # a filing's form ("10-Q", "10-K") is not a figure
    text = re.sub(r"\b\d+-[QK]s?\b", " ", text)
    for m in _FIGURE.findall(text):
        n = m.replace(",", "").rstrip(".")
        try:
            value = float(n)
        except ValueError:
            continue
        if value < 10 or (n.isdigit() and len(n) == 4 and 1900 <= value <= 2099):
            continue
        out.add(n)
    return out


def holds_answer(passages: str, gold: str) -> bool:
    """The passages hold the gold answer: its text, or one of its figures (a long written gold
    answer is never found verbatim; the figures it states are)."""
    if contains(passages, gold):
        return True
    wanted = figures(gold)
    return bool(wanted & figures(passages))


def scratch_collection(folder: Path) -> str:
    """One collection per folder content (names and sizes), so a rerun reuses what was ingested."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(folder)}\0{p.stat().st_size}\n".encode())
    return f"eval-qa-{h.hexdigest()[:12]}"


Asker = Callable[[str, str], Iterable[tuple[str, Any]]]


def http_asker(api: ApiClient) -> Asker:
    """Questions over HTTP, as any client asks them."""
    return lambda collection, question: api.ask(collection, question)


def in_process_asker(settings: Settings) -> Asker:
    """Questions through the answer service in this process, over the server's catalog, indexes
    and generator (as the local admin): the answer path without HTTP."""
    services = build_services(settings)
    services.embedder.load()
    return lambda collection, question: services.answers.ask(LOCAL, Question(collection, question))


def outcome(events: Iterable[tuple[str, Any]]) -> Outcome:
    """Time an answer stream of (event, data) pairs as `/ask` sends them (over HTTP or in-process)."""
    t0 = time.perf_counter()
    first: float | None = None
    tokens = 0
    done: dict = {}
    passages: list[dict] = []
    for event, data in events:
        if event == "sources":
            passages = list(data.get("passages", []))
        elif event == "token":
            tokens += 1
            if first is None:
                first = time.perf_counter()
        elif event == "done":
            done = data
        elif event == "error":
            raise RuntimeError(data.get("message", "generator error"))
    end = time.perf_counter()
    cited = done.get("citations", [])
    abstained = bool(done.get("abstained"))
    given = passages[: done.get("passages_given", 0)]
    computed = bool(done.get("computed"))
    return Outcome(
        # a refusal earns nothing, whatever evidence it shows after it
        answer="" if abstained else done.get("answer", ""),
        abstained=abstained,
        citations=len(cited),
        supported_citations=sum(1 for c in cited if c.get("supported")),
        ttft_s=None if first is None else first - t0,
        tokens=tokens,
        generation_s=end - (first or end),
        given="\n".join(p.get("text", "") for p in given),
        closest_evidence=len(done.get("closest_evidence", [])),
        computed=computed,
        operands_in_passages=computed and operands_cited(done.get("answer", ""), given),
    )


_MARK = re.compile(r"\[(\d+)\]")


def operands_cited(answer: str, given: list[dict]) -> bool:
    """Every figure a computed answer computes from (before its last "=", or each compared
    row's) stands in a passage the answer cites."""
    from generation.figures import Operand, locate

    cited = {int(n) for n in _MARK.findall(answer)}
    texts = [given[n - 1].get("text", "") for n in cited if 1 <= n <= len(given)]
    if not texts:
        return False
    head = answer.rsplit("=", 1)[0] if "=" in answer else answer.split(":", 1)[-1]
    numbers = re.findall(r"\(?-?\$?\d[\d,]*(?:\.\d+)?\)?%?", _MARK.sub(" ", head))
    if not numbers:
        return False
    return all(any(locate(Operand("", n, 0), t) for t in texts) for n in numbers)


def figure_hit(prediction: str, gold: str) -> bool:
    """The answer states one of the gold answer's figures (thousands commas aside)."""
    return bool(figures(gold) & figures(prediction))


def summarize(pairs: list[tuple[QA, Outcome]]) -> dict[str, float]:
    """Means over the questions the documents answer; citation precision over all citations
    made; the questions they do not answer (an empty gold answer) count only as refused or not."""
    unanswerable = [(q, o) for q, o in pairs if not q.answer.strip()]
    pairs = [(q, o) for q, o in pairs if q.answer.strip()]
    n = len(pairs) or 1
    numeric = [(q, o) for q, o in pairs if figures(q.answer)]
    computed = [o for _, o in pairs + unanswerable if o.computed]
    cited = sum(o.citations for _, o in pairs)
    ttfts = [o.ttft_s for _, o in pairs if o.ttft_s is not None]
    rates = [o.tokens / o.generation_s for _, o in pairs if o.generation_s > 0 and o.tokens > 1]
    # "wrong refusal": the model refused although a passage it was given holds the gold answer
    # (its text, or a figure it states)
    answerable = [(q, o) for q, o in pairs if holds_answer(o.given, q.answer)]
    wrong = sum(1 for _, o in answerable if o.abstained)
    return {
        "questions": len(pairs),
        "exact_match": round(sum(exact_match(o.answer, q.answer) for q, o in pairs) / n, 4),
        "token_f1": round(sum(token_f1(o.answer, q.answer) for q, o in pairs) / n, 4),
        "contains_gold": round(sum(contains(o.answer, q.answer) for q, o in pairs) / n, 4),
        "citation_precision": round(sum(o.supported_citations for _, o in pairs) / cited, 4)
        if cited
        else 0.0,
        "answers_with_citation": round(sum(1 for _, o in pairs if o.citations) / n, 4),
        "abstain_rate": round(sum(1 for _, o in pairs if o.abstained) / n, 4),
        "gold_in_given_passages": len(answerable),
        "wrong_refusal_rate": round(wrong / len(answerable), 4) if answerable else 0.0,
        "refusals_with_evidence": sum(1 for _, o in pairs if o.abstained and o.closest_evidence),
        "numeric_questions": len(numeric),
        "figure_hits": round(
            sum(figure_hit(o.answer, q.answer) for q, o in numeric) / len(numeric), 4
        )
        if numeric
        else 0.0,
        "unanswerable_questions": len(unanswerable),
        "unanswerable_refused": round(
            sum(o.abstained for _, o in unanswerable) / len(unanswerable), 4
        )
        if unanswerable
        else 0.0,
        "computed_answers": len(computed),
        "computed_operands_in_passages": round(
            sum(o.operands_in_passages for o in computed) / len(computed), 4
        )
        if computed
        else 0.0,
        "ttft_p50_s": round(statistics.median(ttfts), 2) if ttfts else 0.0,
        "ttft_p90_s": round(percentile(ttfts, 90), 2),
        "tokens_per_s": round(statistics.median(rates), 1) if rates else 0.0,
    }
