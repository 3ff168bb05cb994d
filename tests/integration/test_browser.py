"""The web page in a real browser: Debian's Chromium driven by Playwright against the full stack.
Sign in with a key, upload a PDF, wait until it is ready, ask a question, open the citation and see
the passage with its supporting sentence. Screenshots of each page go to the test's temporary folder,
and to ``ASKDOCS_SCREENSHOT_DIR`` when set (the README's come from `docs/`)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Stack, make_pdf, wait_for

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
PAGES = [
    "The Harrow Valley cooperative counts 212 member farms.",
    "The cooperative's cold store in Lenby holds 4,800 tonnes of apples.",
]


@pytest.fixture(scope="module")
def browser_user(stack: Stack) -> str:
    """A user of their own, so the page shows exactly one collection: theirs."""
    out = stack.cli("user", "add", "browser")
    assert out.returncode == 0, out.stdout + out.stderr
    out = stack.cli("key", "create", "browser")
    assert out.returncode == 0, out.stdout + out.stderr
    key = out.stdout.splitlines()[0].strip()
    with stack.client(key) as c:
        assert c.post("/collections", json={"name": "harrow"}).status_code == 201
    return key


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is missing: bash scripts/install.sh test"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(120_000)
        yield tab
        browser.close()


def idle(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until no script run is under way (Streamlit's running icon is gone)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0, timeout=120_000)


def shot(page, name: str, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("ASKDOCS_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_upload_ask_and_open_the_citation_in_a_browser(
    stack: Stack,
    browser_user: str,
    page,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    page.get_by_label("API key", exact=True).fill(browser_user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()
    shot(page, "sign-in", tmp_path)

    page.get_by_role("tab", name="Documents").click()
    pdf = make_pdf(tmp_path / "harrow.pdf", PAGES)
    page.locator("input[type=file]").set_input_files(str(pdf))
    expect(page.get_by_text("harrow.pdf")).to_be_visible()  # the uploader holds the file
    # the form's submit button (the drop zone has a browse button also called "Upload")
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Upload").click()
    expect(page.get_by_text("Queued 1 file(s)")).to_be_visible()
    expect(page.get_by_text("1 of 1 ready")).to_be_visible(timeout=240_000)
    shot(page, "documents", tmp_path)

    page.get_by_role("tab", name="Ask").click()
    box = page.get_by_placeholder("Ask a question about your documents")
    box.fill("How many tonnes of apples does the cold store in Lenby hold?")
    box.press("Enter")
    source = page.get_by_text(re.compile(r"\[\d\] harrow\.pdf, page 2"))
    expect(source).to_be_visible(timeout=240_000)
    answer = page.get_by_test_id("stChatMessage").nth(1)
    expect(answer).to_contain_text("4,800")
    source.click()
    passage = page.get_by_test_id("stExpanderDetails").filter(has_text="cold store in Lenby")
    expect(passage).to_be_visible()
    expect(passage).to_contain_text("The cooperative's cold store in Lenby holds 4,800 tonnes")
    # the supporting sentence is the highlighted one
    expect(passage.locator(".stMarkdownColoredBackground")).to_contain_text("4,800 tonnes")
    # the expander opens with an animation: screenshot once it has its full height
    page.wait_for_function(
        "el => el.getBoundingClientRect().height > 30", arg=passage.element_handle()
    )
    shot(page, "ask", tmp_path)


def test_sources_tab_adds_a_folder_and_shows_its_runs(
    stack: Stack,
    browser_user: str,
    page,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Add a folder source in the Sources tab; its first run's counts show; "Sync now" runs again."""
    from playwright.sync_api import expect

    share = tmp_path / "handbook"  # under ASKDOCS_SOURCES_FOLDER_ROOTS (the tests' temp root)
    share.mkdir()
    (share / "leave.md").write_text("# Leave\n\nStaff take 25 days of leave a year.")
    (share / "travel.md").write_text("# Travel\n\nTrain tickets are booked by the office.")
    page.goto(stack.ui_url)
    if not page.get_by_text("Signed in as").is_visible():
        page.get_by_label("API key", exact=True).fill(browser_user)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("Signed in as")).to_be_visible()
    page.get_by_role("tab", name="Sources").click()
    page.get_by_text("Add a source").click()
    # type once no script run is under way, and check the fields before the submit
    idle(page)
    fields = {
        "Folder on the server": str(share),
        "Source name": "Staff handbook",
        "Schedule": "every 1h",
    }
    for label, value in fields.items():
        page.get_by_label(label).fill(value)
    for label, value in fields.items():
        expect(page.get_by_label(label)).to_have_value(value)
    submit = page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add and sync")
    added = page.get_by_text("Added; the first sync is under way.")
    with stack.client(browser_user) as c:

        def handbooks() -> list[dict]:
            return [s for s in c.get("/sources").json() if s["name"] == "Staff handbook"]

        # On a busy machine (the full suite on 2 cores: 3 of 5 runs) the submit was sometimes lost:
        # the fields held their values and no request reached the API. The cause is not found (a
        # clash with the page's timed refreshes is suspected). A person sees nothing happen and
        # clicks again: so does this, once, and only when nothing was added; the source must then
        # exist exactly once.
        idle(page)
        submit.click()
        try:
            expect(added).to_be_visible(timeout=30_000)
        except AssertionError:
            assert not handbooks(), "added, but the page did not say so"
            idle(page)
            submit.click()
            expect(added).to_be_visible(timeout=60_000)
        assert len(handbooks()) == 1

        def synced() -> dict | None:
            found = handbooks()
            run = found[0]["last_run"] if found else None
            return run if run and run["status"] == "done" else None

        run = wait_for(synced, 120, "the first sync")
        assert run["new"] == 2, run
    page.get_by_text("Staff handbook (folder)").click()
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_text("Syncing Staff handbook")).to_be_visible()
    shot(page, "sources", tmp_path)
