"""The ONNX query encoder, exported offline from the packaged model, matches sentence-transformers."""

import numpy as np
import pytest

from retrieval.embedding import Embedder

pytestmark = pytest.mark.integration


def test_onnx_queries_match_torch(tmp_path):
    embedder = Embedder("packaged:all-MiniLM-L6-v2", onnx_dir=tmp_path).load()
    assert embedder.enable_onnx_queries()
    assert len(list(tmp_path.glob("query-encoder-*.onnx"))) == 1
    for q in ["Which gene regulates apoptosis?", "x", "long query " * 200]:
        onnx = embedder.embed_query(q)
        torch = embedder.embed([q])[0]
        assert onnx.shape == (384,) and float(np.dot(onnx, torch)) > 0.9999
    # a second process start reuses the export
    again = Embedder("packaged:all-MiniLM-L6-v2", onnx_dir=tmp_path).load()
    assert again.enable_onnx_queries()


def test_without_onnx_dir_queries_stay_on_torch():
    embedder = Embedder("packaged:all-MiniLM-L6-v2").load()
    assert embedder.enable_onnx_queries() is False
    assert embedder.embed_query("hello").shape == (384,)
