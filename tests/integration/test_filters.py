"""Metadata filters (type, tags, upload date) on the real stack: applied inside the search, so a
filtered-in document is found even when many better matches are filtered out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import make_pdf, wait_job

pytestmark = pytest.mark.integration


def _upload(api: httpx.Client, files: list[tuple[str, bytes]], tags: str | None = None) -> dict:
    data = {"collection": "filters", **({"tags": tags} if tags else {})}
    resp = api.post("/documents", data=data, files=[("files", f) for f in files])
    assert resp.status_code == 202, resp.text
    done = wait_job(api, resp.json()["id"])
    assert {d["status"] for d in done["documents"]} == {"ready"}, done["documents"]
    return done


@pytest.fixture(scope="module")
def corpus(api: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # 30 notes that match the query well, untagged
    _upload(
        api,
        [
            (f"otter-{i}.txt", f"River otter sighting {i}: otters were seen at the weir.".encode())
            for i in range(30)
        ],
    )
    pdf = make_pdf(tmp_path_factory.mktemp("f") / "survey.pdf", ["A survey mentions one otter."])
    tagged = _upload(api, [("survey.pdf", pdf.read_bytes())], tags="Wildlife, 2024")
    (doc,) = tagged["documents"]
    return {"survey": doc["id"]}


def _search(api: httpx.Client, filters: dict, k: int = 3, **extra: object) -> list[dict]:
    body = {"collection": "filters", "query": "otter sighting at the weir", "k": k}
    r = api.post("/search", json={**body, "filters": filters, **extra})
    assert r.status_code == 200, r.text
    return r.json()["passages"]


def test_tags_are_kept_and_filter_inside_the_search(api: httpx.Client, corpus: dict) -> None:
    doc = api.get(f"/documents/{corpus['survey']}").json()
    assert doc["tags"] == ["2024", "wildlife"]  # lower case, sorted
    unfiltered = _search(api, {}, k=3)
    assert corpus["survey"] not in {p["document_id"] for p in unfiltered}  # outranked
    found = _search(api, {"tags": ["wildlife"]}, k=1)
    assert [p["document_id"] for p in found] == [corpus["survey"]]
    assert _search(api, {"tags": ["wildlife", "nope"]}) == []


def test_type_and_date_filters(api: httpx.Client, corpus: dict) -> None:
    assert {p["document_name"] for p in _search(api, {"types": ["pdf"]})} == {"survey.pdf"}
    txt = _search(api, {"types": ["TXT"]}, k=5)
    assert txt and all(p["document_name"].endswith(".txt") for p in txt)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert _search(api, {"uploaded_after": future}) == []
    assert _search(api, {"uploaded_before": future}, k=5)
    # with document_ids too: both must hold
    assert _search(api, {"types": ["pdf"]}, document_ids=["0" * 64]) == []


def test_bad_tags_are_refused_with_a_reason(api: httpx.Client) -> None:
    r = api.post(
        "/documents",
        data={"collection": "filters", "tags": "ok, not ok!"},
        files=[("files", ("x.txt", b"x"))],
    )
    assert r.status_code == 422
    assert [d["loc"][-1] for d in r.json()["error"]["detail"]] == ["tags"]


def test_ask_honours_filters(api: httpx.Client, corpus: dict, tmp_path: Path) -> None:
    body = {
        "collection": "filters",
        "question": "How many otters does the survey mention?",
        "filters": {"types": ["pdf"]},
    }
    with api.stream("POST", "/ask", json=body) as resp:
        text = resp.read().decode()
    assert resp.status_code == 200
    assert "survey.pdf" in text and "otter-1.txt" not in text
