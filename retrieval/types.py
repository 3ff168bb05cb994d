"""Domain objects of retrieval."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoredChunk:
    """A passage found for a query, with where it comes from."""

    chunk_id: int
    document_id: str
    document_name: str
    collection: str
    text: str
    page: int | None
    heading: str | None
    score: float
    page_end: int | None = None  # the last page the passage covers, when it spans pages
    # where each later page starts in ``text``: (character offset, page)
    page_marks: tuple[tuple[int, int], ...] = ()
    origin: str | None = None  # where a synced document lives (a path or URL at its source)
