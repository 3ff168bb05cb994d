"""What the page says about a collection's documents, as pure functions (unit-tested without
Streamlit)."""

from __future__ import annotations

ACTIVE = {"queued", "parsing", "embedding", "indexing"}


def documents_summary(
    counts: dict[str, int], shown: int, page: int, filtered: bool
) -> tuple[float, str, str | None]:
    """The progress bar's value and line for the whole collection, and a note when the table
    holds only its first page."""
    total = sum(counts.values())
    ready = counts.get("ready", 0)
    active = sum(counts.get(s, 0) for s in ACTIVE)
    failed = counts.get("failed", 0)
    line = f"{ready:,} of {total:,} ready, {active:,} in progress"
    line += f", {failed:,} failed" if failed else ""
    note = None
    if shown >= page:
        which = "matching documents" if filtered else f"of {total:,} documents"
        note = f"Showing the newest {shown:,} {which}: filter by name or state to find others."
    return (ready / total if total else 0.0), line, note
