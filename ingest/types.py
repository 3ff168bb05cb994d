"""Domain objects of ingestion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Block:
    """One structural element of a parsed document (a title, a paragraph, a list item, a table)."""

    text: str
    kind: str  # "title", "text", "list", "table", ...
    page: int | None = None
    depth: int = 0  # heading depth for titles, 0 = top level


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
