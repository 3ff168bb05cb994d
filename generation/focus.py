"""Give the generator less to read: within each passage, the sentences and table rows that bear on
the question (with their neighbours, and a table's header rows), the rest left out with an ellipsis.
A small model on a CPU reads a prompt at a few hundred tokens a second, so every token left out is
time to first token saved."""

from __future__ import annotations

from dataclasses import dataclass

from generation.citations import content_words, sentence_spans


@dataclass(frozen=True)
class _Unit:
    text: str
    table: int | None  # which table block it is a row of (None: prose)
    header: bool  # a table's first row or its |---| rule


def _units(text: str) -> list[_Unit]:
    out: list[_Unit] = []
    table, row, in_table = -1, 0, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            if not in_table:
                table, row, in_table = table + 1, 0, True
            out.append(_Unit(stripped, table, row < 2))
            row += 1
            continue
        in_table = False
        for start, end in sentence_spans(line):
            out.append(_Unit(line[start:end], None, False))
    return out


def focus(text: str, question: str, neighbours: int = 1) -> str:
    """``text`` cut to the sentences and table rows sharing a content word with ``question``, each
    with ``neighbours`` units either side and a kept row's table header; ``text`` itself when
    nothing in it matches (the ranker found it for a reason the words do not show) or when little
    would be left out."""
    asked = content_words(question)
    units = _units(text)
    hits = [i for i, u in enumerate(units) if asked & content_words(u.text)]
    if not hits or len(units) <= 2 * neighbours + 1:
        return text
    keep: set[int] = set()
    for i in hits:
        keep.update(range(max(0, i - neighbours), min(len(units), i + neighbours + 1)))
    tables = {units[i].table for i in keep if units[i].table is not None}
    keep.update(i for i, u in enumerate(units) if u.header and u.table in tables)
    if len(keep) == len(units):
        return text
    out = "…" if min(keep) > 0 else ""
    prev_row = False
    last = -1
    for i in sorted(keep):
        u = units[i]
        row = u.table is not None
        if last >= 0 and i != last + 1:
            out += "\n…" if prev_row else " …"
            prev_row = False
        if out:
            out += "\n" if row or prev_row else " "
        out += u.text
        prev_row, last = row, i
    if last < len(units) - 1:
        out += "\n…" if prev_row else " …"
    return out
