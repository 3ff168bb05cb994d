"""Citation markers: find [n] (also [n, m] and [n][m]) in an answer and map them to passages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from retrieval.types import ScoredChunk

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
# the share of a sentence's content words a cited passage must hold for the claim to be supported
SUPPORT = 0.5
# a figure as a sentence states it: three digits or more, or with a thousands comma or decimals
_FIGURE = re.compile(
    r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d])|(?<![\d.,])\d+\.\d+(?![\d])|(?<![\d.,])\d{3,}(?![\d])"
)


@dataclass(frozen=True)
class Citation:
    number: int  # the [n] in the answer
    document_id: str
    document_name: str
    page: int | None
    passage: str
    chunk_id: int
    # the passage sentence that best matches the answer sentences citing it: passage[start:end]
    span: tuple[int, int] | None = None
    # share of the citing sentences' content words found in the passage (0..1)
    support: float = 0.0
    supported: bool = False
    page_end: int | None = None  # the last page of the passage, when it spans pages
    # where each later page starts in ``passage``: (offset, page); a citation's ``page`` is that
    # of its supporting sentence once the claims are checked
    page_marks: tuple[tuple[int, int], ...] = ()
    origin: str | None = None  # where a synced document lives (a path, or a URL to link to)


@dataclass(frozen=True)
class Claim:
    """One sentence of the answer: answer[start:end], the passages it cites, and whether one of them
    holds most of its content words."""

    text: str
    start: int
    end: int
    cited: list[int]
    supported: bool


def without_markers(text: str) -> str:
    """``text`` with its [n] markers blanked out."""
    return _MARKER.sub(" ", text)


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
            good.append(
                Citation(
                    n,
                    p.document_id,
                    p.document_name,
                    p.page,
                    p.text,
                    p.chunk_id,
                    page_end=p.page_end,
                    page_marks=p.page_marks,
                    origin=p.origin,
                )
            )
        else:
            bad.append(n)
    return good, bad


WORD = re.compile(r"[a-z0-9]+")
# A sentence ends at . ! ? followed by whitespace or the end (so "$3.4" is not an end), or a newline.
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
STOP_WORDS = frozenset(
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


def content_words(text: str) -> set[str]:
    """Lower-case words of ``text`` but stop words."""
    return {w for w in WORD.findall(text.lower()) if w not in STOP_WORDS}


_words = content_words


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, surrounding whitespace left out; empty ones skipped."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if not ends or ends[-1] < len(text):
        ends.append(len(text))
    spans, pos = [], 0
    for end in ends:
        piece = text[pos:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if end - trail > pos + lead:
            spans.append((pos + lead, end - trail))
        pos = end
    return spans


def _overlap(claim: set[str], source: set[str]) -> float:
    return len(claim & source) / len(claim) if claim else 0.0


def page_at(page: int | None, marks: Sequence[tuple[int, int]], offset: int) -> int | None:
    """The page of the character at ``offset`` of a passage that starts on ``page`` and whose
    later pages start at ``marks`` (offset, page)."""
    for start, later in marks:
        if start > offset:
            break
        page = later
    return page


def check_claims(
    answer: str, citations: Sequence[Citation], min_support: float = SUPPORT
) -> tuple[list[Citation], list[Claim]]:
    """Check every answer sentence against the passages it cites.

    A claim is supported when one cited passage holds at least ``min_support`` of its content words
    (markers and stop words aside); a sentence without a marker, or with too few words to judge
    ("Yes [1]."), is supported only through its markers. Each citation gets the span of its
    passage's sentence that best matches the sentences citing it, and its best support score.
    """
    by_number = {c.number: c for c in citations}
    best: dict[int, tuple[float, tuple[int, int] | None, float]] = {}
    claims: list[Claim] = []
    for start, end in sentence_spans(answer):
        sentence = answer[start:end]
        cited = [n for n in cited_numbers(sentence) if n in by_number]
        words = _words(_MARKER.sub(" ", sentence))
        supported = False
        for n in cited:
            passage = by_number[n].passage
            whole = _overlap(words, _words(passage)) if len(words) >= 2 else 1.0
            spans = sentence_spans(passage) or [(0, len(passage))]
            scored = [(_overlap(words, _words(passage[a:b])), (a, b)) for a, b in spans]
            sent_score, span = max(scored, key=lambda x: x[0])
            supported = supported or whole >= min_support
            if n not in best or (whole, sent_score) > (best[n][0], best[n][2]):
                best[n] = (whole, span, sent_score)
        if words or cited:
            claims.append(Claim(sentence, start, end, cited, supported))
    checked = []
    for c in citations:
        whole, span, _ = best.get(c.number, (0.0, None, 0.0))
        # in a passage across pages, the citation names the page of its supporting sentence
        page = page_at(c.page, c.page_marks, span[0]) if span is not None else c.page
        checked.append(
            replace(
                c, span=span, support=round(whole, 3), supported=whole >= min_support, page=page
            )
        )
    return checked, claims


def _holding_figures(sentence: str, passages: Sequence[ScoredChunk]) -> list[int]:
    """The indexes of the passages that state every figure of ``sentence`` (none: it has none)."""
    found = [f for f in _FIGURE.findall(sentence) if not re.fullmatch(r"(?:19|20)\d\d", f)]
    if not found:
        return []
    return [
        i
        for i, p in enumerate(passages)
        if all(re.search(rf"(?<![\d.,]){re.escape(f)}(?![\d]|[.,]\d)", p.text) for f in found)
    ]


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
        # a marker right after the full stop ("... weekday. [1]") belongs to this sentence
        marked_after = _MARKER.match(answer, end + len(answer[end:]) - len(answer[end:].lstrip()))
        if _MARKER.search(sentence) or marked_after or len(words) < 2:
            continue
        scores = [len(words & v) / len(words) for v in vocab]
        best = max(range(len(scores)), key=scores.__getitem__)
        bar = min_overlap
        holding = _holding_figures(sentence, passages)
        if holding:
            # a figure of the sentence stands in these passages only: one of them is its source,
            # marked when it holds as many of the sentence's words as a citation needs to be
            # supported (``check_claims``)
            best = max(holding, key=scores.__getitem__)
            bar = min(min_overlap, SUPPORT)
        if scores[best] >= bar:
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


@dataclass(frozen=True)
class Evidence:
    """A sentence of a passage the model was given that bears on the question most."""

    number: int  # the passage's [n] in the prompt
    document_id: str
    document_name: str
    page: int | None
    sentence: str
    overlap: float  # share of the question's content words it holds
    origin: str | None = None


def closest_evidence(
    question: str, passages: Sequence[ScoredChunk], limit: int = 3, min_overlap: float = 0.25
) -> list[Evidence]:
    """The sentences of ``passages`` that hold the most of the question's content words (at least
    ``min_overlap`` of them), best first, at most one per passage: what to show when the model
    would not answer from passages that looked relevant."""
    asked = _words(question)
    if not asked:
        return []
    found: list[Evidence] = []
    for n, p in enumerate(passages, start=1):
        best: tuple[float, int, int] | None = None
        for start, end in sentence_spans(p.text):
            score = _overlap(asked, _words(p.text[start:end]))
            if score >= min_overlap and (best is None or score > best[0]):
                best = (score, start, end)
        if best is not None:
            score, start, end = best
            found.append(
                Evidence(
                    n,
                    p.document_id,
                    p.document_name,
                    page_at(p.page, p.page_marks, start),
                    p.text[start:end],
                    round(score, 3),
                    p.origin,
                )
            )
    found.sort(key=lambda e: -e.overlap)
    return found[:limit]


# Words of a question that say how it asks, not what it asks about.
_ASKING = (
    "many much does do did done when where why whom whose i me my you your we our us they "
    "their there can could would should will shall may might has have had any some about get "
    "give tell know find show please not no if than then so such also all each into between "
    "during after before over under above below per up out according says say said"
)
_ASKING_WORDS = frozenset(_ASKING.split())


def _stem(word: str) -> str:
    """A crude stem: "keeps"/"keep", "opened"/"open", "leaves"/"leave", "approved"/"approve" meet
    ("kept"/"keep" do not); then the first six letters."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word[:6]


def subject_words(question: str) -> set[str]:
    """The words of ``question`` that say what it asks about (single letters aside: the "s" of
    "Apple's", the "q" of "10-Q")."""
    return {w for w in content_words(question) - _ASKING_WORDS if len(w) > 1}


def uncovered(question: str, texts: Sequence[str]) -> set[str]:
    """The subject words of ``question`` that none of ``texts`` holds (by a crude stem): "pears"
    in "How many tonnes of pears does the store hold?" over a passage about its apples."""
    asked = subject_words(question)
    held = {_stem(w) for t in texts for w in content_words(t)}
    return {w for w in asked if _stem(w) not in held}


def evidence_text(evidence: Sequence[Evidence]) -> str:
    """The closest evidence as the answer shows it after a refusal."""
    lines = []
    for e in evidence:
        where = e.document_name + (f", page {e.page}" if e.page is not None else "")
        lines.append(f"- [{e.number}] “{e.sentence.strip()}” ({where})")
    return "\n".join(lines)
