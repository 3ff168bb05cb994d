"""Tables of every office format come through whole: every cell, each row in one chunk with the
table's header, a long table split by rows with the header repeated. Fixtures are made here (python-
docx, python-pptx, openpyxl, hand-written OpenDocument and HTML); the parser and chunker are real."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest import ooxml
from ingest.chunking import chunk_blocks
from ingest.parsing import parse

pytestmark = pytest.mark.integration

HEADER = ["Region", "Q1 sales", "Q2 sales", "Notes"]
ROWS = [[f"Region {i}", f"{i * 100:,}", f"{i * 110:,}", f"grew in week {i}"] for i in range(1, 41)]


def words(text: str) -> int:
    return len(text.split())


def _docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Sales report", 1)
    d.add_paragraph("Quarterly sales by region follow.")
    t = d.add_table(rows=len(ROWS) + 1, cols=4)
    for i, row in enumerate([HEADER, *ROWS]):
        for j, cell in enumerate(row):
            t.cell(i, j).text = cell
    d.save(path)


def _pptx(path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "Sales"
    table = slide.shapes.add_table(len(ROWS) + 1, 4, Inches(0.5), Inches(1.5), Inches(9), Inches(5))
    for i, row in enumerate([HEADER, *ROWS]):
        for j, cell in enumerate(row):
            table.table.cell(i, j).text = cell
    prs.save(path)


def _xlsx(path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    for row in [HEADER, *ROWS]:
        wb.active.append(row)
    wb.save(path)


def _html(path: Path) -> None:
    head = "".join(f"<th>{c}</th>" for c in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in ROWS)
    path.write_text(
        f"<html><body><h1>Sales</h1><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>"
    )


ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"'
)


def _odf_table(cells_repeated: bool = False) -> str:
    def row(r: list[str]) -> str:
        cells = "".join(f"<table:table-cell><text:p>{c}</text:p></table:table-cell>" for c in r)
        if cells_repeated:  # how spreadsheets style the empty space beside the data
            cells += '<table:table-cell table:number-columns-repeated="16000"/>'
        return f"<table:table-row>{cells}</table:table-row>"

    rows = "".join(row(r) for r in [HEADER, *ROWS])
    if cells_repeated:
        rows += '<table:table-row table:number-rows-repeated="1048000"><table:table-cell/></table:table-row>'
    return f'<table:table table:name="Sales">{rows}</table:table>'


def _odf(path: Path, mimetype: str, body: str) -> None:
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS} '
        f'office:version="1.3"><office:body>{body}</office:body></office:document-content>'
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content)


def _odt(path: Path) -> None:
    body = (
        '<office:text><text:h text:outline-level="1">Sales report</text:h>'
        "<text:p>Quarterly sales by region <text:span>follow</text:span>.</text:p>"
        f"{_odf_table()}</office:text>"
    )
    _odf(path, "application/vnd.oasis.opendocument.text", body)


def _ods(path: Path) -> None:
    body = f"<office:spreadsheet>{_odf_table(cells_repeated=True)}</office:spreadsheet>"
    _odf(path, "application/vnd.oasis.opendocument.spreadsheet", body)


def _odp(path: Path) -> None:
    frame = (
        '<draw:frame presentation:class="title"><draw:text-box><text:p>Sales</text:p>'
        "</draw:text-box></draw:frame>"
    )
    body = (
        f'<office:presentation><draw:page draw:name="one">{frame}</draw:page>'
        f'<draw:page draw:name="two"><draw:frame>{_odf_table()}</draw:frame></draw:page>'
        "</office:presentation>"
    )
    _odf(path, "application/vnd.oasis.opendocument.presentation", body)


def _strict_docx(path: Path) -> None:
    """A DOCX saved as Strict Open XML: the Transitional file with Strict namespace URIs."""
    plain = path.with_name("plain.docx")
    _docx(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith((".xml", ".rels")):
                data = re.sub(
                    rb"http://schemas\.openxmlformats\.org/(?!package)(\w+)/2006/",
                    rb"http://purl.oclc.org/ooxml/\1/",
                    data,
                )
            dst.writestr(info, data)


MAKERS: dict[str, Callable[[Path], None]] = {
    "report.docx": _docx,
    "deck.pptx": _pptx,
    "sheet.xlsx": _xlsx,
    "page.html": _html,
    "report.odt": _odt,
    "sheet.ods": _ods,
    "deck.odp": _odp,
    "strict.docx": _strict_docx,
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_every_cell_and_each_row_whole_with_its_header(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    MAKERS[name](path)
    doc = parse(path, name)
    chunks = chunk_blocks(doc.blocks, words, max_tokens=120, overlap_tokens=16)
    header = "| " + " | ".join(HEADER) + " |"
    pieces = [c.text for c in chunks if "| Region " in c.text]
    assert len(pieces) > 1  # 40 rows do not fit one chunk of 120 words
    for text in pieces:
        assert header in text.split("\n"), text  # the header in every piece
    found = [ln for text in pieces for ln in text.split("\n") if re.match(r"\| Region \d", ln)]
    assert found == ["| " + " | ".join(r) + " |" for r in ROWS]  # every row whole, once, in order


def test_strict_ooxml_is_recognised(tmp_path: Path) -> None:
    strict, plain = tmp_path / "strict.docx", tmp_path / "plain.docx"
    _strict_docx(strict)
    assert ooxml.is_strict(strict) and not ooxml.is_strict(plain)
    assert "Quarterly sales by region follow." in [b.text for b in parse(strict, "s.docx").blocks]


def test_opendocument_text_headings_and_slides(tmp_path: Path) -> None:
    odt, odp = tmp_path / "r.odt", tmp_path / "d.odp"
    _odt(odt)
    _odp(odp)
    text = parse(odt, "r.odt")
    assert [(b.kind, b.text) for b in text.blocks[:2]] == [
        ("title", "Sales report"),
        ("text", "Quarterly sales by region follow."),
    ]
    deck = parse(odp, "d.odp")
    assert deck.pages == 2
    assert [b.page for b in deck.blocks if b.kind == "table"] == [2]
    assert (deck.blocks[0].kind, deck.blocks[0].text) == ("title", "Sales")
