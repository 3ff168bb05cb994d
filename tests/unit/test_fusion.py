import pytest

from retrieval.fusion import minmax, minmax_by_document, minmax_passages, rrf, spread
from retrieval.lexical_index import query_terms

pytestmark = pytest.mark.unit


def test_rrf_rewards_agreement():
    fused = rrf([[1, 2, 3], [3, 1, 4]], k=60)
    assert [i for i, _ in fused][:2] == [1, 3]
    assert dict(fused)[1] == pytest.approx(1 / 61 + 1 / 62)
    assert dict(fused)[4] == pytest.approx(1 / 63)


def test_minmax_weights_and_missing_items():
    fused = dict(minmax([[(1, 0.9), (2, 0.5)], [(2, 10.0), (3, 5.0)]], [0.5, 0.5]))
    assert fused[1] == pytest.approx(0.5)  # top of dense only
    assert fused[2] == pytest.approx(0.5)  # bottom of dense (0) + top of lexical (1)
    assert fused[3] == pytest.approx(0.0)
    assert minmax([[], [(7, 3.0)]], [0.5, 0.5]) == [(7, 0.5)]


def test_query_terms_strip_query_syntax():
    assert query_terms('title:"Foo" AND bar OR (baz)^2 -x*') == "title foo and bar or baz 2 x"


def test_minmax_by_document_gives_a_document_both_sides():
    # doc A: dense evidence in chunk 1, lexical in chunk 2; doc B: both sides on chunk 3, weaker
    dense = [(1, 0.9), (3, 0.7), (4, 0.1)]
    lexical = [(2, 12.0), (3, 9.0), (5, 1.0)]
    doc = {1: "A", 2: "A", 3: "B", 4: "C", 5: "D"}
    fused = minmax_by_document([dense, lexical], [0.5, 0.5], doc)
    order = [i for i, _ in fused]
    assert set(order[:2]) == {1, 2}  # A first: max dense (1.0) + max lexical (1.0)
    assert order[2] == 3
    plain = [i for i, _ in minmax([dense, lexical], [0.5, 0.5])]
    assert plain[0] == 3  # chunk-level fusion prefers the chunk with both, losing doc A's sum


def test_minmax_by_document_orders_chunks_within_a_document_by_own_weights():
    # doc A holds chunks 1 (dense's best) and 2 (lexical's best); doc B chunk 3
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]
    lexical = [(2, 10.0), (1, 2.0), (3, 1.0)]
    doc = {1: "A", 2: "A", 3: "B"}
    lexical_led = minmax_by_document([dense, lexical], [0.45, 0.55], doc)
    dense_led = minmax_by_document([dense, lexical], [0.45, 0.55], doc, own_weights=[0.8, 0.2])
    assert [i for i, _ in lexical_led] == [2, 1, 3]
    assert [i for i, _ in dense_led] == [1, 2, 3]
    # the documents' scores are the same either way: only the order inside A changed
    assert dense_led[-1][1] == pytest.approx(lexical_led[-1][1])
    assert min(s for i, s in dense_led if i in (1, 2)) > 1.0  # A: best dense + best lexical


def test_minmax_passages_mixes_documents_and_applies_the_prior():
    # doc A holds the best dense and the best lexical passage; its other passages are weak
    dense = [(1, 0.9), (2, 0.5), (3, 0.45), (4, 0.85), (5, 0.8)]
    lexical = [(6, 10.0), (4, 9.0), (5, 8.5), (2, 1.0), (3, 0.5)]
    doc = {1: "A", 2: "A", 3: "A", 6: "A", 4: "B", 5: "B"}
    by_doc = [i for i, _ in minmax_by_document([dense, lexical], [0.5, 0.5], doc)]
    assert {doc[i] for i in by_doc[:4]} == {"A"}  # the document first: all its passages lead
    mixed = [i for i, _ in minmax_passages([dense, lexical], [0.5, 0.5], doc, 0.3)]
    assert mixed[:2] == [4, 5]  # B's passages hold both sides; A's weak ones fall behind them
    # a prior against B (the question names another period) puts A's passages first again
    against = minmax_passages([dense, lexical], [0.5, 0.5], doc, 0.3, {"B": -1.0}, 0.5)
    assert doc[against[0][0]] == "A"
    # without a document share and prior it is the plain per-passage min-max
    plain = minmax_passages([dense, lexical], [0.5, 0.5], doc, 0.0)
    assert plain == minmax([dense, lexical], [0.5, 0.5])


def test_spread_caps_one_document_unless_it_is_overwhelming():
    doc = {1: "A", 2: "A", 3: "A", 4: "A", 5: "B", 6: "C"}
    ranked = [(1, 0.9), (2, 0.88), (3, 0.86), (4, 0.85), (5, 0.84), (6, 0.5)]
    out = [i for i, _ in spread(ranked, doc, 5, per_document=2, margin=0.2)]
    assert out[:5] == [1, 2, 5, 6, 3]  # two of A, then B and C, then A again
    assert sorted(out) == [1, 2, 3, 4, 5, 6]  # nothing lost, the rest follows
    # A's third passage beats every other document's by more than the margin: it stays
    far = [(1, 0.9), (2, 0.88), (3, 0.86), (5, 0.3), (6, 0.2)]
    assert [i for i, _ in spread(far, doc, 5, per_document=2, margin=0.2)][:3] == [1, 2, 3]
    assert spread(ranked, doc, 5, per_document=0) == ranked  # 0: no cap
