import pytest

from retrieval.fusion import minmax, minmax_by_document, rrf
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
