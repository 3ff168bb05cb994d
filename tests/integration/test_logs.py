"""One upload followed across processes by its request id: the API's line, the ingest worker's and
the indexer's, each a JSON object; no log line holds an API key or a question's text."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Stack, wait_for, wait_job

pytestmark = pytest.mark.integration


def json_lines(path: Path) -> list[dict]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


def test_an_upload_is_followed_by_its_request_id(stack: Stack, api: httpx.Client) -> None:
    rid = f"trace-{uuid.uuid4().hex[:12]}"
    r = api.post(
        "/documents",
        data={"collection": "traced"},
        files=[("files", ("trace.txt", b"The signal box at Harrow junction opened in 1911."))],
        headers={"X-Request-ID": rid},
    )
    assert r.status_code == 202, r.text
    assert r.headers["x-request-id"] == rid
    (doc,) = wait_job(api, r.json()["id"])["documents"]
    assert doc["status"] == "ready", doc
    planted = f"planted-question-{uuid.uuid4().hex[:12]}"
    searched = api.post("/search", json={"collection": "traced", "query": f"Where is {planted}?"})
    assert searched.status_code == 200
    made = api.get("/health")
    assert len(made.headers["x-request-id"]) == 32  # none offered: one is made

    logs = stack.data_dir / "logs"

    def traced() -> dict[str, list[dict]] | None:
        by = {
            name: [
                line for line in json_lines(logs / f"{name}.log") if line.get("request_id") == rid
            ]
            for name in ("api", "worker", "indexer")
        }
        return by if all(by.values()) else None

    by = wait_for(traced, 30, f"lines with request id {rid} from the api, worker and indexer")
    assert any(
        line.get("route") == "/documents" and line.get("status") == 202 for line in by["api"]
    )
    assert any(line.get("document_id") == doc["id"] for line in by["worker"])
    assert any(doc["id"] in line.get("documents", []) for line in by["indexer"])
    assert {line["process"] for name in by for line in by[name]} == {"api", "worker", "indexer"}
    for name in ("api", "worker", "indexer"):
        text = (logs / f"{name}.log").read_text(errors="replace")
        assert stack.admin_key not in text and planted not in text, name
