"""Real reports carry arrays past pypdf's default limit (100,000 elements): they must still open."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, NameObject, NumberObject

from ingest.errors import CorruptDocument
from ingest.pdf_pages import open_pdf, pdf_limits

pytestmark = pytest.mark.unit


def _pdf_with_big_array(path: Path, n: int) -> Path:
    writer = PdfWriter()
    page = writer.add_blank_page(width=200, height=200)
    page[NameObject("/AskdocsBig")] = ArrayObject(NumberObject(i % 10) for i in range(n))
    with path.open("wb") as f:
        writer.write(f)
    return path


def test_arrays_past_the_default_limit_open(tmp_path: Path) -> None:
    pdf = _pdf_with_big_array(tmp_path / "big.pdf", 150_000)
    with pytest.raises(CorruptDocument):  # what pypdf's default did to two sec-10q reports
        _ = open_pdf(pdf, "big.pdf").pages[0]["/AskdocsBig"]
    with pdf_limits():
        reader = open_pdf(pdf, "big.pdf")
        assert len(reader.pages[0]["/AskdocsBig"]) == 150_000
