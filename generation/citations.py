"""Citation markers: find [n] (also [n, m] and [n][m]) in an answer and map them to passages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.types import ScoredChunk

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass(frozen=True)
class Citation:
    number: int  # the [n] in the answer
    document_id: str
    document_name: str
    page: int | None
    passage: str
    chunk_id: int


def cited_numbers(answer: str) -> list[int]:
    """Distinct marker numbers in order of first appearance."""
    seen: list[int] = []
    for m in _MARKER.finditer(answer):
        for part in m.group(1).split(","):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def resolve(answer: str, passages: Sequence[ScoredChunk]) -> tuple[list[Citation], list[int]]:
    """Citations for markers that point at a passage, and the numbers that point at none."""
    good, bad = [], []
    for n in cited_numbers(answer):
        if 1 <= n <= len(passages):
            p = passages[n - 1]
            good.append(Citation(n, p.document_id, p.document_name, p.page, p.text, p.chunk_id))
        else:
            bad.append(n)
    return good, bad


def strip_invalid(answer: str, invalid: Sequence[int]) -> str:
    """Remove markers that cite no passage, so the reader never sees a dangling [n]."""
    if not invalid:
        return answer
    bad = set(invalid)

    def fix(m: re.Match[str]) -> str:
        keep = [p.strip() for p in m.group(1).split(",") if int(p) not in bad]
        return f"[{', '.join(keep)}]" if keep else ""

    return _MARKER.sub(fix, answer)
