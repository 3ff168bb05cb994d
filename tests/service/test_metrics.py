"""`GET /metrics` moves by exactly what an ingest, a search and a question did (this process's
metrics: the API, worker and indexer steps all run here; tests/integration/test_services.py reads
those of the separate processes of a real stack)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.answering import AnswerService, Question
from core.auth import LOCAL
from generation.client import GeneratorClient
from tests.service.conftest import Harness
from tests.service.test_answers import FERRY, StubGenerator

pytestmark = pytest.mark.service

Key = tuple[str, frozenset[tuple[str, str]]]


def scrape(h: Harness) -> dict[Key, float]:
    r = h.client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def moved(before: dict[Key, float], after: dict[Key, float], name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_move_by_what_an_ingest_and_a_search_did(harness: Harness) -> None:
    before = scrape(harness)
    harness.upload(
        "metered",
        ("a.txt", b"Copper kettles are polished every spring in the old mill."),
        ("b.txt", b"The harbour crane lifts forty containers an hour in calm weather."),
        ("c.txt", b""),
    )
    harness.work()
    docs = {d["name"]: d for d in harness.documents("metered")}
    chunks = docs["a.txt"]["chunks"] + docs["b.txt"]["chunks"]
    assert harness.search("metered", "harbour crane")  # retrieval mode: the default (hybrid)
    r = harness.client.post(
        "/search", json={"collection": "metered", "query": "kettles", "mode": "dense"}
    )
    assert r.status_code == 200
    after = scrape(harness)

    assert (
        moved(before, after, "askdocs_ingest_documents_total", outcome="embedded", code="ok") == 2
    )
    failed = moved(
        before, after, "askdocs_ingest_documents_total", outcome="failed", code="empty_document"
    )
    assert failed == 1
    assert moved(before, after, "askdocs_parse_seconds_count", type="txt") == 2
    assert moved(before, after, "askdocs_embed_chunks_total") == chunks
    assert moved(before, after, "askdocs_embed_seconds_total") > 0
    assert moved(before, after, "askdocs_index_batch_documents_sum") == 2
    assert moved(before, after, "askdocs_index_commit_seconds_count") >= 1
    assert moved(before, after, "askdocs_search_seconds_count", mode="dense") == 1
    assert moved(before, after, "askdocs_search_seconds_count", mode="hybrid") == 1
    search_ok = moved(
        before,
        after,
        "askdocs_http_requests_total",
        route="/search",
        method="POST",
        status="200",
    )
    assert search_ok == 2
    assert moved(before, after, "askdocs_http_request_seconds_count", route="/search") == 2
    # state, read at scrape time
    assert (
        after[("askdocs_documents", frozenset({"collection": "metered", "state": "ready"}.items()))]
        == 2
    )
    assert (
        after[
            ("askdocs_documents", frozenset({"collection": "metered", "state": "failed"}.items()))
        ]
        == 1
    )
    assert after[("askdocs_index_vectors", frozenset({"collection": "metered"}.items()))] == chunks
    assert after[("askdocs_index_segments", frozenset({"collection": "metered"}.items()))] >= 1
    # the upload's task waits in the broker (nothing consumes it in this process): its three
    # small files went as one task, the batch a worker makes of them
    assert moved(before, after, "askdocs_queue_depth", queue="ingest") == 1


def test_a_question_records_its_first_token_and_speed(harness: Harness) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubGenerator)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        generator = GeneratorClient(f"http://127.0.0.1:{server.server_address[1]}/v1", timeout=10)
        harness.upload("ferries", ("ferry.txt", FERRY))
        harness.work()
        s = harness.services
        answers = AnswerService(s.catalog, s.retriever, generator, harness.settings)
        before = scrape(harness)
        events = list(answers.ask(LOCAL, Question("ferries", "When does the ferry leave?")))
        assert events[-1][0] == "done"
        StubGenerator.fail = True
        try:
            events = list(answers.ask(LOCAL, Question("ferries", "When does the ferry leave?")))
        finally:
            StubGenerator.fail = False
        assert events[-1][0] == "error"
        after = scrape(harness)
    finally:
        server.shutdown()
    assert moved(before, after, "askdocs_ask_first_token_seconds_count") == 1
    assert moved(before, after, "askdocs_ask_tokens_per_second_count") == 1
    assert moved(before, after, "askdocs_generator_errors_total", reason="unavailable") == 1
