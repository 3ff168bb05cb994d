import pytest

from retrieval.model_profiles import UNGATED, relevance_threshold

pytestmark = pytest.mark.unit


def test_the_threshold_travels_with_the_model():
    assert relevance_threshold("packaged:all-MiniLM-L6-v2", None) == 0.35
    # another model has no calibrated threshold: no gate, rather than MiniLM's cosine
    assert relevance_threshold("/models/multilingual-e5-small", None) == UNGATED
    # the operator's setting wins for any model
    assert relevance_threshold("/models/multilingual-e5-small", 0.8) == 0.8
    assert relevance_threshold("packaged:all-MiniLM-L6-v2", 0.2) == 0.2
