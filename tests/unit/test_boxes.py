"""Positions kept from the PDF reader to the chunk: every word of a paragraph, title or list item
and every row of a table carries its box (ingest.pdf_text), the chunker merges a chunk's into line
boxes per page (ingest.chunking.page_boxes), and what is stored is compact JSON. PDFs are drawn here
with reportlab."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pytest

from ingest.chunking import _Unit, chunk_blocks, page_boxes
from ingest.pdf_text import read, read_lines
from ingest.pipeline import boxes_json
from ingest.sandbox import read_outcome
from ingest.types import Block, ParsedDocument

pytestmark = pytest.mark.unit

PARAGRAPH = [  # one paragraph set on five lines of one column
    "The Hollowell orchard grows Bramley apples on the southern slope of the valley, where",
    "the frost lifts early. Its cider house presses the fruit in October; the juice rests in",
    "oak casks until spring. The orchard sold 4,200 litres of cider in the last season and",
    "plans a second press. Visitors may walk the rows on Saturdays from May to September,",
    "and the shop sells jars of apple butter.",
]
ROWS = [("Cider sold (litres)", "4,200", "3,100"), ("Jars of butter", "1,150", "980")]


def _words(text: str) -> list[str]:
    return [t.lower() for t in re.findall(r"\w+", text)]


def orchard_pdf(path: Path) -> Path:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    c.setFont("Helvetica-Bold", 16)
    c.drawString(72, 720, "The Hollowell Orchard")
    c.setFont("Helvetica", 10)
    y = 690
    for line in PARAGRAPH:
        c.drawString(72, y, line)
        y -= 13
    y -= 14
    c.drawString(72, y, "• Pruning starts in February, before the buds open.")
    y -= 30
    c.drawString(300, y, "2023")
    c.drawString(380, y, "2022")
    for label, a, b in ROWS:
        y -= 14
        c.drawString(72, y, label)
        c.drawRightString(330, y, a)
        c.drawRightString(410, y, b)
    c.showPage()
    c.setFont("Helvetica", 10)
    c.drawString(72, 700, "The second page names the orchard keeper, Mara Quint, and her dog.")
    c.save()
    return path


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return orchard_pdf(tmp_path_factory.mktemp("boxes") / "orchard.pdf")


def test_every_word_span_points_at_its_word(pdf: Path) -> None:
    blocks = read(pdf).blocks
    prose = [b for b in blocks if b.kind in ("text", "title", "list")]
    assert prose and all(b.spans for b in prose)
    for b in prose:
        for a, e, page, x0, top, x1, bottom in b.spans:
            word = b.text[a:e]
            assert word and " " not in word, (b.text, a, e)
            assert page == b.page and 0 <= x0 < x1 <= 612 and 0 <= top < bottom <= 792
    listed = next(b for b in prose if b.kind == "list")
    assert listed.text.startswith("Pruning")  # the bullet is gone, and its box with it
    assert listed.text[listed.spans[0][0] : listed.spans[0][1]] == "Pruning"


def test_table_rows_carry_their_lines_boxes(pdf: Path) -> None:
    table = next(b for b in read(pdf).blocks if b.kind == "table")
    lines = table.text.split("\n")
    assert table.spans
    for a, e, *_box in table.spans:
        row = table.text[a:e]
        assert row in lines and row.startswith("|")
    row = next(sp for sp in table.spans if "Jars of butter" in table.text[sp[0] : sp[1]])
    x0, top, x1, bottom = row[3:]
    assert x0 == pytest.approx(72, abs=1) and x1 == pytest.approx(410, abs=1)
    assert bottom - top < 15  # one line, not the table


def test_chunk_boxes_cover_its_words_and_little_else(pdf: Path) -> None:
    blocks = read(pdf).blocks
    drafts = chunk_blocks(blocks, lambda t: len(t.split()), max_tokens=40, overlap_tokens=0)
    assert len(drafts) >= 3
    _count, pages = read_lines(pdf)
    for d in drafts:
        assert d.boxes and set(d.boxes) == set(range(d.page, d.page_end + 1))
        lit: list[str] = []
        for page, rects in d.boxes.items():
            for w in (w for ln in pages[page - 1] for w in ln.words):
                x, y = (w.x0 + w.x1) / 2, (w.top + w.bottom) / 2
                if any(r[0] - 1 <= x <= r[2] + 1 and r[1] - 1 <= y <= r[3] + 1 for r in rects):
                    lit.append(w.text)
        lit_words = {t for w in lit for t in _words(w)}
        own = _words(d.text)
        assert all(t in lit_words for t in own), (d.text, lit)
        outside = [w for w in lit if not set(_words(w)) <= set(own)]
        assert len(outside) <= 0.1 * len(lit), (d.text, outside)


def test_a_chunk_split_inside_a_line_highlights_only_its_words(pdf: Path) -> None:
    """A chunk that starts mid-line (its paragraph cut at a sentence) marks from its first word."""
    blocks = read(pdf).blocks
    drafts = chunk_blocks(blocks, lambda t: len(t.split()), max_tokens=20, overlap_tokens=0)
    second = next(d for d in drafts if d.text.startswith("Its cider house"))
    rects = second.boxes[1]
    # the line "the frost lifts early. Its cider house ..." is marked from "Its", not from 72 pt
    first = min(rects, key=lambda r: r[1])
    assert first[0] > 150


def _unit(spans: list[tuple[float, float, float, float]], kind: str = "text") -> _Unit:
    return _Unit(
        "x",
        0,
        1,
        1,
        None,
        kind,
        0,
        1,
        spans=tuple((i, i + 1, 1, *b) for i, b in enumerate(spans)),
    )


def test_page_boxes_stack_the_lines_of_a_column() -> None:
    lines = [(72.0, 100.0 + 12 * i, 540.0, 110.0 + 12 * i) for i in range(4)]
    short = (72.0, 148.0, 300.0, 158.0)  # the paragraph's last line
    other_column = (320.0, 100.0, 540.0, 110.0)
    # words of each line, left to right
    words = [w for x0, t, x1, b in lines for w in ((x0, t, 200.0, b), (210.0, t, x1, b))]
    boxes = page_boxes([_unit([*words, short])])
    assert boxes == {1: [(72, 100, 540, 146), (72, 148, 300, 158)]}
    assert len(page_boxes([_unit([lines[0], other_column])])[1]) == 2


def test_a_paragraphs_short_last_line_stacks_with_the_next_paragraph() -> None:
    """Right of a paragraph's last line is blank: the next paragraph's lines go in the same box;
    the chunk's own last line keeps its right edge (the next chunk may go on beside it)."""
    short = (72.0, 100.0, 300.0, 110.0)
    full = [(72.0, 112.0 + 12 * i, 540.0, 122.0 + 12 * i) for i in range(2)]
    assert page_boxes([_unit([short, *full])]) == {1: [(72, 100, 540, 134)]}
    cut = (72.0, 136.0, 200.0, 146.0)  # the chunk ends inside this line
    assert page_boxes([_unit([short, *full, cut])]) == {
        1: [(72, 100, 540, 134), (72, 136, 200, 146)]
    }


def test_table_rows_stack_whatever_their_right_edge() -> None:
    rows = [(72.0, 100.0 + 14 * i, 410.0 - 20 * (i % 2), 110.0 + 14 * i) for i in range(5)]
    assert page_boxes([_unit(rows, kind="table")]) == {1: [(72, 100, 410, 166)]}


def test_boxes_are_stored_as_compact_json() -> None:
    text = boxes_json({3: [(72, 100, 540, 146)], 4: [(72, 80, 300, 90)]})
    assert text == '{"3":[[72,100,540,146]],"4":[[72,80,300,90]]}'
    assert json.loads(text)["3"] == [[72, 100, 540, 146]]
    assert boxes_json({}) is None


def test_spans_cross_from_the_parse_child() -> None:
    """The worker unpickles only a parse result's own classes: spans are plain tuples."""
    block = Block("Hello there", "text", 2, spans=((0, 5, 2, 72.0, 90.0, 100.0, 100.0),))
    outcome = (ParsedDocument([block], 2),)
    assert read_outcome(pickle.dumps(outcome)) == outcome


def test_the_catalog_has_the_boxes_column(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from core.catalog import Catalog

    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()
    columns = {c["name"] for c in inspect(catalog.engine).get_columns("chunks")}
    assert "boxes" in columns
    Catalog(f"sqlite:///{tmp_path / 'catalog.db'}").create()  # a second start changes nothing


def test_ocr_boxes_come_in_the_pages_points() -> None:
    """An OCR'd element's box (tesseract's pixels of a 350-dpi scan of an A4 page) is kept in the
    page's points, top-left origin, like the text layer's."""
    from unstructured.documents.coordinates import PixelSpace
    from unstructured.documents.elements import ElementMetadata, NarrativeText

    from ingest.parsing import _in_points, _to_blocks

    scan = PixelSpace(2896, 4093)
    corners = ((350, 455), (350, 574), (2330, 574), (2330, 455))
    el = NarrativeText(
        "The cold store holds 4,800 tonnes.",
        coordinates=corners,
        coordinate_system=scan,
        metadata=ElementMetadata(page_number=2),
    )
    (block,) = _to_blocks(_in_points([el], (595.68, 841.92)))
    ((start, end, page, x0, top, x1, bottom),) = block.spans
    assert (start, end, page) == (0, len(block.text), 2)
    assert (x0, top, x1, bottom) == pytest.approx((72.0, 93.6, 479.3, 118.1), abs=0.2)
