"""The second look: after a refusal over passages that passed the relevance gate, the model is
asked in the same conversation to copy the line that comes closest to answering. What it copies
becomes the answer only when it holds what the question asks about and the kind of thing it asks
for; otherwise the refusal stands.

Measured on the packaged 0.5B model (``bench/answer_prompts.py --plain``): it refuses questions
whose answer sits in a one-sentence passage about as often as it answers them, and when asked to
look again it copies the passage it was given, numbered header and all. So the copy is cut to its
sentences that share words with the question, each marked with its passage, and checked here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from generation.citations import (
    attach_missing,
    check_claims,
    cited_numbers,
    content_words,
    resolve,
    sentence_spans,
    subject_words,
    uncovered,
    without_markers,
)
from retrieval.types import ScoredChunk

# a passage's header as the prompt numbers it, copied back by the model: "[2] (from a.pdf, page 3)"
_HEADER = re.compile(r"\[(\d+)\]\s*\(from [^)\n]*\)\s*")
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|billion|dozen|half|twice)\b",
    re.IGNORECASE,
)
_MONTH = re.compile(
    r"\b(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sept?(ember)?|"
    r"oct(ober)?|nov(ember)?|dec(ember)?)\b|\b(spring|summer|autumn|fall|"
    r"winter|quarter|year|daily|weekly|monthly|annually|night|morning|evening)\b",
    re.IGNORECASE,
)
_ASKS_NUMBER = re.compile(
    r"^\s*(how\s+(many|much|long|far|old|big|large|high|often|fast|heavy)|what\s+(percent|"
    r"percentage|share|proportion|amount|number|total))\b",
    re.IGNORECASE,
)
_ASKS_TIME = re.compile(r"^\s*(when|what\s+(year|date|time|day|month))\b", re.IGNORECASE)
_ASKS_PERSON = re.compile(r"^\s*(who|whom|whose)\b", re.IGNORECASE)
MAX_SENTENCES = 2
# A question with this many subject words may miss one in the quote (a long question words what
# it asks about in several ways: "debt and interest expense" against "contractual obligations");
# a shorter one may miss none ("pears" in a question about a passage on apples).
LONG_QUESTION = 8


def _gives_what_is_asked(question: str, answer: str) -> bool:
    """The answer holds the kind of thing the question asks for: a figure for "how many", a time
    for "when", a name for "who" (a capitalised word the question does not have)."""
    if _ASKS_NUMBER.search(question):
        return bool(_NUMBER.search(without_markers(answer)))
    if _ASKS_TIME.search(question):
        text = without_markers(answer)
        return bool(_NUMBER.search(text) or _MONTH.search(text))
    if _ASKS_PERSON.search(question):
        asked = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
        names = re.findall(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+", answer.strip())
        return any(n.lower() not in asked for n in names)
    return True


def accept(question: str, copied: str, passages: Sequence[ScoredChunk]) -> str | None:
    """The answer the second look gives, or None when the refusal should stand."""
    text = copied.strip()
    header = _HEADER.match(text)
    number = int(header.group(1)) if header else None
    text = _HEADER.sub("", text).strip()
    asked = content_words(question)
    spans = sentence_spans(text)
    scored = [
        (len(asked & content_words(text[a:b])), i, text[a:b].strip())
        for i, (a, b) in enumerate(spans)
    ]
    kept = sorted(
        sorted((s for s in scored if s[0] > 0), reverse=True)[:MAX_SENTENCES], key=lambda s: s[1]
    )
    if not kept:
        return None
    sentences = []
    for _, _, sentence in kept:
        if number is not None and not cited_numbers(sentence) and 1 <= number <= len(passages):
            body = sentence.rstrip(".!? ")
            sentence = f"{body} [{number}]."
        sentences.append(sentence)
    answer, _ = attach_missing(" ".join(sentences), passages)
    citations, invalid = resolve(answer, passages)
    by_number = dict(enumerate(passages, start=1))
    if not citations or invalid:
        return None
    _, claims = check_claims(answer, citations)
    if not claims or not all(c.supported and c.cited for c in claims):
        return None
    # what the question asks about is in the answer (or the cited passage's name and heading)
    where = [f"{c.document_name} {by_number[c.number].heading or ''}" for c in citations]
    missing = uncovered(question, [answer, *where])
    if len(missing) > (1 if len(subject_words(question)) >= LONG_QUESTION else 0):
        return None
    return answer if _gives_what_is_asked(question, answer) else None
