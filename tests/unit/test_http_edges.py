"""Upload names, the request-size guard and the task serializer: the hostile-input edges of the API."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.deps import BodyLimit, clean_name
from api.status import redact
from core.celery_app import create_celery
from core.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "etc/passwd"),
        ("/abs/./q1/report.pdf", "abs/q1/report.pdf"),
        ("C:\\Users\\x\\report.pdf", "C:/Users/x/report.pdf"),
        ("..", "upload"),
        ("\x1b[31mred\x00.txt", "[31mred.txt"),
        ("invoice\u202etxt.exe", "invoicetxt.exe"),
        (".hidden.md", "hidden.md"),
        ("   ", "upload"),
        ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),
        ("a" * 400, "a" * 255),
        ("dir/" + "b" * 300 + ".pdf", "b" * 251 + ".pdf"),
    ],
)
def test_names_are_display_only_and_clean(given: str, shown: str) -> None:
    assert clean_name(given) == shown


async def _echo(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    body = b""
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _post(limit: int, content: object, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=BodyLimit(_echo, limit))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post("/", content=content, headers=headers)

    return asyncio.run(go())


def test_body_limit_by_declared_length_and_by_counting() -> None:
    assert _post(100, b"x" * 100).text == "100"
    declared = _post(100, b"x" * 101)
    assert declared.status_code == 413 and declared.json()["error"]["type"] == "too_large"

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(5):
            yield b"y" * 40  # no Content-Length: counted as it arrives

    streamed = _post(100, chunks())
    assert streamed.status_code == 413, streamed.text


def test_tasks_are_json_only() -> None:
    conf = create_celery(Settings()).conf
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]


def test_health_urls_lose_their_passwords() -> None:
    assert redact("redis://:hunter2@db:6379/0") == "redis://:***@db:6379/0"
    assert redact("http://u:pw@gen/v1") == "http://u:***@gen/v1"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
