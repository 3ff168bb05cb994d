"""VectorIndex on real FAISS (small random data): kinds, deletes, filters, atomic save/load."""

import numpy as np
import pytest

from retrieval.vector_index import INDEX_FILE, VectorIndex, index_file

pytestmark = pytest.mark.unit
DIM = 16


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return np.arange(n, dtype=np.int64) * 7 + (1 << 40), vecs


@pytest.mark.parametrize("threshold,kind", [(1000, "flat"), (10, "hnsw")])
def test_build_kind_search_delete_and_reload(tmp_path, threshold, kind):
    ids, vecs = data(200)
    index = VectorIndex.build(ids, vecs, DIM, hnsw_threshold=threshold)
    assert index.kind == kind and index.size == 200
    assert index.search(vecs[5], 1)[0][0] == ids[5]
    index.remove(ids[5:6])
    assert index.size == 199
    assert ids[5] not in {i for i, _ in index.search(vecs[5], 10)}
    index.save(tmp_path)
    again = VectorIndex.load(tmp_path, DIM)
    assert again.kind == kind and again.size == 199
    assert ids[5] not in {i for i, _ in again.search(vecs[5], 10)}
    again.add(ids[5:6], vecs[5:6])  # re-adding revives it, without duplicates
    assert again.size == 200
    hits = [i for i, _ in again.search(vecs[5], 10)]
    assert hits[0] == ids[5] and hits.count(ids[5]) == 1


@pytest.mark.parametrize("threshold", [1000, 10])
def test_allowed_ids_filter_inside_the_search(threshold):
    ids, vecs = data(300)
    index = VectorIndex.build(ids, vecs, DIM, hnsw_threshold=threshold)
    allowed = ids[250:260]
    index.remove(ids[255:256])
    hits = index.search(vecs[0], 5, allowed_ids=allowed)
    assert len(hits) == 5  # the filter runs inside: still k results, all allowed
    assert {i for i, _ in hits} <= set(allowed.tolist()) - {int(ids[255])}


def test_needs_compaction():
    ids, vecs = data(100)
    flat = VectorIndex.build(ids, vecs, DIM, hnsw_threshold=1000)
    assert not flat.needs_compaction(1000)
    assert flat.needs_compaction(50)  # grew past the HNSW threshold
    hnsw = VectorIndex.build(ids, vecs, DIM, hnsw_threshold=10)
    assert not hnsw.needs_compaction(10)
    hnsw.remove(ids[:30])
    assert hnsw.deleted == 30 and hnsw.needs_compaction(10)  # too many tombstones


def test_save_is_atomic_replace(tmp_path):
    ids, vecs = data(10)
    VectorIndex.build(ids, vecs, DIM, 1000).save(tmp_path)
    VectorIndex.build(ids[:3], vecs[:3], DIM, 1000).save(tmp_path)
    assert VectorIndex.load(tmp_path, DIM).size == 3
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.idx"]  # no temp file left


def test_one_file_per_model_and_the_unnamed_file_of_older_versions(tmp_path):
    ids, vecs = data(20)
    VectorIndex.build(ids[:5], vecs[:5], DIM, 1000).save(tmp_path)  # an older version's file
    # a model's index falls back to the unnamed file until it saves its own, which replaces it
    assert VectorIndex.load(tmp_path, DIM, "model-a").size == 5
    VectorIndex.build(ids[:8], vecs[:8], DIM, 1000).save(tmp_path, "model-a")
    assert not (tmp_path / INDEX_FILE).exists()
    assert (tmp_path / index_file("model-a")).exists()
    # another model's file sits beside it; each model reads its own
    VectorIndex.build(ids, vecs, DIM, 1000).save(tmp_path, "model-b")
    assert VectorIndex.load(tmp_path, DIM, "model-a").size == 8
    assert VectorIndex.load(tmp_path, DIM, "model-b").size == 20
    assert index_file("model-a") != index_file("model-b")
    assert VectorIndex.load(tmp_path, DIM, "model-c").size == 0  # none saved yet


def test_model_dim_reads_the_last_dense_layer(tmp_path):
    import json

    from retrieval.embedding import model_dim

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 384})
    )
    assert model_dim(str(tmp_path)) == 384
    (tmp_path / "2_Dense").mkdir()
    (tmp_path / "2_Dense" / "config.json").write_text(json.dumps({"out_features": 256}))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert model_dim(str(tmp_path)) == 256
