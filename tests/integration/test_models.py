"""Models beyond the packaged defaults, on the real stack: a cross-encoder reranks the passages
(ASKDOCS_RERANK_MODEL), and changing the embedding model re-embeds a collection in the background
while its old index keeps serving.

Both models are made here, offline, from the packaged MiniLM: a cross-encoder with a seeded
classification head (a real CrossEncoder, untrained: the test checks that the server orders by its
scores, not that they are good) and a second embedding model, MiniLM followed by a 384 -> 256
orthonormal projection (a real sentence-transformers model with its own dimension).
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import httpx
import numpy as np
import pytest

from retrieval.embedding import passage_text, resolve_model_path
from retrieval.segments import Manifest
from tests.integration.conftest import running_stack, wait_for, wait_job

pytestmark = pytest.mark.integration

DOCS = {
    "volcano.txt": "Volcanic ash from the Eyjafjallajokull eruption grounded flights across "
    "Europe in April 2010. Airlines cancelled over one hundred thousand flights.",
    "orchard.txt": "The orchard grows apples and pears; pruning in late winter keeps the trees "
    "productive and lets light reach the fruit.",
    "ledger.txt": "The quarterly ledger shows revenue of 4.2 million euros, with shipping costs "
    "up eleven percent because of new tariffs.",
    "glacier.txt": "Glaciers in the Alps lost a tenth of their volume in two summers; meltwater "
    "feeds the rivers that turn the turbines downstream.",
}
QUERY = "Why were flights cancelled in Europe?"
# Its own Redis database: the session's stack (database 13) may be running meanwhile.
REDIS_DB = 14


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    root = tmp_path_factory.mktemp("models")
    base = resolve_model_path("packaged:all-MiniLM-L6-v2")
    torch.manual_seed(0)
    cross = CrossEncoder(base, num_labels=1, device="cpu", local_files_only=True)
    cross.save(str(root / "cross"))

    st = SentenceTransformer(base, device="cpu", local_files_only=True)
    projection = Dense(384, 256, bias=False, activation_function=torch.nn.Identity())
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((384, 384)))
    with torch.no_grad():
        projection.linear.weight.copy_(torch.from_numpy(q[:256].astype(np.float32)))
    second = SentenceTransformer(modules=[st[0], st[1], projection, Normalize()], device="cpu")
    second.save(str(root / "minilm-256"))
    return root / "cross", root / "minilm-256"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models-data")


@pytest.fixture(scope="module")
def first_key(models: tuple[Path, Path], data: Path) -> str:
    """The first stack, stopped before the tests go on: packaged MiniLM and the cross-encoder;
    four documents ingested."""
    cross, _ = models
    env = {"ASKDOCS_RERANK_MODEL": str(cross)}
    with (
        running_stack(data, REDIS_DB, extra_env=env) as stack,
        stack.client(stack.admin_key) as api,
    ):
        job = api.post(
            "/documents",
            data={"collection": "default"},
            files=[("files", (name, text.encode(), "text/plain")) for name, text in DOCS.items()],
        ).json()
        assert wait_job(api, job["id"])["counts"].get("ready") == len(DOCS)
        _check_reranking(api, cross)
    return stack.admin_key


def _check_reranking(api: httpx.Client, cross: Path) -> None:
    from sentence_transformers import CrossEncoder

    assert api.get("/status").json()["components"]["reranker"]["model"] == str(cross)
    body = {"collection": "default", "query": QUERY, "k": 4}
    reranked = api.post("/search", json=body).json()["passages"]  # on by default when set
    fused = api.post("/search", json={**body, "rerank": False}).json()["passages"]
    assert len(reranked) == len(fused) == 4
    model = CrossEncoder(str(cross), device="cpu", local_files_only=True)
    # it reads what the embedding model reads: the document's label, the heading, the text
    pairs = [(QUERY, passage_text(p["heading"], p["text"], p["document_name"])) for p in reranked]
    expected = model.predict(pairs, convert_to_numpy=True)
    # the score of each passage is the cross-encoder's, and the order follows it
    assert np.allclose([p["score"] for p in reranked], expected, atol=1e-4)
    assert [p["score"] for p in reranked] == sorted((p["score"] for p in reranked), reverse=True)
    assert {p["chunk_id"] for p in reranked} == {p["chunk_id"] for p in fused}
    assert [p["score"] for p in fused] != [p["score"] for p in reranked]


def test_reranker_orders_by_the_cross_encoder(first_key: str) -> None:
    assert first_key.startswith("askd_")  # the checks ran while the first stack was up


def test_changing_the_model_reembeds_while_the_old_index_serves(
    models: tuple[Path, Path], data: Path, first_key: str
) -> None:
    _, second = models
    fired = data / "failpoints"
    fired.mkdir()
    env = {
        "ASKDOCS_EMBEDDING_MODEL": str(second),
        "ASKDOCS_WORKER_CONCURRENCY": "2",  # one child stays free while the other is held
        "ASKDOCS_FAILPOINTS": "reembed.batch=hang",
        "ASKDOCS_FAILPOINT_DIR": str(fired),
    }
    with (
        running_stack(data, REDIS_DB, extra_env=env, admin_key=first_key) as stack,
        stack.client(first_key) as api,
    ):
        marker = fired / "reembed.batch.fired"
        wait_for(marker.exists, 300, "the re-embedding to start (and stop at the failpoint)")

        def default() -> dict:
            return next(c for c in api.get("/collections").json() if c["name"] == "default")

        coll = default()
        assert coll["embedding_model"] == "packaged:all-MiniLM-L6-v2"
        assert coll["embedding_dim"] == 384
        assert coll["reembedding"]["model"] == str(second)
        assert coll["reembedding"]["chunks_total"] == len(DOCS)
        assert coll["reembedding"]["chunks_done"] == 0
        # the old index serves, queried with the old model
        dense = {"collection": "default", "query": QUERY, "k": 1, "mode": "dense"}
        assert api.post("/search", json=dense).json()["passages"][0]["document_name"] == (
            "volcano.txt"
        )
        # a new document, embedded with the new model, waits for the switch
        late = b"Lava fountains on La Palma destroyed over a thousand houses in 2021."
        job = api.post(
            "/documents",
            data={"collection": "default"},
            files=[("files", ("lava.txt", late, "text/plain"))],
        ).json()
        doc_id = job["documents"][0]["id"]
        wait_for(
            lambda: api.get(f"/documents/{doc_id}").json()["status"] == "indexing",
            300,
            "the new document to be embedded and wait in indexing",
        )
        lava = {**dense, "query": "Which houses did lava destroy on La Palma?"}
        found = api.post("/search", json={**lava, "k": 5}).json()["passages"]
        assert "lava.txt" not in {p["document_name"] for p in found}

        os.kill(int(marker.read_text()), signal.SIGKILL)  # the held child; the task returns
        wait_for(lambda: default()["reembedding"] is None, 300, "the switch to the new model")
        coll = default()
        assert coll["embedding_model"] == str(second)
        assert coll["embedding_dim"] == 256
        wait_job(api, job["id"])
        assert api.get(f"/documents/{doc_id}").json()["status"] == "ready"
        assert api.post("/search", json=dense).json()["passages"][0]["document_name"] == (
            "volcano.txt"
        )
        assert api.post("/search", json=lava).json()["passages"][0]["document_name"] == ("lava.txt")
        index = data / "index" / "default"
        db = sqlite3.connect(data / "catalog.db")
        (text,) = db.execute("SELECT segments FROM collections WHERE id = 'default'").fetchone()
        db.close()
        manifest = Manifest.from_json(text)
        assert manifest.model == str(second) and manifest.segments
        # the old model's segments (and any file from before segments) are gone
        assert {p.name for p in index.glob("seg-*")} == manifest.files
        assert not list(index.glob("vectors*.idx"))
        check = stack.cli("check")
        assert check.returncode == 0, check.stdout + check.stderr
