"""The one wrapper of pypdfium2: a PDF's text layer read as a person reads it, fast.

pdfium gives every character with its box, font size and weight (~40 pages/s on one core, against
~2-4 for pdfminer under unstructured's ``fast`` strategy). From them: words (at pdfium's spaces, or
at a gap wider than a character), lines in the page's content order, and then blocks:
- **tables**, ruled or not: a run of lines whose figures stand apart from their label in columns
  (most financial statements are set by whitespace) becomes one table: each row its label and every
  value, in columns found from where the figures end; the header lines above it (periods, dates)
  are given to the columns below them, a header that spans several columns to each of them;
- **titles**: a short line set larger than the body text, or bold where the body is not; depth by
  size (larger is higher);
- **paragraphs**: consecutive lines of one size and style close together, joined (a hyphen at a
  line end joins the word);
- **list items**: a line that starts with a bullet;
- running headers and footers (the same line, digits aside, at the top or bottom of many pages) and
  bare page numbers are left out.
Pages without a text layer are reported so the caller can OCR them.
"""

from __future__ import annotations

import ctypes
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
from pypdfium2 import PdfiumError

from core.text import whole_pairs
from ingest.pdf_tables import PdfTable, inside
from ingest.tables import to_markdown
from ingest.types import Block, Span

__all__ = ["PdfText", "PdfiumError", "read", "read_lines"]

# A gap wider than this many font sizes (ems) between characters starts a new word even without a
# space character; a wider one between a label and its figures makes them separate columns.
WORD_GAP_EM = 0.9
COLUMN_GAP_EM = 1.2
_VALUE = re.compile(r"^[(\[]?[$€£]?\(?-?\d[\d,]*(?:\.\d+)?\)?%?\)?[*†]?$|^[—–-]+$|^n/?m$", re.I)
_CURRENCY = {"$", "€", "£", "(", "($", "$("}
_TRAILING = {"%", ")", "%)", "pts", "bps"}
_BULLET = re.compile(r"^[•●◦▪■□➢►–\-*]$")
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.I)
_FOOTNOTE = re.compile(r"^\(\d\)$|^[®™©*†‡]+$")
_MARKS = re.compile(r"^(?:\s|[®™©*†‡]|\(\d{1,2}\))*$")
_YEAR = re.compile(r"^(19|20)\d\d$")
_PAGE_NUMBER = re.compile(r"^(page\s+)?[ivxlcdm\d]+(\s+of\s+\d+)?$", re.I)


@dataclass
class Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool


@dataclass
class Line:
    words: list[Word]
    page: int

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bottom for w in self.words)

    @property
    def x0(self) -> float:
        return self.words[0].x0

    @property
    def size(self) -> float:
        return max(w.size for w in self.words)

    @property
    def bold(self) -> bool:
        return all(w.bold for w in self.words)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def x1(self) -> float:
        return max(w.x1 for w in self.words)

    def spans(self, offset: int) -> list[Span]:
        """Each word's box, its characters counted from ``offset`` in the text the line joins."""
        out: list[Span] = []
        for w in self.words:
            out.append((offset, offset + len(w.text), self.page, w.x0, w.top, w.x1, w.bottom))
            offset += len(w.text) + 1
        return out

    def box_span(self, start: int, end: int) -> Span:
        """The whole line's box, for characters ``start`` to ``end`` of a block's text."""
        return (start, end, self.page, self.words[0].x0, self.top, self.x1, self.bottom)

    def segments(self) -> list[Word]:
        """Runs of words without a column-wide gap between them, as one word each."""
        out: list[Word] = []
        for w in self.words:
            last = out[-1] if out else None
            if last is not None and w.x0 - last.x1 <= COLUMN_GAP_EM * max(w.size, 1.0):
                out[-1] = Word(
                    f"{last.text} {w.text}",
                    last.x0,
                    w.x1,
                    min(last.top, w.top),
                    max(last.bottom, w.bottom),
                    max(last.size, w.size),
                    last.bold and w.bold,
                )
            else:
                out.append(Word(w.text, w.x0, w.x1, w.top, w.bottom, w.size, w.bold))
        return out


@dataclass
class PdfText:
    """What the text layer holds: blocks in reading order, and the pages without text."""

    pages: int
    blocks: list[Block] = field(default_factory=list)
    empty_pages: list[int] = field(default_factory=list)


def read_lines(path: Path) -> tuple[int, list[list[Line]]]:
    """Every page's lines (pages numbered from 1), in the content order pdfium reads them."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        return len(pdf), [_page_lines(pdf, i) for i in range(len(pdf))]
    finally:
        pdf.close()


def _page_lines(pdf: pdfium.PdfDocument, index: int) -> list[Line]:
    page = pdf[index]
    textpage = page.get_textpage()
    try:
        height = page.get_height()
        raw = textpage.raw
        n = pdfium_raw.FPDFText_CountChars(raw)
        left, right, bottom, top = (ctypes.c_double() for _ in range(4))
        boxes = [ctypes.byref(v) for v in (left, right, bottom, top)]
        lines: list[Line] = []
        words: list[Word] = []
        chars: list[str] = []
        box: list[float] = []  # x0, x1, top, bottom, size of the word being read
        band: list[float] = []  # top, bottom, right and left end of the last character read
        rtl = False  # the last character read is right-to-left (Arabic, Hebrew)
        spaced = False  # pdfium put a space of its own after the last character
        bold = False
        font = ctypes.create_string_buffer(128)
        flags = ctypes.c_int()
        loose = pdfium_raw.FS_RECTF()
        scales: dict[float, float] = {}  # reported font size -> factor to the drawn size

        def end_word() -> None:
            nonlocal chars, box, bold
            if chars:  # a word's length counts characters, not UTF-16 halves
                text = whole_pairs("".join(chars))
                words.append(Word(text, box[0], box[1], box[2], box[3], box[4], bold))
            chars, box, bold = [], [], False

        def end_line() -> None:
            nonlocal words, band
            end_word()
            if words:
                lines.append(Line(words, index + 1))
            words, band = [], []

        for j in range(n):
            ch = chr(pdfium_raw.FPDFText_GetUnicode(raw, j))
            if ch == "\x02":  # pdfium's mark for a hyphen that breaks a word at a line end
                ch = "-"
            if ch in "\r\n":
                if ch == "\n" or not pdfium_raw.FPDFText_IsGenerated(raw, j):
                    end_line()
                continue
            if ch.isspace() or ch in "\x00\ufffe\uffff\u200b":
                # pdfium adds spaces of its own where characters stand apart; between glyphs
                # that touch (CJK text) they are not word breaks: the gap decides below
                if pdfium_raw.FPDFText_IsGenerated(raw, j) and box:
                    spaced = True
                else:
                    end_word()
                continue
            pdfium_raw.FPDFText_GetCharBox(raw, j, *boxes)
            x0, x1 = left.value, right.value
            y0, y1 = height - top.value, height - bottom.value
            size = pdfium_raw.FPDFText_GetFontSize(raw, j)
            if size not in scales:  # the size as drawn: some PDFs scale a 1-point font up
                pdfium_raw.FPDFText_GetLooseCharBox(raw, j, ctypes.byref(loose))
                drawn = loose.top - loose.bottom
                scales[size] = drawn / size if size > 0 and not 0.5 < drawn / size < 2 else 1.0
            size = size * scales[size] or (y1 - y0)
            here_rtl = unicodedata.bidirectional(ch) in ("R", "AL")
            if band:
                # right-to-left text runs leftwards: its gap is from this character's right
                # end to the last one's left end
                gap = band[3] - x1 if here_rtl and rtl else x0 - band[2]
                same_line = y0 < band[1] and y1 > band[0]  # overlaps the line's band
                if not same_line or gap < -size:  # a jump back or to another line
                    end_line()
                elif gap > WORD_GAP_EM * size or (spaced and gap > 0.1 * size):
                    end_word()
            spaced, rtl = False, here_rtl
            band = [min(band[0], y0), max(band[1], y1), x1, x0] if band else [y0, y1, x1, x0]
            if not box:  # a word's first character tells its font
                pdfium_raw.FPDFText_GetFontInfo(raw, j, font, len(font), ctypes.byref(flags))
                bold = pdfium_raw.FPDFText_GetFontWeight(raw, j) >= 600 or bool(
                    _BOLD_FONT.search(font.value.decode("latin-1"))
                )
            if box:
                box = [box[0], max(box[1], x1), min(box[2], y0), max(box[3], y1), max(box[4], size)]
            else:
                box = [x0, x1, y0, y1, size]
            chars.append(ch)
        end_line()
        # single letters alone on a line: vertical margin stamps, drop caps, stray marks
        lines = [ln for ln in lines if len(ln.text.strip()) > 1 or ln.text.strip().isdigit()]
        return _join_cells(lines)
    finally:
        textpage.close()
        page.close()


def _join_cells(lines: list[Line]) -> list[Line]:
    """Consecutive lines on one baseline, each to the right of the last, as one line: pdfium ends a
    line at every cell of some tables."""
    out: list[Line] = []
    for ln in lines:
        prev = out[-1] if out else None
        if prev is not None and ln.x0 >= prev.words[-1].x1 - 1:
            overlap = min(prev.bottom, ln.bottom) - max(prev.top, ln.top)
            height = min(prev.bottom - prev.top, ln.bottom - ln.top)
            if height > 0 and overlap > 0.5 * height:
                out[-1] = Line(prev.words + ln.words, prev.page)
                continue
        out.append(ln)
    return out


def _norm(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _edge_lines(lines: Sequence[Line]) -> list[Line]:
    """The first and last two lines of a page by position: where running headers, footers and
    page numbers stand."""
    if len(lines) <= 4:
        return list(lines)
    by_top = sorted(lines, key=lambda ln: ln.top)
    return by_top[:2] + by_top[-2:]


def _running_lines(pages: Sequence[Sequence[Line]], body: float) -> set[str]:
    """Texts (digits as #) of edge lines found on at least 3 pages and a fifth of them: running
    headers and footers. A line set larger than the body text is a heading that each page
    happens to start with ("Section 1", "Section 2"), never a running line."""
    seen: Counter[str] = Counter()
    for lines in pages:
        seen.update({_norm(ln.text) for ln in _edge_lines(lines) if ln.size <= body * 1.12})
    floor = max(3, len(pages) // 5)
    return {k for k, n in seen.items() if n >= floor}


def _is_value(word: Word, size: float) -> bool:
    """A figure, a dash for none, or a currency sign; not a footnote mark set smaller ("(1)")."""
    text = word.text
    if word.size < 0.85 * size or (_FOOTNOTE.match(text) and not text[1:-1].isdigit()):
        return False  # a superscript or a footnote mark
    return bool(_VALUE.match(text)) or text in _CURRENCY


@dataclass
class _Row:
    line: Line
    label: list[Word]
    values: list[Word]  # figures, with "$" and "%" joined to them


def _as_row(line: Line) -> _Row | None:
    """The line as a table row when figures stand in columns after its label (or alone)."""
    words = line.words
    i = len(words)
    while i > 0 and _is_value(words[i - 1], line.size):
        i -= 1
    if i == len(words):
        return None
    label, tail = words[:i], words[i:]
    # figures that follow their words like prose ("... was $6.8 billion") are not a row, unless
    # the values themselves stand in columns
    prose = label and tail[0].x0 - label[-1].x1 < COLUMN_GAP_EM * max(line.size, 1.0)
    if prose and (len(tail) < 2 or not _spread(tail, line.size)):
        return None
    values: list[Word] = []
    pending: Word | None = None
    for w in tail:
        if w.text in _CURRENCY:
            pending = w
            continue
        if values and w.text in _TRAILING:
            last = values[-1]
            values[-1] = Word(
                last.text + w.text, last.x0, w.x1, last.top, last.bottom, last.size, False
            )
            continue
        text = (pending.text if pending else "") + w.text
        values.append(Word(text, w.x0, w.x1, w.top, w.bottom, w.size, w.bold))
        pending = None
    if not values or (all(_YEAR.match(v.text) for v in values) and (not label or _dateish(label))):
        return None  # "2022 2021", "December 31, 2022": a header line over the columns
    if len(values) == 1 and (not label or (len(values[0].text) <= 2 and len(label) > 6)):
        return None  # a lone number: a note mark, a page number, a figure in a sentence
    if len(label) > 30:
        return None  # prose
    return _Row(line, label, values)


_MONTHS = "january february march april may june july august september october november december"


def _dateish(words: Sequence[Word]) -> bool:
    return any(w.text.lower().strip(",.") in _MONTHS.split() for w in words)


def _spread(words: Sequence[Word], size: float) -> bool:
    return all(b.x0 - a.x1 >= COLUMN_GAP_EM * size for a, b in zip(words, words[1:], strict=False))


def _columns(rows: Sequence[_Row], size: float) -> list[tuple[float, float]]:
    """Column extents from the figures' right edges (figures are set flush right)."""
    edges = sorted((v.x1, v.x0) for r in rows for v in r.values)
    cols: list[list[float]] = []  # [x0, x1, last right edge]
    for x1, x0 in edges:
        if cols and x1 - cols[-1][2] <= 1.5 * size:
            cols[-1][0] = min(cols[-1][0], x0)
            cols[-1][1] = max(cols[-1][1], x1)
            cols[-1][2] = x1
        else:
            cols.append([x0, x1, x1])
    return [(c[0], c[1]) for c in cols]


def _column_of(word: Word, cols: Sequence[tuple[float, float]]) -> int:
    centre = (word.x0 + word.x1) / 2
    for j, (a, b) in enumerate(cols):
        if a - 2 <= word.x1 <= b + 2:
            return j
    return min(range(len(cols)), key=lambda j: abs(centre - (cols[j][0] + cols[j][1]) / 2))


def _header_cells(
    header: Sequence[Line], cols: Sequence[tuple[float, float]], label_left: float
) -> tuple[str, list[str]]:
    """Each column's header, from the header lines' segments, read from the line nearest the
    figures upward: a segment heads every column it stands over (a span: "Three Months Ended" over
    two periods), else the nearest one; what a column is headed by widens it for the lines above."""
    segs = sorted((s for ln in header for s in ln.segments()), key=lambda s: (s.top, s.x0))
    rows: list[list[Word]] = []
    for s in segs:
        if rows and abs(s.top - rows[-1][0].top) < 0.5 * s.size:
            rows[-1].append(s)
        else:
            rows.append([s])
    extents = [[a, b] for a, b in cols]
    parts: list[list[str]] = [[] for _ in cols]
    label: list[str] = []
    for row in reversed(rows):
        for s in row:
            if s.x0 <= label_left + s.size and s.x1 < cols[0][0]:  # the label column's header
                label.insert(0, s.text)
                continue
            over = [
                j for j, (a, b) in enumerate(extents) if s.x0 - s.size <= b and s.x1 + s.size >= a
            ]
            for j in over or [_column_of(s, cols)]:
                parts[j].insert(0, s.text)
                extents[j] = [min(extents[j][0], s.x0), max(extents[j][1], s.x1)]
    return " ".join(label), [" ".join(p) for p in parts]


def _table_block(header: Sequence[Line], rows: Sequence[_Row], page: int) -> Block:
    size = statistics.median(r.line.size for r in rows)
    value_rows = [r for r in rows if r.values]
    cols = _columns(value_rows, size)
    # a column with few figures, left of the others, holds figures of wrapped labels ("... of
    # $485 and" / "$633"): those go back to their label
    counts = Counter(_column_of(v, cols) for r in value_rows for v in r.values)
    sparse = 0
    while sparse < len(cols) - 1 and counts[sparse] < max(2, len(value_rows) // 4):
        sparse += 1
    if sparse:
        rows = [
            _Row(
                r.line,
                r.label + [v for v in r.values if _column_of(v, cols) < sparse],
                [v for v in r.values if _column_of(v, cols) >= sparse],
            )
            for r in rows
        ]
        cols = cols[sparse:]
    label_left = min(r.line.x0 for r in rows)
    label, cells = _header_cells(header, cols, label_left)
    out = [[label, *cells]]
    for r in rows:
        cells = [""] * len(cols)
        for v in r.values:
            j = _column_of(v, cols)
            cells[j] = f"{cells[j]} {v.text}".strip()
        out.append([" ".join(w.text for w in r.label), *cells])
    text = to_markdown(out)
    return Block(text, "table", page, spans=_row_spans(text, header, [r.line for r in rows]))


def _row_spans(text: str, header: Sequence[Line], rows: Sequence[Line]) -> tuple[Span, ...]:
    """Each Markdown row's characters with the box of the line(s) it came from: the header row
    with the header lines, then one row per body line (an empty header row is left out of the
    Markdown, and the first body row heads the table instead)."""
    lines = text.split("\n")
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln) + 1)
    sources: list[Sequence[Line]] = [header] if len(lines) == len(rows) + 2 else []
    sources += [[r] for r in rows]
    if len(sources) != len(lines) - 1:  # rows dropped as empty: the whole table for every row
        whole = [*header, *rows]
        return tuple(ln.box_span(0, len(text)) for ln in whole)
    out: list[Span] = []
    for k, src in enumerate(sources):
        row = k if k == 0 else k + 1  # Markdown line 1 is the "|---|" rule
        for ln in src:
            out.append(ln.box_span(starts[row], starts[row] + len(lines[row])))
    return tuple(out)


def _is_label_line(line: Line) -> bool:
    """A line inside a table without figures: a section label ("Operating expenses:")."""
    text = line.text
    return len(text.split()) <= 12 and not text.endswith(".")


def _over_columns(line: Line, first_col: float, label_left: float) -> bool:
    """Whether ``line`` stands over a table's figure columns (a header: periods, dates)."""
    return line.x0 >= max(label_left + 4 * line.size, first_col - 6 * line.size) and len(
        line.words
    ) <= 8 * len(line.segments())


def _column_heads(line: Line, first_col: float) -> bool:
    """A line of short column names: one over the labels, the rest over the figures."""
    segs = line.segments()
    return (
        len(segs) >= 2
        and all(len(s.text.split()) <= 4 for s in segs)
        and all(s.x1 >= first_col - 6 * s.size for s in segs[1:])
    )


def _tables(lines: Sequence[Line]) -> list[tuple[int, int, Block]]:
    """(first line, end line, table block) for each table among a page's lines."""
    rows = [_as_row(ln) for ln in lines]
    found: list[tuple[int, int, Block]] = []
    i = 0
    while i < len(lines):
        if rows[i] is None:
            i += 1
            continue
        # a run of rows, with label lines between them
        j, last_row, count = i, i, 0
        while j < len(lines):
            if rows[j] is not None:
                last_row, count = j, count + 1
            elif not _is_label_line(lines[j]) or j - last_row > 2:
                break
            j += 1
        end = last_row + 1
        if count < 2:
            i = end
            continue
        first_col = min(v.x0 for r in rows[i:end] if r is not None for v in r.values)
        # section labels just above the first row ("Net sales:", "Assets") are rows of the table:
        # those ending in a colon, or short ones between the header and the first row
        k = i
        while (
            k > 0
            and i - k < 3
            and rows[k - 1] is None
            and lines[k - 1].page == lines[i].page
            and lines[k - 1].x0 < first_col - 3 * lines[k - 1].size
            and _is_label_line(lines[k - 1])
            and len(lines[k - 1].words) <= 8
        ):
            k -= 1
            if lines[k].text.rstrip().endswith(":") or (
                k > 0 and _over_columns(lines[k - 1], first_col, lines[i].x0)
            ):
                i = k
        start = i
        # header lines above: set over the figures' columns (periods, dates), a few at most
        label_left = min(r.line.x0 for r in rows[i:end] if r is not None)
        if start > 0 and rows[start - 1] is None and _column_heads(lines[start - 1], first_col):
            start -= 1  # "City  Bridges  Rivers": a header row that names the label column too
        while (
            start > 0
            and i - start < 24
            and rows[start - 1] is None
            and lines[start - 1].page == lines[start].page
            and _over_columns(lines[start - 1], first_col, label_left)
        ):
            start -= 1
        body = [
            rows[k] if rows[k] is not None else _Row(lines[k], lines[k].words, [])
            for k in range(i, end)
        ]
        found.append((start, end, _table_block(lines[start:i], body, lines[i].page)))
        i = end
    return found


def _body_style(pages: Sequence[Sequence[Line]]) -> tuple[float, bool]:
    """The most common font size (by characters) and whether body text is bold."""
    sizes: Counter[float] = Counter()
    bold: Counter[bool] = Counter()
    for lines in pages:
        for ln in lines:
            for w in ln.words:
                sizes[round(w.size * 2) / 2] += len(w.text)
                bold[w.bold] += len(w.text)
    if not sizes:
        return 10.0, False
    return sizes.most_common(1)[0][0], bold.most_common(1)[0][0]


def _heading_depths(pages: Sequence[Sequence[Line]], body: float) -> dict[float, int]:
    """Depth by size for sizes above the body's: the largest is depth 0."""
    bigger = sorted(
        {round(ln.size * 2) / 2 for lines in pages for ln in lines if ln.size > body * 1.12},
        reverse=True,
    )
    return {s: d for d, s in enumerate(bigger[:4])}


def _is_title(line: Line, body: float, body_bold: bool) -> bool:
    text = line.text
    words = text.split()
    digits = sum(ch.isdigit() for ch in text)
    if (
        len(words) > 16
        or text.endswith((",", ";"))
        or (text.endswith(".") and len(words) > 3)
        or not (text[0].isupper() or text[0].isdigit())
        or digits > 0.2 * len(text)  # "Delaware 91-1646860": a cover page field, not a heading
        or text.count("(") != text.count(")")  # a fragment of a longer line
    ):
        return False
    return line.size > body * 1.12 or (line.bold and not body_bold)


def _paragraphs(
    lines: Sequence[Line], body: float, body_bold: bool, depths: dict[float, int]
) -> list[Block]:
    """Blocks of the lines that are not tables: titles, list items and joined paragraphs."""
    blocks: list[Block] = []
    current: list[Line] = []
    last: Line | None = None

    def flush() -> None:
        if not current:
            return
        text = ""
        spans: list[Span] = []
        for ln in current:
            t = ln.text
            if text.endswith("-") and t[:1].islower():
                text = text[:-1] + t
                spans += ln.spans(len(text) - len(t))
            else:
                text = f"{text} {t}" if text else t
                spans += ln.spans(len(text) - len(t))
        first = current[0]
        if not text.strip():
            current.clear()
            return
        kind = "text"
        if _BULLET.match(first.words[0].text) and len(first.words) > 1:
            kind = "list"
            rest = text[len(first.words[0].text) :]
            shift = len(first.words[0].text) + len(rest) - len(rest.lstrip())
            text = rest.strip()
            spans = [
                (a - shift, b - shift, pg, x0, y0, x1, y1)
                for a, b, pg, x0, y0, x1, y1 in spans
                if a >= shift
            ]
        blocks.append(Block(text, kind, first.page, spans=tuple(spans)))
        current.clear()

    for ln in lines:
        if _is_title(ln, body, body_bold):
            flush()
            depth = depths.get(round(ln.size * 2) / 2, len(depths))
            prev = blocks[-1] if blocks else None
            if (
                prev is not None
                and prev.kind == "title"
                and prev.depth == depth
                and last is not None
                and _close(last, ln)
            ):  # a title set on two lines
                spans = prev.spans + tuple(ln.spans(len(prev.text) + 1))
                blocks[-1] = Block(f"{prev.text} {ln.text}", "title", prev.page, depth, spans)
            else:
                blocks.append(Block(ln.text, "title", ln.page, depth, tuple(ln.spans(0))))
        else:
            if current and (
                _BULLET.match(ln.words[0].text) is not None
                or not _close(current[-1], ln)
                or abs(current[-1].size - ln.size) > 0.6
            ):
                flush()
            current.append(ln)
        last = ln
    flush()
    return blocks


def _close(a: Line, b: Line) -> bool:
    """Whether ``b`` continues ``a``'s paragraph: the next line down, at most ~0.7 of a line apart."""
    if a.page != b.page:
        return False
    same_band = b.top < a.bottom and b.bottom > a.top
    return same_band or -1 <= b.top - a.bottom < 0.7 * max(a.size, b.size)


def read(path: Path, ruled: Callable[[list[int]], Sequence[PdfTable]] | None = None) -> PdfText:
    """The text layer of the PDF at ``path`` as blocks in reading order.

    :param ruled: finds ruled tables on the given pages (1-based); asked only for pages with text
        where no table set by whitespace was found; each table found replaces the lines it covers.
    """
    count, pages = read_lines(path)
    running = _running_lines(pages, _body_style(pages)[0])
    kept: list[list[Line]] = []
    for lines in pages:
        edges = {id(ln) for ln in _edge_lines(lines)}
        kept.append(
            [
                ln
                for ln in lines
                if (
                    id(ln) not in edges
                    or not (_norm(ln.text) in running or _PAGE_NUMBER.match(ln.text.strip()))
                )
                and not (_MARKS.match(ln.text) and not _as_row(ln))
            ]
        )
    body, body_bold = _body_style(kept)
    depths = _heading_depths(kept, body)
    found = {n: _tables(lines) for n, lines in enumerate(kept, 1) if lines}
    if ruled is not None:
        for t in ruled([n for n, tables in found.items() if not tables]):
            lines = kept[t.page - 1]
            covered = [
                k
                for k, ln in enumerate(lines)
                if inside([(ln.x0, ln.top), (ln.words[-1].x1, ln.bottom)], t.bbox)
            ]
            if covered:
                md = to_markdown(t.rows)
                x0, top, x1, bottom = t.bbox
                block = Block(
                    md, "table", t.page, spans=((0, len(md), t.page, x0, top, x1, bottom),)
                )
                found[t.page].append((covered[0], covered[-1] + 1, block))
    out = PdfText(count)
    for number, lines in enumerate(kept, 1):
        if not pages[number - 1]:
            out.empty_pages.append(number)
            continue
        pos = 0
        for start, end, table in sorted(found.get(number, []), key=lambda t: t[0]):
            if start < pos:  # overlaps a table already placed
                continue
            out.blocks += _paragraphs(lines[pos:start], body, body_bold, depths)
            out.blocks.append(table)
            pos = end
        out.blocks += _paragraphs(lines[pos:], body, body_bold, depths)
    return out
