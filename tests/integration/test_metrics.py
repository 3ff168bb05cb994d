"""`/metrics` of a real stack reports what the worker's pool children and the indexer recorded in
their own processes (prometheus-client's multiprocess directory under `askdocs up`), and needs an
admin's key."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Stack, wait_job

pytestmark = pytest.mark.integration


def scrape(api: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = api.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_metrics_of_every_process_through_the_api(stack: Stack, api: httpx.Client) -> None:
    with stack.client(None) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    before = scrape(api)
    r = api.post(
        "/documents",
        data={"collection": "metered"},
        files=[
            ("files", ("guide.rst", b"Guide\n=====\n\nThe lighthouse keeper logs every ship.\n"))
        ],
    )
    assert r.status_code == 202, r.text
    (doc,) = wait_job(api, r.json()["id"])["documents"]
    assert doc["status"] == "ready", doc
    after = scrape(api)

    def moved(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    # recorded by an ingest pool child, an indexer and the API: three processes
    assert moved("askdocs_parse_seconds_count", type="rst") == 1
    assert moved("askdocs_ingest_documents_total", outcome="embedded", code="ok") >= 1
    assert moved("askdocs_embed_chunks_total") >= doc["chunks"]
    assert moved("askdocs_index_batch_documents_sum") >= 1
    assert (
        moved("askdocs_http_requests_total", route="/documents", method="POST", status="202") == 1
    )
    ready = ("askdocs_documents", frozenset({"collection": "metered", "state": "ready"}.items()))
    assert after[ready] == 1
