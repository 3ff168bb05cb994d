"""Domain objects of ingestion."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """One structural element of a parsed document (a title, a paragraph, a list item, a table)."""

    text: str
    kind: str  # "title", "text", "list", "table", ...
    page: int | None = None
    depth: int = 0  # heading depth for titles, 0 = top level


@dataclass(frozen=True)
class ParsedDocument:
    blocks: list[Block]
    pages: int | None


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
