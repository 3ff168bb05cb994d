"""The parse sandbox with the real parsers and real signals: a hang, a memory hog and a bad file
each fail alone with a reason, and the process that asked goes on parsing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.errors import CorruptDocument, ParseTimeout, TooLarge
from ingest.sandbox import Limits, parse_isolated
from tests.integration.conftest import make_pdf

pytestmark = pytest.mark.integration

LIMITS = Limits(soft_seconds=60, hard_seconds=90, memory_bytes=3 * 2**30, max_pages=50)


@pytest.fixture
def armed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def arm(action: str) -> None:
        monkeypatch.setenv("ASKDOCS_FAILPOINTS", f"parse.child={action}")
        monkeypatch.setenv("ASKDOCS_FAILPOINT_DIR", str(tmp_path))

    return arm


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
