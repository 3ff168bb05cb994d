"""The PDF text layer as pdfium reads it (ingest.pdf_text), on PDFs drawn here with reportlab:
statements set by whitespace become tables with every row's label and values and the period headers
over them; running headers, footers and page numbers go; titles come from size and weight."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pdf_text import read

pytestmark = pytest.mark.unit

STATEMENT = [  # label, this year, last year; None: a section label without figures
    ("Revenue", "$ 13,507", "$ 6,704"),
    ("Cost of revenue", "4,045", "3,789"),
    ("Gross profit", "9,462", "2,915"),
    ("Operating expenses:", None, None),
    ("Research and development", "2,040", "1,824"),
    ("Acquisition termination cost", "—", "1,353"),
    ("Other, net", "59", "(5)"),
    ("Net income", "$ 6,188", "$ 656"),
]


def _statement_pdf(path: Path, pages: int = 3) -> Path:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    for page in range(1, pages + 1):
        c.setFont("Helvetica", 8)
        c.drawString(72, 760, "Orlen Bridge Co. | Quarterly report")  # running header
        c.drawCentredString(306, 30, str(page))  # page number
        if page == 1:
            c.setFont("Helvetica-Bold", 14)
            c.drawString(72, 700, "Statements of Income")
            c.setFont("Helvetica", 10)
            c.drawString(72, 684, "(In millions)")
            c.setFont("Helvetica-Bold", 10)
            c.drawCentredString(420, 660, "Three Months Ended")
            c.drawRightString(400, 648, "July 30,")
            c.drawRightString(480, 648, "July 31,")
            c.drawRightString(400, 636, "2023")
            c.drawRightString(480, 636, "2022")
            c.setFont("Helvetica", 10)
            y = 620
            for label, this, last in STATEMENT:
                c.drawString(72 if this or label.endswith(":") else 84, y, label)
                for x, value in ((400, this), (480, last)):
                    if value and value.startswith("$ "):
                        c.drawString(x - 60, y, "$")
                        value = value[2:]
                    if value:
                        c.drawRightString(x, y, value)
                y -= 14
        else:
            c.setFont("Helvetica", 10)
            text = c.beginText(72, 700)
            for line in (
                "Revenue rose on demand for data centre products, while the cost of revenue",
                "grew more slowly. The acquisition was terminated in the first quarter.",
            ):
                text.textLine(line)
            c.drawText(text)
        c.showPage()
    c.save()
    return path


def test_a_statement_set_by_whitespace_is_a_table(tmp_path: Path) -> None:
    doc = read(_statement_pdf(tmp_path / "s.pdf"))
    tables = [b for b in doc.blocks if b.kind == "table"]
    assert len(tables) == 1 and tables[0].page == 1
    lines = tables[0].text.split("\n")
    assert lines[0] == "|  | Three Months Ended July 30, 2023 | Three Months Ended July 31, 2022 |"
    assert "| Revenue | $13,507 | $6,704 |" in lines
    assert "| Acquisition termination cost | — | 1,353 |" in lines
    assert "| Other, net | 59 | (5) |" in lines
    assert "| Operating expenses: |  |  |" in lines
    assert "| Net income | $6,188 | $656 |" in lines
    # the rows are not also left behind as loose text
    assert sum("Gross profit" in b.text for b in doc.blocks) == 1


def test_titles_paragraphs_and_no_running_lines(tmp_path: Path) -> None:
    doc = read(_statement_pdf(tmp_path / "s.pdf"))
    assert doc.pages == 3 and doc.empty_pages == []
    assert ("title", "Statements of Income") in [(b.kind, b.text) for b in doc.blocks]
    prose = [b.text for b in doc.blocks if b.page == 2]
    assert prose == [
        "Revenue rose on demand for data centre products, while the cost of revenue grew more "
        "slowly. The acquisition was terminated in the first quarter."
    ]
    everything = "\n".join(b.text for b in doc.blocks)
    assert "Orlen Bridge Co." not in everything  # the running header
    assert not [b for b in doc.blocks if b.text.strip().isdigit()]  # page numbers


def test_a_page_without_text_is_reported_for_ocr(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "blank.pdf"
    c = canvas.Canvas(str(path))
    c.drawString(72, 700, "Only the first page has text.")
    c.showPage()
    c.rect(100, 100, 200, 200)  # a drawing, no text
    c.showPage()
    c.save()
    doc = read(path)
    assert doc.empty_pages == [2]
    assert [b.text for b in doc.blocks] == ["Only the first page has text."]


def test_a_font_scaled_up_from_one_point_still_reads_as_words(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "scaled.pdf"
    c = canvas.Canvas(str(path))
    c.translate(72, 700)
    c.scale(11, 11)  # a 1-point font drawn 11 points tall, letters spaced a little
    c.setFont("Helvetica", 1)
    text = c.beginText(0, 0)
    text.setCharSpace(0.04)
    text.textOut("Menopause and fertility after treatment")
    c.drawText(text)
    c.showPage()
    c.save()
    assert [b.text for b in read(path).blocks] == ["Menopause and fertility after treatment"]
