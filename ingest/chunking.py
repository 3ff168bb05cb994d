"""Chunks with a floor and a shape, under a token budget.

Blocks become units (a block, or its sentences when it does not fit a chunk); units are packed in
order up to ``max_tokens``. A section boundary (a title) closes a chunk only when the chunk already
holds ``min_tokens``: consecutive small sections pack together, so a run of short elements (a
statement's row labels, a signature block, cover-page fields) makes one chunk, not one each. A
heading never ends a chunk: it opens the chunk of what follows it (with the first sentences of a
paragraph it cannot fit beside; a long table's pieces carry it in their heading path instead; only
the document's first heading may stand alone). A short "title" that is really a
table row, a list item or a caption is treated as what it is. Every chunk carries the heading path
where it starts, and the first and last page it covers. A table that fits the rest of a chunk packs
with its neighbours (with its caption); one too long for a chunk is split by rows, its header
repeated in each piece, each piece a chunk of its own."""

from __future__ import annotations

import bisect
import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.tables import is_markdown_table, split_rows
from ingest.types import Block, ChunkDraft, PageBoxes, Span

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)")
BLOCK_SEP = "\n\n"
# Levels of the heading path a chunk carries (the top one and the nearest ones).
MAX_HEADING_LEVELS = 3
# A title longer than this many words is a paragraph that the parser took for a title (papers'
# titles run to 20-30).
MAX_TITLE_WORDS = 40
_BULLET = re.compile(r"^\s*(?:[•●◦▪■\-–—*]|\(?[a-z0-9]{1,3}[.)])\s+\S", re.IGNORECASE)
_NUMERIC = re.compile(r"[\d$€£%(),.\-–—\s]+")
_FIGURE = re.compile(r"\d")


@dataclass
class _Unit:
    text: str
    start: int
    end: int
    page: int | None
    heading: str | None
    kind: str
    section: int
    tokens: int
    table_piece: bool = False  # one of several pieces of a table split by rows
    # the boxes of its words or rows (characters counted in its block's text, which starts at
    # ``base`` in the document's)
    spans: tuple[Span, ...] = ()
    base: int = 0


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (whitespace between them excluded)."""
    spans, pos = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _split_words(text: str, start: int, max_tokens: int, count: Callable[[str], int]):
    """Split an over-long sentence at word boundaries: the last resort."""
    words = list(re.finditer(r"\S+", text))
    i = 0
    while i < len(words):
        j = i + 1
        while j < len(words) and count(text[words[i].start() : words[j].end()]) <= max_tokens:
            j += 1
        a, b = words[i].start(), words[j - 1].end()
        yield text[a:b], start + a, start + b
        i = j


def _split_lines(text: str, max_tokens: int, count: Callable[[str], int]) -> list[tuple[int, int]]:
    """Spans of ``text`` packed from whole lines under ``max_tokens`` (a line too long alone is
    split at words)."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    end = pos = 0
    for line in text.split("\n"):
        a, b = pos, pos + len(line)
        pos = b + 1
        if not line.strip():
            continue
        if count(line) > max_tokens:
            if start is not None:
                spans.append((start, end))
                start = None
            spans += [(s, e) for _, s, e in _split_words(line, a, max_tokens, count)]
            continue
        if start is not None and count(text[start:b]) > max_tokens:
            spans.append((start, end))
            start = None
        if start is None:
            start = a
        end = b
    if start is not None:
        spans.append((start, end))
    return spans


def document_text(blocks: Sequence[Block]) -> str:
    """The text that chunk character spans point into."""
    return BLOCK_SEP.join(b.text for b in blocks)


def heading_path(headings: Sequence[str]) -> str | None:
    """The context a chunk carries: the document's top heading and the two nearest its text
    (deeper paths drop the middle: cover-page lines and far ancestors only dilute the vector)."""
    kept = list(headings)
    if len(kept) > MAX_HEADING_LEVELS:
        kept = [kept[0], *kept[-(MAX_HEADING_LEVELS - 1) :]]
    return " > ".join(kept) or None


def is_figures(text: str) -> bool:
    """Text made of numbers only (amounts, percentages, dashes): a table's values, not words."""
    return bool(_FIGURE.search(text)) and _NUMERIC.fullmatch(text.strip()) is not None


def true_kind(block: Block, following: Block | None) -> str:
    """What a block really is. Parsers call every short line a title; a "title" that is mostly
    figures, or followed by nothing but figures (a row label and its values), is a table row; one
    that starts with a bullet or a list number is a list item; a long one, or one ending in a
    colon or a comma, is text."""
    if block.kind != "title":
        return block.kind
    text = block.text.strip()
    if is_figures(text) or (following is not None and is_figures(following.text)):
        return "text"
    if _BULLET.match(text) and not re.match(r"^\s*\d+\.\s+[A-Z]", text):
        return "list"
    if len(text.split()) > MAX_TITLE_WORDS or text.endswith((":", ";", ",")):
        return "text"  # a paragraph, or a label that introduces what follows
    return "title"  # a title may end with a period (papers' titles do)


def _units(
    blocks: Sequence[Block], count_tokens: Callable[[str], int], max_tokens: int
) -> list[_Unit]:
    """Blocks as units in order, each no longer than ``max_tokens``."""
    units: list[_Unit] = []
    headings: list[str] = []
    section = 0
    offset = 0
    live = [b for b in blocks if b.text.strip()]
    following = dict(zip(map(id, live), [*live[1:], None], strict=False))
    for block in blocks:
        text = block.text
        if not text.strip():
            offset += len(text) + len(BLOCK_SEP)
            continue
        kind = true_kind(block, following[id(block)])
        if kind == "title":
            depth = max(0, block.depth)
            headings = headings[:depth] + [text.strip()]
            section += 1
        heading = heading_path(headings)
        # pieces of the block as (text, start, end), positions relative to the block
        tokens = count_tokens(text)
        split_table = False
        if tokens <= max_tokens:
            pieces = [(text, 0, len(text))]
        elif kind == "code":  # at line ends, never inside a line where a line fits
            pieces = [(text[a:b], a, b) for a, b in _split_lines(text, max_tokens, count_tokens)]
        elif kind == "table" and is_markdown_table(text):  # by rows, header repeated
            pieces = split_rows(text, max_tokens, count_tokens)
            split_table = len(pieces) > 1
        else:  # at sentence ends; an over-long sentence at words
            pieces = []
            for a, b in split_sentences(text):
                sent = text[a:b]
                if count_tokens(sent) <= max_tokens:
                    pieces.append((sent, a, b))
                else:
                    pieces += _split_words(sent, a, max_tokens, count_tokens)
        # a table's pieces repeat its header row: its boxes go with each
        head = text.find("\n", text.find("\n") + 1) if split_table else 0
        # spans run in the text's order: each piece's are found by bisection
        starts = [sp[0] for sp in block.spans]
        ends = [sp[1] for sp in block.spans]
        header = block.spans[: bisect.bisect_left(starts, head)] if head > 0 else ()
        for piece, ps, pe in pieces:
            first = max(bisect.bisect_right(ends, ps), len(header))
            spans = header + block.spans[first : bisect.bisect_left(starts, pe)]
            units.append(
                _Unit(
                    piece,
                    offset + ps,
                    offset + pe,
                    block.page,
                    heading,
                    kind,
                    section,
                    tokens if piece is text else count_tokens(piece),
                    split_table,
                    spans,
                    offset,
                )
            )
        offset += len(text) + len(BLOCK_SEP)
    return units


def chunk_blocks(
    blocks: Sequence[Block],
    count_tokens: Callable[[str], int],
    max_tokens: int = 256,
    overlap_tokens: int = 32,
    min_tokens: int | None = None,
) -> list[ChunkDraft]:
    """Chunk ``blocks``; spans refer to :func:`document_text` of the same blocks.

    :param min_tokens: the floor: a new section closes a chunk only past this many tokens
        (default: half the budget).
    """
    floor = max_tokens // 2 if min_tokens is None else min_tokens
    units = _units(blocks, count_tokens, max_tokens)
    bodies: list[list[_Unit]] = []

    def flush(body: list[_Unit]) -> None:
        if body:
            bodies.append(list(body))

    current: list[_Unit] = []
    used = 0
    for unit in units:
        if current:
            new_section = unit.section != current[-1].section
            # a piece of a long table stands alone with its header (a caption may lead it)
            table_edge = current[-1].table_piece or (
                unit.table_piece and any(u.kind != "title" for u in current)
            )
            over = used + unit.tokens > max_tokens
            if table_edge or over or (new_section and used >= floor):
                # trailing headings (and a caption before a long table) open the next chunk
                lead: list[_Unit] = []
                while current and (
                    current[-1].kind == "title"
                    or (
                        unit.kind == "table"
                        and not lead
                        and current[-1].kind not in ("table", "code")
                        and current[-1].tokens < 32
                    )
                ):
                    lead.insert(0, current.pop())
                flush(current)
                carry: list[_Unit] = []
                if not lead and not new_section and not table_edge and overlap_tokens > 0:
                    budget = overlap_tokens
                    for prev in reversed(current):
                        if prev.tokens > budget or prev.kind in ("title", "table"):
                            break
                        carry.insert(0, prev)
                        budget -= prev.tokens
                current = lead + carry
                lead_tokens = sum(u.tokens for u in current)
                if current and lead_tokens + unit.tokens > max_tokens:
                    # a heading (or a caption) that does not fit beside what follows: the title
                    # of a long table is in the heading path of every piece of it already; a
                    # section heading takes the first sentences of its text with it; the
                    # document's own title stays a chunk of its own (measured: SciFact's paper
                    # titles, kept alone beside a long abstract, are worth 0.005 nDCG@10 dense)
                    if unit.table_piece and _in_path(lead, unit.heading):
                        pass  # dropped: every piece of the table carries it
                    elif (
                        lead
                        and lead[0] is not units[0]
                        and (
                            first := _first_sentences(unit, max_tokens - lead_tokens, count_tokens)
                        )
                    ):
                        flush(lead + [first[0]])
                        unit = first[1]
                    else:
                        flush(lead)
                    current = []
                used = sum(u.tokens for u in current)
        current.append(unit)
        used += unit.tokens
    flush(current)
    merged = _merge_small(bodies, floor, max_tokens)
    return [_draft(i, body) for i, body in enumerate(merged)]


def _first_sentences(
    unit: _Unit, budget: int, count: Callable[[str], int]
) -> tuple[_Unit, _Unit] | None:
    """``unit`` (text or a list item) cut after the most whole sentences that fit ``budget``
    tokens: (those, the rest); None where not even one fits, or all of it would."""
    if unit.kind not in ("text", "list") or budget <= 0:
        return None
    spans = split_sentences(unit.text)
    cut = None
    for i, (_a, b) in enumerate(spans[:-1]):
        if count(unit.text[:b]) > budget:
            break
        cut = i
    if cut is None:
        return None
    end = spans[cut][1]
    rest_start = spans[cut + 1][0]
    head_text, rest_text = unit.text[:end], unit.text[rest_start:]
    cut_at, rest_at = unit.start + end, unit.start + rest_start
    return (
        dataclasses.replace(
            unit,
            text=head_text,
            end=cut_at,
            tokens=count(head_text),
            spans=tuple(sp for sp in unit.spans if sp[0] < cut_at - unit.base),
        ),
        dataclasses.replace(
            unit,
            text=rest_text,
            start=rest_at,
            tokens=count(rest_text),
            spans=tuple(sp for sp in unit.spans if sp[1] > rest_at - unit.base),
        ),
    )


def _in_path(lead: Sequence[_Unit], heading: str | None) -> bool:
    """Every unit of ``lead`` is a heading named in the heading path ``heading``."""
    return heading is not None and all(
        u.kind == "title" and u.text.strip() in heading for u in lead
    )


def _tokens(body: Sequence[_Unit]) -> int:
    return sum(u.tokens for u in body)


def _merge_small(bodies: list[list[_Unit]], floor: int, max_tokens: int) -> list[list[_Unit]]:
    """A chunk under the floor (a short last section, a short text between two tables) joins its
    neighbour when both fit the budget; pieces of a long table stay as they are, and so does a
    chunk that repeats its neighbour's last sentences (overlap)."""
    out: list[list[_Unit]] = []
    for body in bodies:
        prev = out[-1] if out else None
        if (
            prev is not None
            and (_tokens(body) < floor or _tokens(prev) < floor)
            and _tokens(prev) + _tokens(body) <= max_tokens
            and not any(u.table_piece for u in prev + body)
            and not any(u is v for u in body for v in prev)
        ):
            prev += body
        else:
            out.append(body)
    return out


def _draft(ordinal: int, body: Sequence[_Unit]) -> ChunkDraft:
    kinds = {u.kind for u in body if u.kind != "title"} or {"title"}
    pages = [u.page for u in body if u.page is not None]
    marks: list[tuple[int, int]] = []
    offset = 0
    for u in body:
        if u.page is not None and u.page != (marks[-1][1] if marks else pages[0]):
            marks.append((offset, u.page))
        offset += len(u.text) + 1  # units are joined by newlines
    return ChunkDraft(
        ordinal=ordinal,
        text="\n".join(u.text for u in body),
        page=pages[0] if pages else None,
        # the context of the chunk's text (headings that open it are in its text already)
        heading=next((u.heading for u in body if u.kind != "title"), body[0].heading),
        element_type=kinds.pop() if len(kinds) == 1 else "mixed",
        char_start=body[0].start,
        char_end=body[-1].end,
        page_end=max(pages) if pages else None,
        page_marks=tuple(marks),
        boxes=page_boxes(body),
    )


# Lines whose left (and right) edges agree within this many points stack into one box.
EDGE_SLACK = 2.0


def page_boxes(body: Sequence[_Unit]) -> PageBoxes:
    """The boxes of ``body``'s words or rows merged into lines, and lines that stack (one column,
    one left and right edge, a line apart) into one box, per page, in whole points."""
    rects: dict[int, list[list[float]]] = {}  # page -> lines [x0, top, x1, bottom, table]
    last: dict[int, list[float]] = {}
    # one pass over every word of the chunk: comparisons inline (this runs for every word ingested)
    for u in body:
        table = 1.0 if u.kind == "table" else 0.0
        for _a, _b, page, x0, top, x1, bottom in u.spans:
            line = last.get(page)
            if line is not None and x0 >= line[2] - 1:  # right of the line: on its band?
                lt, lb = line[1], line[3]
                height = bottom - top if bottom - top < lb - lt else lb - lt
                overlap = (lb if lb < bottom else bottom) - (lt if lt > top else top)
                if height > 0 and overlap > 0.5 * height:
                    line[2] = x1
                    if top < lt:
                        line[1] = top
                    if bottom > lb:
                        line[3] = bottom
                    if not table:
                        line[4] = 0.0
                    continue
            line = [x0, top, x1, bottom, table]
            rects.setdefault(page, []).append(line)
            last[page] = line
    out: PageBoxes = {}
    for page, lines in rects.items():
        stacked: list[list[float]] = []
        for i, ln in enumerate(lines):
            if stacked and _stacks(stacked[-1], ln, i == len(lines) - 1):
                r = stacked[-1]
                r[0], r[1] = min(r[0], ln[0]), min(r[1], ln[1])
                r[2], r[3] = max(r[2], ln[2]), max(r[3], ln[3])
            else:
                stacked.append(ln)
        out[page] = [
            (math.floor(r[0]), math.floor(r[1]), math.ceil(r[2]), math.ceil(r[3])) for r in stacked
        ]
    return out


def _stacks(r: list[float], ln: list[float], last: bool) -> bool:
    """Whether line ``ln`` goes into box ``r``: just below it with the same left edge (a table's
    rows: an indented label too). What a box covers right of a line shorter than the box is blank
    (a paragraph's last line, a row with fewer figures), except right of a chunk's ``last`` line on
    the page, which may end mid-line where the next chunk starts: that one keeps to the box's right
    edge or stands alone."""
    height = ln[3] - ln[1]
    below = r[3] - 0.5 * height <= ln[1] <= r[3] + height
    if not below:
        return False
    if r[4] and ln[4]:
        return ln[0] >= r[0] - EDGE_SLACK
    return abs(ln[0] - r[0]) <= EDGE_SLACK and (not last or abs(ln[2] - r[2]) <= EDGE_SLACK)
