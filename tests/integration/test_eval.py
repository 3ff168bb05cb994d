"""`askdocs eval retrieval` end to end on a tiny BEIR corpus the test writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

DOCS = [
    (
        "d1",
        "Volcanoes of Iceland",
        "Eyjafjallajokull erupted in 2010 and grounded flights across Europe.",
    ),
    ("d2", "Honey bees", "Worker bees perform a waggle dance to point hive mates to nectar."),
    ("d3", "Tidal power", "The Rance tidal power station in Brittany opened in 1966."),
]
QUERIES = [
    ("q1", "Which Icelandic volcano disrupted European air travel?"),
    ("q2", "How do bees tell each other where nectar is?"),
    ("q3", "When did the Rance tidal station open?"),
]


def test_eval_retrieval_prints_metrics_per_mode(stack: Stack, tmp_path: Path) -> None:
    corpus, queries, qrels = (
        tmp_path / "corpus.jsonl",
        tmp_path / "queries.jsonl",
        tmp_path / "qrels.tsv",
    )
    corpus.write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS)
    )
    queries.write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in QUERIES))
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    out_json = tmp_path / "result.json"
    out = stack.cli(
        "eval",
        "retrieval",
        "--corpus",
        str(corpus),
        "--queries",
        str(queries),
        "--qrels",
        str(qrels),
        "--json",
        str(out_json),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {r["mode"]: r for r in json.loads(out_json.read_text())}
    assert set(rows) == {"dense", "lexical", "hybrid"}
    for row in rows.values():
        assert row["nDCG@10"] == pytest.approx(1.0)  # each query's one relevant doc ranks first
        assert row["MRR@10"] == pytest.approx(1.0) and row["recall@10"] == 1.0
        assert row["p50_ms"] > 0
    assert "nDCG@10" in out.stdout


def test_eval_answers_scores_a_small_qa_set(stack: Stack, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "freedonia.md").write_text(
        "# Freedonia\n\nThe capital of Freedonia is Fredville. Its currency is the ducat.\n"
    )
    (docs / "aubrey.txt").write_text("The lighthouse keeper of Port Aubrey is Ingrid Solberg.\n")
    qa = tmp_path / "qa.csv"
    qa.write_text(
        "Question,Answer\n"
        "What is the capital of Freedonia?,Fredville\n"
        "Who is the lighthouse keeper of Port Aubrey?,Ingrid Solberg\n"
        "What was the dividend of the semiconductor company in 2023?,not in the documents\n"
    )
    out_json = tmp_path / "answers.json"
    out = stack.cli(
        "eval", "answers", "--docs", str(docs), "--qa", str(qa), "--json", str(out_json)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "contains_gold" in out.stdout and "citation_precision" in out.stdout
    assert "generator: " in out.stdout and "llama.cpp" in out.stdout
    result = json.loads(out_json.read_text())
    summary = result["summary"]
    assert summary["questions"] == 3
    assert summary["contains_gold"] > 0.3  # Fredville at least; the refusal never "contains"
    assert summary["abstain_rate"] > 0.3  # the off-topic question is refused
    assert summary["citation_precision"] > 0 and summary["ttft_p50_s"] > 0
    assert "llama.cpp" in result["generator"] and "wrong_refusal_rate" in summary
    answers = {a["question"]: a for a in result["answers"]}
    assert "Fredville" in answers["What is the capital of Freedonia?"]["answer"]
    # the same questions through the answer service in the CLI's own process (the documents are
    # held already: nothing is uploaded again)
    out = stack.cli(
        "eval", "answers", "--docs", str(docs), "--qa", str(qa), "--json", str(out_json),
        "--in-process",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    again = json.loads(out_json.read_text())
    assert again["summary"]["questions"] == 3 and again["summary"]["contains_gold"] > 0.3
    answers = {a["question"]: a for a in again["answers"]}
    assert "Fredville" in answers["What is the capital of Freedonia?"]["answer"]
    assert answers["What was the dividend of the semiconductor company in 2023?"]["abstained"]
