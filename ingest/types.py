"""Domain objects of ingestion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Where a piece of a block's text stands on its page: (start, end) characters in the block's text,
# the page (1-based) and the box x0, top, x1, bottom in PDF points, origin top left.
Span = tuple[int, int, int, float, float, float, float]
# A chunk's boxes: page -> merged line boxes [x0, top, x1, bottom] in whole points.
PageBoxes = dict[int, list[tuple[int, int, int, int]]]


@dataclass(frozen=True)
class Block:
    """One structural element of a parsed document (a title, a paragraph, a list item, a table)."""

    text: str
    kind: str  # "title", "text", "list", "table", ...
    page: int | None = None
    depth: int = 0  # heading depth for titles, 0 = top level
    # the boxes of its words, rows or lines (PDF pages only; empty where the parser gives none)
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True)
class ParseProgress:
    """How far a parse is: pages in all, pages read so far, and the OCR share of them."""

    pages: int
    pages_done: int
    ocr_pages: int
    ocr_done: int


@dataclass(frozen=True)
class Attachment:
    """A file inside a document (an e-mail's attachment): ingested as a document of its own."""

    name: str
    data: bytes


@dataclass(frozen=True)
class ParsedDocument:
    blocks: list[Block]
    pages: int | None
    # what the format says about the document (an e-mail's from, to, cc, date, subject)
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it has an id: text plus where it came from."""

    ordinal: int
    text: str
    page: int | None
    heading: str | None
    element_type: str
    char_start: int
    char_end: int
    page_end: int | None = None  # the last page it covers (= page when on one)
    # where each page after the first starts in ``text``: (character offset, page)
    page_marks: tuple[tuple[int, int], ...] = ()
    # the merged boxes of the lines it was made of, by page (empty: no positions known)
    boxes: PageBoxes = field(default_factory=dict)
