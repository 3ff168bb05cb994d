"""Chunk by title under a token budget: a title starts a section; sections are packed into chunks of
at most ``max_tokens``, split at sentence boundaries, with a few sentences of overlap. A table is a
chunk of its own; one too long for a chunk is split by rows, its header repeated in each piece."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.tables import is_markdown_table, split_rows
from ingest.types import Block, ChunkDraft

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)")
BLOCK_SEP = "\n\n"


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


def chunk_blocks(
    blocks: Sequence[Block],
    count_tokens: Callable[[str], int],
    max_tokens: int = 256,
    overlap_tokens: int = 32,
) -> list[ChunkDraft]:
    """Chunk ``blocks``; spans refer to :func:`document_text` of the same blocks."""
    units: list[_Unit] = []
    headings: list[str] = []
    section = 0
    offset = 0
    for block in blocks:
        text = block.text
        if not text.strip():
            offset += len(text) + len(BLOCK_SEP)
            continue
        if block.kind == "title":
            depth = max(0, block.depth)
            headings = headings[:depth] + [text.strip()]
            section += 1
        heading = " > ".join(headings) or None
        # pieces of the block as (text, start, end), positions relative to the block
        tokens = count_tokens(text)
        if tokens <= max_tokens:
            pieces = [(text, 0, len(text))]
        elif block.kind == "code":  # at line ends, never inside a line where a line fits
            pieces = [(text[a:b], a, b) for a, b in _split_lines(text, max_tokens, count_tokens)]
        elif block.kind == "table" and is_markdown_table(text):  # by rows, header repeated
            pieces = split_rows(text, max_tokens, count_tokens)
        else:  # at sentence ends; an over-long sentence at words
            pieces = []
            for a, b in split_sentences(text):
                sent = text[a:b]
                if count_tokens(sent) <= max_tokens:
                    pieces.append((sent, a, b))
                else:
                    pieces += _split_words(sent, a, max_tokens, count_tokens)
        for piece, ps, pe in pieces:
            units.append(
                _Unit(
                    piece,
                    offset + ps,
                    offset + pe,
                    block.page,
                    heading,
                    block.kind,
                    section,
                    tokens if piece is text else count_tokens(piece),
                )
            )
        offset += len(text) + len(BLOCK_SEP)

    chunks: list[ChunkDraft] = []
    current: list[_Unit] = []

    def flush() -> None:
        if not current:
            return
        body = current
        first = body[0]
        kinds = {u.kind for u in body}
        chunks.append(
            ChunkDraft(
                ordinal=len(chunks),
                text="\n".join(u.text for u in body),
                page=first.page,
                heading=body[-1].heading,
                element_type=kinds.pop() if len(kinds) == 1 else "mixed",
                char_start=first.start,
                char_end=body[-1].end,
            )
        )

    used = 0
    for unit in units:
        new_section = bool(current) and unit.section != current[-1].section
        # a table is a chunk of its own (or a few, split by rows): never packed with prose
        # (its section's title may lead it)
        table_edge = bool(current) and (
            current[-1].kind == "table"
            or (unit.kind == "table" and any(u.kind != "title" for u in current))
        )
        if current and (new_section or table_edge or used + unit.tokens > max_tokens):
            flush()
            carry: list[_Unit] = []
            if not new_section and not table_edge and overlap_tokens > 0:
                budget = overlap_tokens
                for prev in reversed(current):
                    if prev.tokens > budget or prev.kind == "title":
                        break
                    carry.insert(0, prev)
                    budget -= prev.tokens
                if sum(u.tokens for u in carry) + unit.tokens > max_tokens:
                    carry = []
            current = carry
            used = sum(u.tokens for u in carry)
        current.append(unit)
        used += unit.tokens
    flush()
    return chunks
