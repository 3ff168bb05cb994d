import pytest

from askdocs.eval_retrieval import evaluate, percentile, read_qrels, to_doc_run

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
