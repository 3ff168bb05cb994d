"""The parse sandbox with the real parsers and real signals: a hang, a memory hog and a bad file
each fail alone with a reason, and the process that asked goes on parsing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ingest.errors import CorruptDocument, ParseTimeout, TooLarge
from ingest.parsing import ocr_available
from ingest.sandbox import Limits, parse_isolated
from tests.integration.conftest import make_pdf

pytestmark = pytest.mark.integration

LIMITS = Limits(soft_seconds=60, hard_seconds=90, memory_bytes=3 * 2**30, max_pages=50)


@pytest.fixture
def armed(monkeypatch: pytest.MonkeyPatch):
    # the child may run as a user of its own (a worker run as root): its failpoint marker goes to a
    # directory that user may write to, not to root's tmp_path
    fired = Path(tempfile.mkdtemp(prefix="askdocs-failpoints-"))
    fired.chmod(0o777)

    def arm(action: str) -> None:
        monkeypatch.setenv("ASKDOCS_FAILPOINTS", f"parse.child={action}")
        monkeypatch.setenv("ASKDOCS_FAILPOINT_DIR", str(fired))

    yield arm
    shutil.rmtree(fired, ignore_errors=True)


def _note(tmp_path: Path) -> Path:
    path = tmp_path / "note.txt"
    path.write_text("The Orlen bridge has nine arches.\n")
    return path


def test_a_good_file_parses_in_the_child(tmp_path: Path) -> None:
    parsed = parse_isolated(_note(tmp_path), "note.txt", LIMITS)
    assert "nine arches" in " ".join(b.text for b in parsed.blocks)


def test_a_hang_is_asked_to_stop_at_the_soft_limit(tmp_path: Path, armed) -> None:
    armed("hang")
    started = time.monotonic()
    limits = Limits(soft_seconds=1, hard_seconds=30, memory_bytes=3 * 2**30, max_pages=50)
    with pytest.raises(ParseTimeout, match="longer than 1 s"):
        parse_isolated(_note(tmp_path), "note.txt", limits)
    assert time.monotonic() - started < 30  # stopped at the soft limit, not killed at the hard one
    # the next document parses: the failpoint fired once, the process that asked is fine
    assert parse_isolated(_note(tmp_path), "note.txt", LIMITS).blocks


def test_a_memory_hog_is_killed(tmp_path: Path, armed) -> None:
    armed("hog")
    limits = Limits(soft_seconds=60, hard_seconds=90, memory_bytes=1536 * 2**20, max_pages=50)
    with pytest.raises(TooLarge, match="more than 1536 MiB"):
        parse_isolated(_note(tmp_path), "note.txt", limits)
    assert parse_isolated(_note(tmp_path), "note.txt", LIMITS).blocks


def test_page_limit_and_corrupt_file(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "long.pdf", [f"Page {i} of the ledger." for i in range(6)])
    limits = Limits(soft_seconds=60, hard_seconds=90, memory_bytes=3 * 2**30, max_pages=5)
    with pytest.raises(TooLarge, match="6 pages, above the limit of 5"):
        parse_isolated(pdf, "long.pdf", limits)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(pdf.read_bytes()[:300])
    with pytest.raises(CorruptDocument):
        parse_isolated(broken, "broken.pdf", LIMITS)
    assert parse_isolated(pdf, "long.pdf", LIMITS).pages == 6


def _scan(path: Path, pages: int) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=40)
    images = []
    for i in range(pages):
        img = Image.new("L", (1240, 1754), "white")
        ImageDraw.Draw(img).text((100, 200), f"Scanned page {i + 1} of the ledger", font=font)
        images.append(img)
    images[0].save(path, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return path


@pytest.mark.skipif(not ocr_available(), reason="tesseract-ocr is not installed")
def test_ocr_pages_report_progress_and_earn_time(tmp_path: Path) -> None:
    scan = _scan(tmp_path / "scan.pdf", 3)
    reports = []
    # 3 OCR pages take longer than these limits; each page's allowance makes room for them
    limits = Limits(
        soft_seconds=2, hard_seconds=3, memory_bytes=3 * 2**30, max_pages=50, ocr_page_seconds=60
    )
    parsed = parse_isolated(scan, "scan.pdf", limits, reports.append)
    assert parsed.pages == 3 and "ledger" in " ".join(b.text for b in parsed.blocks).lower()
    assert reports[-1].ocr_pages == 3 and reports[-1].ocr_done == 3
    assert reports[-1].pages_done == 3
    assert [r.ocr_done for r in reports] == sorted(r.ocr_done for r in reports)
    without = Limits(
        soft_seconds=1, hard_seconds=2, memory_bytes=3 * 2**30, max_pages=50, ocr_page_seconds=0
    )
    with pytest.raises(ParseTimeout):
        parse_isolated(scan, "scan.pdf", without)


def test_the_warmed_server_serves_every_parse(tmp_path: Path) -> None:
    from ingest import sandbox

    sandbox._SERVER.stop()
    sandbox.warm()  # as the worker does at start: the server starts loading now
    server = sandbox._SERVER._proc
    assert server is not None
    for _ in range(3):
        assert parse_isolated(_note(tmp_path), "note.txt", LIMITS).blocks
    assert sandbox._SERVER._proc is server and server.poll() is None  # never restarted


def test_one_child_serves_many_documents_and_a_killed_one_is_replaced(tmp_path: Path) -> None:
    """The server's protocol, spoken directly: a child answers request after request (no fork per
    document); killed between two requests, the next request gets a fresh child."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.parse_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdin is not None and proc.stdout is not None

    def ask(i: int) -> tuple[int, int, Path]:
        out = tmp_path / f"outcome-{i}.pickle"
        request = {"path": str(_note(tmp_path)), "name": "note.txt", "ocr": False}
        request |= {"max_pages": 50, "out": str(out)}
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        pid = json.loads(proc.stdout.readline())["pid"]
        code = json.loads(proc.stdout.readline())["exit"]
        return pid, code, out

    try:
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        first = [ask(i) for i in range(3)]
        assert {pid for pid, _, _ in first} == {first[0][0]}  # one child for all three
        assert all(code == 0 and out.exists() for _, code, out in first)
        os.kill(first[0][0], signal.SIGKILL)
        pid, code, out = ask(3)
        assert pid != first[0][0] and code == 0 and out.exists()
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_a_legacy_doc_converts_in_the_confined_child(tmp_path: Path) -> None:
    """LibreOffice runs in the child, as the child's user where the worker is root (after a soffice
    run as this process's user, which may leave the system's extension cache closed to others)."""
    import docx

    d = docx.Document()
    d.add_paragraph("The Orlen bridge has nine arches.")
    d.save(tmp_path / "report.docx")
    subprocess.run(
        ["soffice", "--headless", "--convert-to", "doc", "--outdir", str(tmp_path / "legacy")]
        + [str(tmp_path / "report.docx")],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    parsed = parse_isolated(tmp_path / "legacy" / "report.doc", "report.doc", LIMITS)
    assert "nine arches" in " ".join(b.text for b in parsed.blocks)
