import pytest

from retrieval.fusion import minmax, rrf
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
