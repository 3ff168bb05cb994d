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


_WORD = re.compile(r"[a-z0-9]+")
# A sentence ends at . ! ? followed by whitespace or the end (so "$3.4" is not an end), or a newline.
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "by",
        "for",
        "with",
        "as",
        "at",
        "it",
        "its",
        "this",
        "that",
        "from",
        "what",
        "which",
        "who",
        "how",
    ]
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def attach_missing(
    answer: str, passages: Sequence[ScoredChunk], min_overlap: float = 0.6
) -> tuple[str, list[int]]:
    """Give a marker to each sentence that has none but whose words come from one passage.

    Small models often answer correctly without markers; a sentence whose content words are mostly
    in passage n gets [n] (returned as inferred). Sentences that match no passage stay unmarked.
    """
    if not passages:
        return answer, []
    vocab = [_words(p.text) for p in passages]
    ends = [m.end() for m in _SENTENCE_END.finditer(answer)]
    if not ends or ends[-1] < len(answer):
        ends.append(len(answer))
    out, inferred, pos = [], [], 0
    for end in ends:
        sentence = answer[pos:end]
        out.append(sentence)
        pos = end
        words = _words(sentence)
        if _MARKER.search(sentence) or len(words) < 2:
            continue
        scores = [len(words & v) / len(words) for v in vocab]
        best = max(range(len(scores)), key=scores.__getitem__)
        if scores[best] >= min_overlap:
            stripped = out[-1].rstrip()
            stop = stripped[-1] if stripped and stripped[-1] in ".!?" else ""
            body = stripped[:-1] if stop else stripped
            out[-1] = f"{body} [{best + 1}]{stop}" + out[-1][len(stripped) :]
            inferred.append(best + 1)
    return "".join(out), inferred


def strip_invalid(answer: str, invalid: Sequence[int]) -> str:
    """Remove markers that cite no passage, so the reader never sees a dangling [n]."""
    if not invalid:
        return answer
    bad = set(invalid)

    def fix(m: re.Match[str]) -> str:
        keep = [p.strip() for p in m.group(1).split(",") if int(p) not in bad]
        return f"[{', '.join(keep)}]" if keep else ""

    return _MARKER.sub(fix, answer)
