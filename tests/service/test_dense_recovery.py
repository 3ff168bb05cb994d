"""Dense search comes back by itself: a collection whose embedding model's directory is briefly
gone has its dense side off, `/status` and the metrics say so, and the relevance gate refuses
(saying why) rather than letting everything through; once the directory is back, the API loads the
model again after its backoff (a small one here), without a restart."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from api.answering import UNJUDGED, Question
from core.auth import LOCAL
from core.catalog import Collection
from retrieval.embedding import resolve_model_path
from tests import redis_server
from tests.integration.conftest import wait_for
from tests.service.conftest import SERVICE_REDIS_DB, Harness, in_process

pytestmark = pytest.mark.service

FERRY = (
    b"The Lindqvist ferry leaves the north pier at 07:40 every weekday. On Sundays it does not run."
)
# shares no word with the passage: only the dense side finds it
PARAPHRASE = "boat departure timetable"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.flushdb()
    with in_process(
        tmp_path_factory.mktemp("dense"),
        embedding_retry_seconds=0.2,
        embedding_retry_max_seconds=0.5,
        # the collection's vectors come to name a model directory of their own, which has no
        # calibrated threshold: its operator sets one
        relevance_threshold=0.35,
    ) as h:
        yield h
    broker.flushdb()


def dense_names(h: Harness, collection: str) -> list[str]:
    r = h.client.post(
        "/search", json={"collection": collection, "query": PARAPHRASE, "k": 3, "mode": "dense"}
    )
    assert r.status_code == 200, r.text
    return [p["document_name"] for p in r.json()["passages"]]


def model_metrics(h: Harness, model: str) -> tuple[float | None, float]:
    """askdocs_embedding_model_up of ``model``, and its load failures summed over error classes."""
    r = h.client.get("/metrics")
    assert r.status_code == 200, r.text
    up, failures = None, 0.0
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.labels.get("model") != model:
                continue
            if s.name == "askdocs_embedding_model_up":
                up = s.value
            if s.name == "askdocs_embedding_model_load_failures_total":
                failures += s.value
    return up, failures


def test_an_unreadable_model_turns_dense_off_refuses_answers_and_comes_back(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    h.upload("ferries", ("ferry.txt", FERRY))
    h.work()
    assert dense_names(h, "ferries") == ["ferry.txt"]  # the deployment's model finds it
    # the collection's vectors now name a model directory of their own (a copy of the same
    # model, as a collection indexed before a model change has), which is then taken away
    copy = tmp_path / "model"
    shutil.copytree(resolve_model_path(h.settings.embedding_model), copy)
    away = tmp_path / "model-away"
    copy.rename(away)
    with h.services.catalog.session() as s:
        s.execute(
            update(Collection)
            .where(Collection.id == "ferries")
            .values(embedding_model=str(copy), index_generation=Collection.index_generation + 1)
        )

    assert dense_names(h, "ferries") == []  # dense off: BM25 alone finds no shared word
    status = h.client.get("/status").json()
    assert status["status"] == "degraded"
    embedding = status["components"]["embedding"]
    assert embedding["ok"] is False
    failed = embedding["models"][str(copy)]
    assert failed["loaded"] is False and failed["failures"] >= 1 and failed["error"]
    assert 0 <= failed["retry_in_s"] <= 0.5
    assert embedding["models"][h.settings.embedding_model] == {"loaded": True}
    up, failures = model_metrics(h, str(copy))
    assert up == 0 and failures >= 1

    events = list(
        h.services.answers.ask(LOCAL, Question("ferries", "When does the Lindqvist ferry leave?"))
    )
    kinds = [kind for kind, _ in events]
    assert kinds == ["sources", "token", "done"]  # the generator (none answers here) never asked
    assert events[0][1]["passages"], "BM25 still found the passage"
    done = events[-1][1]
    assert done["answer"] == UNJUDGED and "embedding model" in done["answer"]
    assert done["abstained"] and done["below_relevance_threshold"] and done["relevance_unjudged"]
    assert done["citations"] == []

    away.rename(copy)  # readable again: no restart, the next try after the backoff loads it
    assert wait_for(lambda: dense_names(h, "ferries") == ["ferry.txt"], 60, "dense search back")
    embedding = h.client.get("/status").json()["components"]["embedding"]
    assert embedding["ok"] is True and embedding["models"][str(copy)] == {"loaded": True}
    assert model_metrics(h, str(copy))[0] == 1
    passages = h.services.retriever.search("ferries", "When does the Lindqvist ferry leave?")
    relevance = h.services.retriever.best_similarity(
        "When does the Lindqvist ferry leave?", passages
    )
    assert relevance >= h.settings.relevance_threshold  # the gate judges again
