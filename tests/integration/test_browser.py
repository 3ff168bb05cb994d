"""The web page in a real browser: Debian's Chromium driven by Playwright against the full stack.
Sign in with a key, upload a three-page PDF with a table, wait until it is ready, ask a question,
open the citation and see the cited page with the passage's lines highlighted over it (and no
highlight on the pages around it), then the passage with its supporting sentence. Screenshots of
each page go to the test's temporary folder, and to ``ASKDOCS_SCREENSHOT_DIR`` when set (the
README's come from `docs/`)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Stack, wait_for

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
CITED = "The cooperative's cold store in Lenby holds 4,800 tonnes of apples."
# three pages, each a section long enough to be a chunk of its own; the second holds the cited
# line and a table set by whitespace
PAGES = [
    (
        "Members",
        [
            "The Harrow Valley cooperative counts 212 member farms spread over the valley floor",
            "and the lower slopes of the Carrow hills. Each farm sends one delegate to the spring",
            "meeting, where the members elect a board of seven for a term of three years. The",
            "board sets the price paid for fruit, the dates of the harvest and the rules for",
            "grading apples and pears. New members pay a joining fee and bring at least two",
            "hectares of orchard. Most farms grow dessert apples; a few grow cider varieties for",
            "the press at Millbrook, which the cooperative has run since 1987. The members also",
            "share a fleet of twelve tractors and a spraying service that is booked by the week.",
        ],
        [],
    ),
    (
        "Storage",
        [
            "The cooperative keeps its fruit in two buildings on the edge of Lenby, by the railway.",
            CITED,
            "Its controlled atmosphere keeps the fruit firm until the following summer, and a",
            "grading line sorts every crate by size and colour before it leaves. The older barn",
            "beside it holds pears and the cider apples that wait for the press. Loading bays face",
            "the sidings, so a train of forty wagons can be filled in one day in October.",
        ],
        [
            ("Building", "Tonnes", "Rooms"),
            ("Cold store, Lenby", "4,800", "16"),
            ("Pear barn, Lenby", "1,250", "4"),
            ("Cider shed, Millbrook", "900", "2"),
        ],
    ),
    (
        "Sales",
        [
            "Most of the fruit is sold to three supermarket chains under contracts agreed each",
            "winter. The rest goes to farm shops, to the juice plant in Dunmore and to buyers in",
            "Norway and Denmark. Prices follow the grade of the fruit: the first grade fetches",
            "about twice the price of fruit sent for juice. The cooperative pays its members",
            "monthly, after the costs of storage, grading and transport are taken off, and keeps",
            "a reserve for the years when frost or hail takes much of the crop. Its accounts are",
            "audited each spring and read out at the members' meeting before the vote.",
        ],
        [],
    ),
]


def report_pdf(path: Path) -> Path:
    """The cooperative's three-page report (reportlab, A4): a heading and a paragraph a page, and
    on page 2 a table whose figures stand in columns."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for n, (title, lines, table) in enumerate(PAGES, start=1):
        c.setFont("Helvetica-Bold", 16)
        c.drawString(72, 770, f"Section {n}: {title}")
        c.setFont("Helvetica", 11)
        y = 740
        for line in lines:
            c.drawString(72, y, line)
            y -= 14
        y -= 20
        for label, *cells in table:
            c.drawString(72, y, label)
            for x, cell in zip((330, 420), cells, strict=True):
                c.drawRightString(x, y, cell)
            y -= 14
        c.showPage()
    c.save()
    return path


def cited_line_box(pdf: Path) -> tuple[int, tuple[float, float, float, float]]:
    """The page and box (points, from the top left) of the cited line, as pdfium reads it."""
    from ingest.pdf_text import read_lines

    _count, pages = read_lines(pdf)
    for number, lines in enumerate(pages, start=1):
        for ln in lines:
            if "cold store in Lenby holds" in ln.text:
                return number, (ln.x0, ln.top, ln.words[-1].x1, ln.bottom)
    raise AssertionError("the cited line is not in the PDF")


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
    keep(path)


def shot_of(element, name: str, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """A screenshot of one element of the page (a citation opened on its page)."""
    path = tmp / f"{name}.png"
    # Streamlit's header is fixed at the top of the window: hidden, it covers nothing
    element.screenshot(path=str(path), style="[data-testid='stHeader'] {display: none}")
    keep(path)


def keep(path: Path) -> None:
    target = os.environ.get("ASKDOCS_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def on_screen(page, box: tuple[float, float, float, float]) -> dict:  # type: ignore[no-untyped-def]
    """``box`` (points on the shown page) in the browser's pixels, from the page image's place
    and the page's size in points (A4)."""
    from reportlab.lib.pagesizes import A4

    img = page.locator(".askdocs-page img").bounding_box()
    scale = img["width"] / A4[0]
    x0, top, x1, bottom = box
    return {
        "x": img["x"] + x0 * scale,
        "y": img["y"] + top * scale,
        "width": (x1 - x0) * scale,
        "height": (bottom - top) * scale,
    }


def overlap(a: dict, b: dict) -> float:
    """The share of ``b``'s area that ``a`` covers (bounding boxes in pixels)."""
    w = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return max(w, 0) * max(h, 0) / (b["width"] * b["height"])


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
    pdf = report_pdf(tmp_path / "harrow.pdf")
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
    # opening the citation shows its page with the passage's lines highlighted over it
    shown = passage.locator(".askdocs-page")
    expect(shown).to_have_attribute("data-page", "2", timeout=60_000)
    image = shown.locator("img")
    expect(image).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    number, line = cited_line_box(pdf)
    assert number == 2
    want = on_screen(page, line)
    marks = [m.bounding_box() for m in shown.locator(".askdocs-hl").all()]
    assert marks, "no highlight on the cited page"
    assert max(overlap(m, want) for m in marks) > 0.9, (marks, want)
    strong = [m.bounding_box() for m in shown.locator(".askdocs-hl-sentence").all()]
    assert strong and max(overlap(m, want) for m in strong) > 0.9, (strong, want)
    idle(page)
    expect(passage.get_by_role("button", name="Next page ▶")).to_be_visible()
    shot_of(passage, "citation", tmp_path)
    # the pages around it are a click away, without highlights
    passage.get_by_role("button", name="Next page ▶").click()
    expect(passage.locator(".askdocs-page")).to_have_attribute("data-page", "3")
    expect(passage.locator(".askdocs-hl")).to_have_count(0)
    expect(passage.locator(".askdocs-hl-sentence")).to_have_count(0)
    passage.get_by_role("button", name="Cited page").click()
    expect(passage.locator(".askdocs-page")).to_have_attribute("data-page", "2")
    passage.get_by_role("button", name="◀ Previous page").click()
    expect(passage.locator(".askdocs-page")).to_have_attribute("data-page", "1")
    expect(passage.locator(".askdocs-hl")).to_have_count(0)
    passage.get_by_role("button", name="Cited page").click()
    expect(passage.locator(".askdocs-page")).to_have_attribute("data-page", "2")
    expect(passage.locator(".askdocs-hl").first).to_be_visible()
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
