"""OpenDocument files (ODT text, ODS spreadsheets, ODP presentations) read from their content.xml.

unstructured reads ODT only (through pandoc, which loses text in frames and flattens tables) and
takes ODS and ODP for plain zip archives. Here lxml walks the content: headings with their outline
level, paragraphs, list items, text boxes, notes, and tables with every cell (spanned and repeated
cells expanded, covered cells empty, empty repeated rows and columns of a spreadsheet dropped) as
Markdown tables; each slide of a presentation is a page. The zip guards have run before this.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from lxml import etree

from ingest.errors import CorruptDocument
from ingest.tables import to_markdown
from ingest.types import Block

MIMETYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/vnd.oasis.opendocument.text-template": "odt",
    "application/vnd.oasis.opendocument.spreadsheet-template": "ods",
    "application/vnd.oasis.opendocument.presentation-template": "odp",
}
NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
}
# Repeats past these are a spreadsheet's styling of empty space, never data.
MAX_REPEAT = 1000


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


H, P, LIST, LIST_ITEM = (
    _q("text", "h"),
    _q("text", "p"),
    _q("text", "list"),
    _q("text", "list-item"),
)
TABLE, ROW, CELL = _q("table", "table"), _q("table", "table-row"), _q("table", "table-cell")
COVERED = _q("table", "covered-table-cell")
PAGE, FRAME = _q("draw", "page"), _q("draw", "frame")
SPACE, TAB, BREAK = _q("text", "s"), _q("text", "tab"), _q("text", "line-break")
NOTE, NOTE_CITATION = _q("text", "note"), _q("text", "note-citation")
SKIP = {_q("text", "tracked-changes"), _q("office", "annotation"), _q("text", "sequence-decls")}


def kind_of(path: Path) -> str | None:
    """ "odt", "ods" or "odp" for an OpenDocument file (by its mimetype member), else None."""
    try:
        with zipfile.ZipFile(path) as z:
            mimetype = z.read("mimetype").decode("ascii", "replace").strip()
    except (zipfile.BadZipFile, KeyError, OSError):
        return None
    return MIMETYPES.get(mimetype)


def _inline(el: etree._Element) -> str:
    """The text of a paragraph with its spans, spaces, tabs and breaks (notes left out)."""
    parts = [el.text or ""]
    for child in el:
        tag = child.tag
        if tag == SPACE:
            parts.append(" " * min(int(child.get(_q("text", "c"), "1") or 1), 100))
        elif tag == TAB:
            parts.append("\t")
        elif tag == BREAK:
            parts.append("\n")
        elif tag in (NOTE, NOTE_CITATION) or tag in SKIP:
            pass
        elif isinstance(tag, str):
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _repeat(el: etree._Element, attr: str) -> int:
    try:
        return max(1, min(int(el.get(_q("table", attr), "1")), MAX_REPEAT))
    except ValueError:
        return 1


def _cell_text(cell: etree._Element) -> str:
    texts = []
    for p in cell.iter(P, H):
        texts.append(" ".join(_inline(p).split()))
    return " ".join(t for t in texts if t)


def _rows(table: etree._Element) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in table.iter(ROW):
        if row.getparent() is None or _nearest(row, TABLE) is not table:
            continue  # a row of a table nested in a cell: read as that cell's text
        cells: list[str] = []
        empty = 0  # empty cells not written yet: a row's trailing ones never are
        for cell in row:
            if cell.tag not in (CELL, COVERED):
                continue
            text = _cell_text(cell) if cell.tag == CELL else ""
            width = _repeat(cell, "number-columns-repeated")
            if not text:
                empty += width
                continue
            cells += [""] * empty + [text] * width
            cells += [text] * (_repeat(cell, "number-columns-spanned") - 1)
            empty = 0
        repeat = _repeat(row, "number-rows-repeated")
        if any(cells):
            rows += [cells] * repeat
    return rows


def _nearest(el: etree._Element, tag: str) -> etree._Element | None:
    """The closest ancestor of ``el`` with ``tag``."""
    parent = el.getparent()
    while parent is not None and parent.tag != tag:
        parent = parent.getparent()
    return parent


class _Reader:
    """Blocks in document order; slides counted as they come."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.slides = 0

    def walk(self, el: etree._Element, page: int | None) -> None:
        for child in el:
            tag = child.tag
            if tag in SKIP or not isinstance(tag, str):
                continue
            if tag == H:
                text = " ".join(_inline(child).split())
                if text:
                    level = int(child.get(_q("text", "outline-level"), "1") or 1)
                    self.blocks.append(Block(text, "title", page, max(0, level - 1)))
            elif tag == P:
                text = _inline(child).strip()
                if text:
                    self.blocks.append(Block(text, "text", page))
                for note in child.iter(NOTE):  # footnotes after their paragraph
                    self.walk(note, page)
            elif tag == LIST_ITEM:
                for p in child.iter(P, H):
                    text = " ".join(_inline(p).split())
                    if text and _nearest(p, LIST_ITEM) is child:
                        self.blocks.append(Block(text, "list", page))
                for nested in child.iter(LIST):
                    if nested.getparent() is child:
                        self.walk(nested, page)
            elif tag == TABLE:
                md = to_markdown(_rows(child))
                if md:
                    sheet = child.get(_q("table", "name"))
                    if sheet and el.tag == _q("office", "spreadsheet"):
                        self.blocks.append(Block(sheet, "title", page))
                    self.blocks.append(Block(md, "table", page))
            elif tag == FRAME and child.get(_q("presentation", "class")) == "title":
                text = " ".join(" ".join(_inline(p).split()) for p in child.iter(P))
                if text.strip():
                    self.blocks.append(Block(text, "title", page))
            elif tag == PAGE:
                self.slides += 1
                self.walk(child, self.slides)
            else:
                self.walk(child, page)


def read(path: Path, name: str) -> tuple[list[Block], int | None]:
    """Blocks of the document and its page count (slides of a presentation; None otherwise)."""
    try:
        with zipfile.ZipFile(path) as z:
            content = z.read("content.xml")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(content, parser)
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as e:
        raise CorruptDocument(f"{name} is a damaged OpenDocument file: {e}") from e
    body = root.find(_q("office", "body"))
    reader = _Reader()
    if body is not None:
        reader.walk(body, None)
    return reader.blocks, reader.slides or None
