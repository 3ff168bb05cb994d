import pytest

from askdocs.eval_retrieval import (
    document_spread,
    evaluate,
    percentile,
    read_qrels,
    to_doc_run,
)

pytestmark = pytest.mark.unit


def test_doc_run_keeps_each_documents_best_chunk():
    hits = [{"d": "a"}, {"d": "b"}, {"d": "a"}, {"d": "c"}]
    run = to_doc_run(hits, lambda p: p["d"])
    assert sorted(run, key=run.get, reverse=True) == ["a", "b", "c"]


def test_metrics_from_trec_eval():
    qrels = {"q1": {"d1": 1}, "q2": {"d9": 1}}
    run = {"q1": {"d1": 3.0, "d2": 2.0}, "q2": {"d2": 3.0, "d9": 2.0}}
    m = evaluate(qrels, run)
    assert m["MRR@10"] == pytest.approx((1 + 0.5) / 2)
    assert m["recall@10"] == pytest.approx(1.0)
    assert m["nDCG@10"] == pytest.approx((1 + 1 / 1.5849625) / 2, rel=1e-4)


def test_missing_query_counts_as_zero():
    m = evaluate({"q1": {"d1": 1}, "q2": {"d2": 1}}, {"q1": {"d1": 1.0}})
    assert m["nDCG@10"] == pytest.approx(0.5)


def test_read_qrels_skips_header(tmp_path):
    f = tmp_path / "q.tsv"
    f.write_text("query-id\tcorpus-id\tscore\n1\t10\t1\n1\t11\t2\n")
    assert read_qrels(f) == {"1": {"10": 1, "11": 2}}


def test_percentile():
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile(list(range(101)), 99) == 99


def test_answer_metrics_follow_squad_normalization():
    from askdocs.eval_answers import contains, exact_match, token_f1

    assert exact_match("The Fredville.", "fredville") == 1.0
    assert exact_match("Fredville city", "Fredville") == 0.0
    assert token_f1("net sales were 5 billion", "net sales 5 billion dollars") == pytest.approx(0.8)
    assert token_f1("", "x") == 0.0
    assert contains("Revenue was $7,442 million in Q3.", "$7,442 million") == 1.0
    assert contains("Revenue rose.", "$7,442 million") == 0.0


def test_answer_summary_counts_citations_and_abstentions():
    from askdocs.eval_answers import QA, Outcome, summarize

    pairs = [
        (QA("q1", "Fredville"), Outcome("Fredville [1].", False, 2, 1, 1.0, 10, 2.0)),
        (QA("q2", "three"), Outcome("The documents do not answer.", True, 0, 0, 3.0, 5, 1.0)),
    ]
    s = summarize(pairs)
    assert s["contains_gold"] == 0.5 and s["abstain_rate"] == 0.5
    assert s["citation_precision"] == 0.5 and s["answers_with_citation"] == 0.5
    assert s["ttft_p50_s"] == 2.0 and s["tokens_per_s"] == 5.0
    assert s["gold_in_given_passages"] == 0 and s["wrong_refusal_rate"] == 0.0


def test_a_refusal_over_passages_that_hold_the_answer_is_a_wrong_refusal():
    from askdocs.eval_answers import QA, Outcome, summarize

    held = "The council has three members."
    pairs = [
        (QA("q1", "three"), Outcome("", True, 0, 0, 1.0, 5, 1.0, given=held)),
        (QA("q2", "three"), Outcome("three [1]", False, 1, 1, 1.0, 5, 1.0, given=held)),
        (QA("q3", "Fredville"), Outcome("", True, 0, 0, 1.0, 5, 1.0, given=held)),
    ]
    s = summarize(pairs)
    assert s["gold_in_given_passages"] == 2 and s["wrong_refusal_rate"] == 0.5


def test_a_written_gold_answer_is_held_by_its_figures():
    from askdocs.eval_answers import figures, holds_answer

    gold = "In Q3 2023 revenue rose 12.5% to $7,442 million, from $6,100 million in 2022."
    assert figures(gold) == {"12.5", "7442", "6100"}
    assert holds_answer("| Revenue | 7,442 | 6,100 |", gold)
    assert not holds_answer("Revenue was reported for 2023 and 2022 in note 3.", gold)


def test_document_spread_counts_documents_and_first_hits():
    qrels = {"q1": {"d1": 1}, "q2": {"d9": 1}}
    tops = {"q1": ["d1", "d1", "d2", "d3", "d1"], "q2": ["d2", "d9", "d9", "d9", "d9"]}
    m = document_spread(tops, qrels)
    assert m["docs@5"] == pytest.approx((3 + 2) / 2)
    assert m["first_rel"] == pytest.approx(0.5)  # q1's first passage is relevant, q2's not
