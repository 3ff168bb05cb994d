"""The one wrapper of pdfplumber: ruled tables of a PDF, found offline with its rule-based finder.

unstructured's ``fast`` strategy returns a PDF table as loose text (cells even come out as titles),
and its table model needs a hub download. pdfplumber finds tables drawn with lines and gives their
cells; the parser puts each in place of the text it covered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Cells a PDF writer sets apart from their number: "$" | "1,234" | "%".
_LEADING = {"$", "(", "€", "£"}
_TRAILING = {"%", ")", "%)"}
# A ruled table draws at least this many rules (or box sides) each way, each this long (points).
MIN_RULES = 2
RULE_SPAN = 8.0


@dataclass(frozen=True)
class PdfTable:
    page: int  # 1-based
    bbox: tuple[float, float, float, float]  # x0, top, x1, bottom in points, origin top-left
    rows: list[list[str]]


def compact_row(row: Sequence[str | None]) -> list[str]:
    """A row without the empty cells that merged cells leave, with "$" and "%" joined to their
    number; financial tables then line up by position."""
    out: list[str] = []
    pending = ""
    for cell in row:
        text = " ".join((cell or "").split())
        if not text:
            continue
        if text in _LEADING:
            pending += text
        elif text in _TRAILING and out:
            out[-1] += text
        else:
            out.append(pending + text)
            pending = ""
    return out


def _drawn(path: Path, pages: Sequence[int]) -> list[int]:
    """The pages that draw both horizontal and vertical rules (or boxes): a grid's rules are paths,
    and pdfium reads them in milliseconds where pdfplumber's layout pass takes ~0.3 s a page."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_raw

    pdf = pdfium.PdfDocument(str(path))
    try:
        out = []
        for number in pages:
            page = pdf[number - 1]
            across = down = 0
            for obj in page.get_objects(filter=[pdfium_raw.FPDF_PAGEOBJ_PATH], max_depth=2):
                left, bottom, right, top = obj.get_bounds()
                wide, tall = right - left > RULE_SPAN, top - bottom > RULE_SPAN
                across += wide
                down += tall
                if across >= MIN_RULES and down >= MIN_RULES:
                    out.append(number)
                    break
            page.close()
        return out
    finally:
        pdf.close()


def find_tables(path: Path, pages: Sequence[int]) -> list[PdfTable]:
    """The ruled tables on ``pages`` (1-based) with at least two rows and two columns."""
    import pdfplumber

    # where pdfium cannot read the file, pdfplumber looks at every page
    with contextlib.suppress(Exception):
        pages = _drawn(path, pages)
    found: list[PdfTable] = []
    if not pages:
        return found
    with pdfplumber.open(str(path)) as pdf:
        for number in pages:
            page = pdf.pages[number - 1]
            try:
                tables = page.find_tables()
            except Exception:  # noqa: BLE001 - a page the finder cannot read keeps its text
                continue
            for table in tables:
                rows = [r for r in (compact_row(row) for row in table.extract()) if r]
                if len(rows) >= 2 and max(len(r) for r in rows) >= 2:
                    found.append(PdfTable(number, tuple(table.bbox), rows))  # type: ignore[arg-type]
            page.close()
    return found


def inside(points: Sequence[tuple[float, float]], bbox: tuple[float, float, float, float]) -> bool:
    """Whether the centre of an element's box (unstructured's top-left points) lies in ``bbox``."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x, y = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    x0, top, x1, bottom = bbox
    return x0 - 1 <= x <= x1 + 1 and top - 1 <= y <= bottom + 1
