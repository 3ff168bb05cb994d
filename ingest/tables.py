"""Tables as text a model reads by rows and columns: Markdown pipe tables, split by rows with the
header repeated when one does not fit a chunk."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

Rows = list[list[str]]
_SPACE = re.compile(r"\s+")


def _flat(text: str | None) -> str:
    return _SPACE.sub(" ", text or "").strip()


def _cell(text: str | None) -> str:
    return _flat(text).replace("|", "\\|")


def _span(value: str | None) -> int:
    return max(1, min(int(value), 50)) if value and value.isdigit() else 1


def _fill_spanned(row: list[str], below: dict[int, tuple[int, str]]) -> None:
    """Put the cells that rowspans above reach into ``row`` at its end, where they stand."""
    while len(row) in below:
        left, text = below.pop(len(row))
        row.append(text)
        if left > 1:
            below[len(row) - 1] = (left - 1, text)


def html_to_rows(html: str) -> Rows:
    """The cells of the first ``<table>`` in ``html`` (as unstructured gives ``text_as_html``);
    a cell spanning columns or rows is repeated in each, so every row keeps its columns."""
    from lxml import html as lxml_html

    try:
        root = lxml_html.fromstring(html)
    except Exception:  # noqa: BLE001 - not parseable: no rows, the caller keeps the plain text
        return []
    rows: Rows = []
    below: dict[int, tuple[int, str]] = {}  # column -> (rows still spanned, text) of rowspans
    for tr in root.iter("tr"):
        row: list[str] = []
        for cell in tr:
            if not isinstance(cell.tag, str) or cell.tag.lower() not in ("td", "th"):
                continue
            _fill_spanned(row, below)
            text = _flat(cell.text_content())
            down = _span(cell.get("rowspan"))
            for _ in range(_span(cell.get("colspan"))):
                if down > 1:
                    below[len(row)] = (down - 1, text)
                row.append(text)
        _fill_spanned(row, below)
        if row:
            rows.append(row)
    return rows


def clean_rows(rows: Sequence[Sequence[str | None]]) -> Rows:
    """Cells as single-line text; rows padded to one width; empty rows and columns dropped."""
    cells = [[_cell(c) for c in row] for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return []
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    keep = [j for j in range(width) if any(r[j] for r in cells)]
    return [[r[j] for j in keep] for r in cells]


def to_markdown(rows: Sequence[Sequence[str]]) -> str:
    """A Markdown pipe table; the first row is the header."""
    rows = clean_rows(rows)
    if not rows:
        return ""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def is_markdown_table(text: str) -> bool:
    lines = text.split("\n")
    return len(lines) >= 2 and lines[0].startswith("|") and lines[1].startswith("|---")


def split_rows(
    text: str, max_tokens: int, count: Callable[[str], int]
) -> list[tuple[str, int, int]]:
    """Pieces of a Markdown table of at most ``max_tokens`` each (when one row alone fits), each
    starting with the header; spans (start, end) are the rows' own characters in ``text``."""
    lines = text.split("\n")
    header = "\n".join(lines[:2])
    pieces: list[tuple[str, int, int]] = []
    offset = len(header) + 1
    rows: list[str] = []
    start = offset
    for line in lines[2:]:
        candidate = "\n".join([header, *rows, line])
        if rows and count(candidate) > max_tokens:
            body = "\n".join(rows)
            pieces.append((f"{header}\n{body}", start, start + len(body)))
            start += len(body) + 1
            rows = []
        rows.append(line)
    if rows:
        body = "\n".join(rows)
        pieces.append((f"{header}\n{body}", start, start + len(body)))
    return pieces or [(text, 0, len(text))]


def read_delimited(path: Path, delimiter: str | None = None) -> Rows:
    """Rows of a CSV/TSV file read leniently: any encoding with a BOM (else UTF-8, bad bytes
    replaced), ragged rows kept, the delimiter sniffed when not given."""
    import csv

    data = path.read_bytes()
    for bom, enc in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            text = data.decode(enc, errors="replace")
            break
    else:
        text = data.decode("utf-8", errors="replace")
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
