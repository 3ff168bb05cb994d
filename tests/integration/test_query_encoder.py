"""The ONNX encoder, exported offline from the packaged model, matches sentence-transformers."""

import numpy as np
import pytest

from retrieval.embedding import Embedder

pytestmark = pytest.mark.integration


def test_onnx_queries_match_torch(tmp_path):
    embedder = Embedder("packaged:all-MiniLM-L6-v2", onnx_dir=tmp_path).load()
    assert embedder.enable_onnx()
    assert len(list(tmp_path.glob("query-encoder-*.onnx"))) == 1
    for q in ["Which gene regulates apoptosis?", "x", "long query " * 200]:
        onnx = embedder.embed_query(q)
        torch = embedder.embed([q])[0]
        assert onnx.shape == (384,) and float(np.dot(onnx, torch)) > 0.9999
    # a second process start reuses the export
    again = Embedder("packaged:all-MiniLM-L6-v2", onnx_dir=tmp_path).load()
    assert again.enable_onnx()


def test_without_onnx_dir_queries_stay_on_torch():
    embedder = Embedder("packaged:all-MiniLM-L6-v2").load()
    assert embedder.enable_onnx() is False
    assert embedder.embed_query("hello").shape == (384,)


def test_onnx_passages_match_torch_one_at_a_time_and_in_padded_batches(tmp_path):
    texts = [
        "short",
        "2023 Q1 AAPL\nIncome\nProducts | $96,388 | $104,429",
        "a long passage " * 300,
    ]
    torch = Embedder("packaged:all-MiniLM-L6-v2").load().embed(texts)
    for batch_size in (1, 2, 32):
        onnx = Embedder(
            "packaged:all-MiniLM-L6-v2",
            batch_size=batch_size,
            threads=1,
            onnx_dir=tmp_path,
            onnx_passages=True,
        ).load()
        assert onnx.enable_onnx()
        got = onnx.embed(texts)
        assert got.shape == (3, 384) and got.dtype == np.float32
        np.testing.assert_allclose(got, torch, atol=1e-4)
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
