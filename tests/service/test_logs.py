"""The request id: answered in `X-Request-ID`, sent with the tasks a request enqueues (read from
the broker's message), and on every JSON log line written while it is bound."""

from __future__ import annotations

import json
import logging

import pytest

from core import logs
from tests import redis_server
from tests.service.conftest import SERVICE_REDIS_DB, Harness

pytestmark = pytest.mark.service


def test_a_request_id_is_answered_and_sent_with_the_tasks(harness: Harness) -> None:
    broker = redis_server.client(SERVICE_REDIS_DB)
    broker.delete("ingest")
    r = harness.client.post(
        "/documents",
        data={"collection": "traced"},
        files=[("files", ("a.txt", b"A lamp in the window.", "text/plain"))],
        headers={"X-Request-ID": "upload-42"},
    )
    assert r.status_code == 202 and r.headers["x-request-id"] == "upload-42"
    (message,) = [json.loads(m) for m in broker.lrange("ingest", 0, -1)]
    assert message["headers"]["request_id"] == "upload-42"
    made = harness.client.get("/health").headers["x-request-id"]
    hostile = harness.client.get("/health", headers={"X-Request-ID": "a\tb" * 40})
    assert len(made) == 32 and hostile.headers["x-request-id"] not in ("a\tb" * 40, made)


def test_json_lines_carry_the_bound_request_id_and_extra_fields() -> None:
    formatter = logs.JsonFormatter("worker")
    record = logging.LogRecord("ingest", logging.INFO, __file__, 1, "embedded %s", ("d1",), None)
    record.chunks = 3
    with logs.bound("rid-7"):
        line = json.loads(formatter.format(record))
    assert line["message"] == "embedded d1" and line["request_id"] == "rid-7"
    assert line["process"] == "worker" and line["chunks"] == 3 and line["level"] == "info"
    assert "request_id" not in json.loads(formatter.format(record))  # unbound again
