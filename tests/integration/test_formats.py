"""Every format through the real parser, with fixtures the tests make: text, pages, headings and
table cells survive into blocks and chunks; the type comes from the bytes, not the name."""

from __future__ import annotations

import email.message
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from ingest.chunking import chunk_blocks
from ingest.errors import (
    EmptyDocument,
    EncryptedDocument,
    IngestError,
    MissingConverter,
    UnsupportedFormat,
)
from ingest.parsing import detect_kind, ocr_available, parse
from ingest.types import ParsedDocument
from tests.integration.conftest import make_pdf

pytestmark = pytest.mark.integration

ROWS = [["City", "Bridges", "Rivers"], ["Orlen", "9", "2"], ["Vask", "14", "3"]]


def words(text: str) -> int:
    return len(text.split())


def text_of(doc: ParsedDocument) -> str:
    return "\n".join(b.text for b in doc.blocks)


def table_of(doc: ParsedDocument) -> str:
    tables = [b.text for b in doc.blocks if b.kind == "table"]
    assert tables, [(b.kind, b.text[:60]) for b in doc.blocks]
    return tables[0]


def assert_rows(table: str) -> None:
    """The fixture table's cells, row by row, as a Markdown table."""
    lines = table.split("\n")
    assert lines[0].replace(" ", "") == "|City|Bridges|Rivers|", table
    assert "| Orlen | 9 | 2 |" in lines and "| Vask | 14 | 3 |" in lines, table


def headings(doc: ParsedDocument) -> list[str]:
    """Heading paths of the chunks, every section its own chunk (no floor): the hierarchy read."""
    return [c.heading or "" for c in chunk_blocks(doc.blocks, words, 64, 0, min_tokens=0)]


def test_docx_headings_and_table(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Annual report", level=1)
    d.add_paragraph("The year went well for the river towns.")
    d.add_heading("Bridges", level=2)
    d.add_paragraph("Bridge counts per city follow.")
    t = d.add_table(rows=3, cols=3)
    for i, row in enumerate(ROWS):
        for j, cell in enumerate(row):
            t.cell(i, j).text = cell
    path = tmp_path / "report.docx"
    d.save(path)
    doc = parse(path, "report.docx")
    assert "river towns" in text_of(doc)
    assert_rows(table_of(doc))
    assert "Annual report > Bridges" in headings(doc)


def _soffice_convert(source: Path, fmt: str) -> Path:
    out = source.parent / "legacy"
    subprocess.run(
        ["soffice", "--headless", "--convert-to", fmt, "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "HOME": str(source.parent)},
    )
    return out / f"{source.stem}.{fmt}"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_legacy_doc_and_ppt_through_libreoffice(tmp_path: Path, monkeypatch) -> None:
    import docx
    from pptx import Presentation

    d = docx.Document()
    d.add_heading("Annual report", level=1)
    d.add_paragraph("The Orlen bridge has nine arches.")
    d.save(tmp_path / "report.docx")
    legacy = _soffice_convert(tmp_path / "report.docx", "doc")
    assert detect_kind(legacy) == "doc"
    assert "nine arches" in text_of(parse(legacy, "report.doc"))
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Quarterly review"
    slide.placeholders[1].text = "Revenue rose in the north."
    prs.save(tmp_path / "deck.pptx")
    doc = parse(_soffice_convert(tmp_path / "deck.pptx", "ppt"), "deck.ppt")
    assert "Revenue rose" in text_of(doc)
    # where LibreOffice is missing, the reason says so
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd: None if cmd == "soffice" else real(cmd))
    with pytest.raises(MissingConverter, match="needs LibreOffice"):
        parse(legacy, "report.doc")


def test_pptx_slides_are_pages_with_table(tmp_path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    s1 = prs.slides.add_slide(prs.slide_layouts[1])
    s1.shapes.title.text = "Quarterly review"
    s1.placeholders[1].text = "Revenue rose in the north."
    s2 = prs.slides.add_slide(prs.slide_layouts[5])
    s2.shapes.title.text = "Bridges"
    shape = s2.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(6), Inches(2))
    for i, row in enumerate(ROWS):
        for j, cell in enumerate(row):
            shape.table.cell(i, j).text = cell
    path = tmp_path / "deck.pptx"
    prs.save(path)
    doc = parse(path, "deck.pptx")
    assert doc.pages == 2
    assert "Revenue rose" in text_of(doc)
    assert_rows(table_of(doc))
    assert [b.page for b in doc.blocks if b.kind == "table"] == [2]


def test_xlsx_sheet_is_a_table(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Bridges"
    for row in ROWS:
        ws.append(row)
    path = tmp_path / "bridges.xlsx"
    wb.save(path)
    assert_rows(table_of(parse(path, "bridges.xlsx")))


@pytest.mark.parametrize("sep,name", [(",", "bridges.csv"), ("\t", "bridges.tsv")])
def test_csv_and_tsv(tmp_path: Path, sep: str, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n".join(sep.join(r) for r in ROWS) + "\n")
    assert_rows(table_of(parse(path, name)))


def test_html_headings_table_and_no_script(tmp_path: Path) -> None:
    cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in ROWS)
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><script>var secret = 'SCRIPTTEXT';</script></head><body>"
        "<h1>Guide</h1><p>Towns along the river.</p><h2>Bridges</h2>"
        f"<table>{cells}</table></body></html>"
    )
    doc = parse(path, "page.html")
    assert "Towns along the river." in text_of(doc)
    assert "SCRIPTTEXT" not in text_of(doc)
    assert_rows(table_of(doc))


def test_markdown_headings_table_and_code(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "# Guide\n\nTowns along the river.\n\n## Bridges\n\n"
        "| City | Bridges | Rivers |\n|---|---|---|\n| Orlen | 9 | 2 |\n| Vask | 14 | 3 |\n\n"
        "```\ncount = bridges(city)\nprint(count)\n```\n"
    )
    doc = parse(path, "notes.md")
    assert_rows(table_of(doc))
    assert "Guide > Bridges" in headings(doc)
    assert "count = bridges(city)" in text_of(doc)


def test_rst_and_org(tmp_path: Path) -> None:
    rst = tmp_path / "guide.rst"
    rst.write_text("Guide\n=====\n\nTowns along the river.\n\nBridges\n-------\n\nNine in Orlen.\n")
    doc = parse(rst, "guide.rst")
    assert "Nine in Orlen." in text_of(doc)
    assert "Guide > Bridges" in headings(doc)
    org = tmp_path / "guide.org"
    org.write_text("* Guide\nTowns along the river.\n** Bridges\nNine in Orlen.\n")
    doc = parse(org, "guide.org")
    assert "Nine in Orlen." in text_of(doc)
    assert "Guide > Bridges" in headings(doc)


def test_plain_text_xml_json_rtf(tmp_path: Path) -> None:
    txt = tmp_path / "a.txt"
    txt.write_text("The Orlen bridge has nine arches.\n\nIt was built in 1821.\n")
    assert "built in 1821" in text_of(parse(txt, "a.txt"))
    xml = tmp_path / "a.xml"
    xml.write_text(
        "<?xml version='1.0'?><towns><town><name>Orlen</name><bridges>9</bridges></town></towns>"
    )
    assert "Orlen" in text_of(parse(xml, "a.xml"))
    js = tmp_path / "a.json"
    js.write_text('{"town": "Orlen", "note": "The Orlen bridge has nine arches."}')
    assert "nine arches" in text_of(parse(js, "a.json"))
    rtf = tmp_path / "a.rtf"
    rtf.write_text(
        r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard "
        r"The Orlen bridge has nine arches.\par}"
    )
    assert "nine arches" in text_of(parse(rtf, "a.rtf"))


def _odt(path: Path) -> None:
    """An OpenDocument text written by pandoc (shipped in pypandoc-binary)."""
    import pypandoc

    pypandoc.convert_text(
        "# Guide\n\nThe Orlen bridge has nine arches.\n", "odt", format="md", outputfile=str(path)
    )


def test_odt(tmp_path: Path) -> None:
    path = tmp_path / "guide.odt"
    _odt(path)
    assert "nine arches" in text_of(parse(path, "guide.odt"))


def _epub(path: Path) -> None:
    container = (
        '<?xml version="1.0"?><container version="1.0" '
        'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        '<rootfile full-path="content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    opf = (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
        'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:identifier id="id">x</dc:identifier><dc:title>Guide</dc:title>'
        "<dc:language>en</dc:language></metadata><manifest>"
        '<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest>'
        '<spine><itemref idref="c1"/></spine></package>'
    )
    chapter = (
        '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>c</title>'
        "</head><body><h1>Bridges</h1><p>The Orlen bridge has nine arches.</p></body></html>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", container)
        z.writestr("content.opf", opf)
        z.writestr("c1.xhtml", chapter)


def test_epub(tmp_path: Path) -> None:
    path = tmp_path / "guide.epub"
    _epub(path)
    assert "nine arches" in text_of(parse(path, "guide.epub"))


def test_pdf_pages_headings_and_ruled_table(tmp_path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    path = tmp_path / "report.pdf"
    styles = getSampleStyleSheet()
    table = Table(ROWS)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    SimpleDocTemplate(str(path), pagesize=A4).build(
        [
            Paragraph("The year went well for the river towns.", styles["Normal"]),
            PageBreak(),
            Paragraph("Bridge counts per city follow below.", styles["Normal"]),
            table,
        ]
    )
    for tables in (True, False):  # figures in columns: a table from positions alone
        doc = parse(path, "report.pdf", pdf_tables=tables)
        assert doc.pages == 2
        assert_rows(table_of(doc))
        assert [b.page for b in doc.blocks if b.kind == "table"] == [2]
        # the cells are not also left behind as loose text
        assert sum("Orlen" in b.text for b in doc.blocks) == 1
    old = parse(path, "report.pdf", pdf_reader="unstructured")  # the slower reader still serves
    assert_rows(table_of(old))


def test_pdf_ruled_table_of_words_from_pdfplumber(tmp_path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    rows = [["City", "Mayor", "River"], ["Orlen", "Ada Marsh", "Vel"], ["Vask", "Ion Tarr", "Sud"]]
    table = Table(rows)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    path = tmp_path / "mayors.pdf"
    style = getSampleStyleSheet()["Normal"]
    SimpleDocTemplate(str(path)).build([Paragraph("Mayors of the river towns.", style), table])
    ruled = table_of(parse(path, "mayors.pdf"))
    assert "| Orlen | Ada Marsh | Vel |" in ruled.split("\n"), ruled
    plain = parse(path, "mayors.pdf", pdf_tables=False)  # words only: no columns of figures
    assert not [b for b in plain.blocks if b.kind == "table"]
    assert "Ada Marsh" in text_of(plain)


def test_mislabelled_file_is_parsed_by_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "really-html.pdf"
    path.write_text(
        "<html><body><h1>Guide</h1><p>The Orlen bridge has nine arches.</p></body></html>"
    )
    assert "nine arches" in text_of(parse(path, "really-html.pdf"))
    pdf = make_pdf(tmp_path / "x.pdf", ["The Vask bridge has fourteen arches."])
    renamed = tmp_path / "notes.txt"
    renamed.write_bytes(pdf.read_bytes())
    doc = parse(renamed, "notes.txt")
    assert doc.pages == 1 and "fourteen arches" in text_of(doc)


def test_eml_keeps_headers_and_body(tmp_path: Path) -> None:
    msg = email.message.EmailMessage()
    msg["From"] = "Ada Lovelace <ada@example.org>"
    msg["To"] = "Charles Babbage <charles@example.org>"
    msg["Subject"] = "Bridge survey"
    msg["Date"] = "Tue, 03 Mar 2026 10:00:00 +0000"
    msg.set_content("The Orlen bridge has nine arches.")
    path = tmp_path / "survey.eml"
    path.write_bytes(bytes(msg))
    doc = parse(path, "survey.eml")
    assert "nine arches" in text_of(doc)
    assert doc.metadata["subject"] == "Bridge survey"
    assert doc.blocks[0].text.startswith("From: Ada Lovelace <ada@example.org>")


def _png_with_text(path: Path, text: str) -> None:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (1400, 200), "white")
    font = ImageFont.load_default(size=48)
    ImageDraw.Draw(img).text((40, 60), text, fill="black", font=font)
    img.save(path)


@pytest.mark.skipif(not ocr_available(), reason="tesseract-ocr is not installed")
def test_image_and_scanned_pdf_are_ocred(tmp_path: Path) -> None:
    from PIL import Image

    png = tmp_path / "sign.png"
    _png_with_text(png, "Orlen bridge nine arches")
    assert "arches" in text_of(parse(png, "sign.png")).lower()
    for fmt, suffix in (("JPEG", "jpg"), ("TIFF", "tiff"), ("BMP", "bmp")):
        other = tmp_path / f"sign.{suffix}"
        Image.open(png).convert("RGB").save(other, fmt)
        assert "arches" in text_of(parse(other, other.name)).lower(), fmt
    from PIL import Image

    scan = tmp_path / "scan.pdf"
    Image.open(png).save(scan, "PDF", resolution=150)
    doc = parse(scan, "scan.pdf")
    assert doc.pages == 1 and "arches" in text_of(doc).lower()


def test_bad_input_gets_a_reason(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.encrypt("secret")
    enc = tmp_path / "locked.pdf"
    with open(enc, "wb") as f:
        w.write(f)
    with pytest.raises(EncryptedDocument, match="remove the password"):
        parse(enc, "locked.pdf")
    junk = tmp_path / "blob.bin"
    junk.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(IngestError) as err:
        parse(junk, "blob.bin")
    assert isinstance(err.value, UnsupportedFormat), err.value
    assert "not supported" in err.value.message
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(EmptyDocument, match="empty"):
        parse(empty, "empty.txt")


def test_ragged_and_utf16_csv_still_parse(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("City,Bridges\nOrlen,9,extra\nVask\n")
    table = table_of(parse(ragged, "ragged.csv"))
    assert "| Orlen | 9 | extra |" in table and "| Vask |" in table
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("\n".join(",".join(r) for r in ROWS).encode("utf-16"))
    assert_rows(table_of(parse(utf16, "utf16.csv")))


def test_zip_members_become_attachments(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes/piers.txt", "The viaduct rests on 31 piers.")
        z.writestr("__MACOSX/notes/._piers.txt", "junk")
        z.writestr(".hidden", "junk")
        z.writestr("empty/", "")
    doc = parse(path, "bundle.zip")
    assert [a.name for a in doc.attachments] == ["notes/piers.txt"]
    assert doc.attachments[0].data == b"The viaduct rests on 31 piers."
    assert "notes/piers.txt" in text_of(doc)


@pytest.mark.skipif(not ocr_available(), reason="tesseract-ocr is not installed")
def test_pdf_with_a_table_page_and_a_scanned_page(tmp_path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import Image as RLImage
    from reportlab.platypus import PageBreak, SimpleDocTemplate, Table, TableStyle

    png = tmp_path / "scan.png"
    _png_with_text(png, "Orlen bridge nine arches")
    table = Table(ROWS)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    path = tmp_path / "mixed.pdf"
    SimpleDocTemplate(str(path), pagesize=A4).build(
        [table, PageBreak(), RLImage(str(png), width=480, height=68)]
    )
    doc = parse(path, "mixed.pdf")
    assert doc.pages == 2
    assert_rows(table_of(doc))
    assert [b.page for b in doc.blocks if b.kind == "table"] == [1]
    assert "arches" in " ".join(b.text for b in doc.blocks if b.page == 2).lower()


# Paragraphs of every shape unstructured's text classifier tells apart: short titles, capitals,
# numbered lines, paragraphs without a verb, exactly 12 and 13 words, long narrative.
SHAPES = [
    "Annual Report",
    "RISKS AND UNCERTAINTIES.",
    "1. Bridges of the river towns",
    "Orlen Vask Tarn Ebb Holm Reed Mere Fold Dale Wick Crag Fell",
    "Orlen Vask Tarn Ebb Holm Reed Mere Fold Dale Wick Crag Fell Moor",
    "Revenue, net income, margins, cash, debt, equity, assets, liabilities, taxes, fees, "
    "rates, costs, prices, volumes, units and shares",
    "THE COMPANY MAY NOT BE ABLE TO RAISE CAPITAL ON TERMS IT FINDS ACCEPTABLE, AND ITS "
    "SHAREHOLDERS COULD LOSE PART OF THEIR INVESTMENT.",
    "The river towns built nine bridges in Orlen and fourteen in Vask during the decade, and "
    "each of them still carries traffic today. The council expects to add two more.",
    "12,345 67,890 11,121 31,415 92,653 58,979 32,384 62,643 38,327 95,028 84,197 16,939",
    "Towns along the river.",
]


def _shape_files(tmp_path: Path) -> list[Path]:
    import docx
    import pptx

    txt = tmp_path / "shapes.txt"
    txt.write_text("\n\n".join(SHAPES) + "\n")
    md = tmp_path / "shapes.md"
    md.write_text("# Shapes\n\n" + "\n\n".join(SHAPES) + "\n")
    html = tmp_path / "shapes.html"
    html.write_text("<html><body>" + "".join(f"<p>{s}</p>" for s in SHAPES) + "</body></html>")
    d = docx.Document()
    for s in SHAPES:
        d.add_paragraph(s)
    word = tmp_path / "shapes.docx"
    d.save(word)
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    for i, s in enumerate(SHAPES):
        slide.shapes.add_textbox(0, i * 300_000, 8_000_000, 300_000).text_frame.text = s
    slides = tmp_path / "shapes.pptx"
    deck.save(slides)
    return [txt, md, html, word, slides]


def test_paragraphs_skip_spacy_and_come_out_the_same(tmp_path: Path, monkeypatch) -> None:
    """``skip_needless_nlp`` leaves the blocks as unstructured's own classifier makes them, and
    asks spaCy about none of the long paragraphs (only short lines that could be titles)."""
    from unstructured.partition import docx, pptx, text, text_type, xlsx
    from unstructured.partition.html import parser as html_parser

    files = _shape_files(tmp_path)
    asked: list[str] = []
    counts_sentences = text_type.sentence_count

    def counting(text_: str, *args, **kwargs) -> int:
        asked.append(text_)
        return counts_sentences(text_, *args, **kwargs)

    monkeypatch.setattr(text_type, "sentence_count", counting)
    fast = {
        f.name: [(b.text, b.kind, b.page, b.depth) for b in parse(f, f.name).blocks] for f in files
    }
    assert asked and all(len(a.split(" ")) <= 12 for a in asked), asked
    for module in (text, html_parser, docx, pptx, xlsx):  # unstructured's own classifier
        monkeypatch.setattr(
            module, "is_possible_narrative_text", text_type.is_possible_narrative_text
        )
    asked.clear()
    plain = {
        f.name: [(b.text, b.kind, b.page, b.depth) for b in parse(f, f.name).blocks] for f in files
    }
    assert any(len(a.split(" ")) > 12 for a in asked)  # the long ones were asked this time
    assert fast == plain
    kinds = {b[1] for blocks in fast.values() for b in blocks}
    assert {"title", "text"} <= kinds, fast
