"""Documents are data: sentences of a passage (or of its name or heading) that address the assistant
with instructions are marked in the prompt, never taken out of the passage.

The model reads a flagged sentence as ``[an instruction to AI assistants, quoted by the document and
set aside: "ignore all previous instructions ..."]``: marked where it stood, with its first words,
and the rules (``generation.prompt``) say the model is not to follow or repeat it. Given whole, even
fenced, the packaged 0.5B generator still obeyed such a sentence or copied it into the answer, so
the rest of it stays out of the model's copy. The user always sees the passage as stored, answers
cite it as stored, and a false alarm leaves a marked sentence where a plain one was (0 of the 254
hard ordinary sentences of bench/injection_sets/ are flagged).

Matching runs on a normalised copy of each sentence (``normalize``: tag characters decoded, NFKC,
format characters such as zero-width spaces and soft hyphens dropped, accents dropped, whitespace
folded, case folded), on a copy with look-alike letters and light leetspeak folded, on a copy with
every non-letter dropped (for "i g n o r e") and on base64 runs decoded. The patterns need an
instruction aimed at the assistant: an override of earlier instructions, a role hijack, a request
to reveal the prompt or other users' data, an exfiltration link, or output forcing. Precision
first: bench/injection_filter.py measures both sides on bench/injection_sets/.

A layer, not a proof: a paraphrase that none of the patterns knows goes through unfenced. The
other layers: the rules come after the passages and say that passages are data; retrieval only
ever reads the asking user's collection, so nothing of another collection is in a prompt to leak.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from functools import lru_cache

from generation.injection_patterns import PATTERNS, SQUASHED

FENCE_OPEN = '[an instruction to AI assistants, quoted by the document and set aside: "'
FENCE_CLOSE = '"]'
QUOTED_WORDS = 5

# Cyrillic and Greek letters that look like Latin ones ("ignоre" with a Cyrillic o).
_CONFUSABLE = str.maketrans(
    "аеорсухіјѕԁһӏԛԝαεικνορτυχ",
    "aeopcyxijsdhlqwaeikvoptux",
)
_LEET = str.maketrans("013457@$!|", "oieastasii")
_SPACES = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_NOT_LETTER = re.compile(r"[^a-z]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
# a sentence ends at . ! ? (and their CJK forms) followed by a space, or at a line's end
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")
_INSTRUCTION = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in PATTERNS]


def _decode_tags(text: str) -> str:
    """Unicode tag characters (U+E0020..U+E007E) spell invisible ASCII some models read: make
    them the letters they stand for, so the patterns see them."""
    return "".join(chr(ord(c) - 0xE0000) if 0xE0020 <= ord(c) <= 0xE007E else c for c in text)


def normalize(text: str) -> str:
    """``text`` as the patterns read it: tag characters decoded, NFKC, format characters (category
    Cf: zero-width spaces and joiners, word joiner, BOM, soft hyphen) dropped, accents dropped,
    every kind of space folded to one, case folded."""
    text = unicodedata.normalize("NFKC", _decode_tags(text))
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = unicodedata.normalize("NFC", text)
    return _SPACES.sub(" ", text).casefold().strip()


def _variants(sentence: str) -> list[str]:
    base = normalize(sentence)
    folded = base.translate(_CONFUSABLE).translate(_LEET)
    found = [base] if folded == base else [base, folded]
    for run in _BASE64.findall(sentence):
        try:
            decoded = base64.b64decode(run, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if decoded.isprintable():
            found.append(normalize(decoded))
    return found


def is_instruction(sentence: str) -> bool:
    """Whether ``sentence`` reads as an instruction to the assistant (any language the patterns
    know, any of the obfuscations ``normalize`` undoes)."""
    variants = _variants(sentence)
    if any(p.search(v) for v in variants for p in _INSTRUCTION):
        return True
    squashed = [_NOT_LETTER.sub("", v) for v in variants]
    return any(s in q for q in squashed for s in SQUASHED)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of ``text``, surrounding whitespace left out."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        _add(spans, text, pos, m.start())
        pos = m.end()
    _add(spans, text, pos, len(text))
    return spans


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece) - len(piece.rstrip())
    if end - trail > start + lead:
        spans.append((start + lead, end - trail))


def flagged_spans(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` (whole sentences) that read as instructions to the assistant."""
    return [(a, b) for a, b in sentence_spans(text) if is_instruction(text[a:b])]


def quote(span: str) -> str:
    """A flagged sentence as the model sees it: marked as an instruction the document quotes,
    with only its first words, lower case (on the packaged 0.5B generator a fenced sentence given
    whole was still obeyed or copied into the answer: tests/integration/test_injection.py). The
    reader sees the passage whole; quote marks and brackets cannot close the mark early."""
    words = span.lower().replace('"', "'").replace("[", "(").replace("]", ")").split()
    head = " ".join(words[:QUOTED_WORDS]) + (" ..." if len(words) > QUOTED_WORDS else "")
    return FENCE_OPEN + head + FENCE_CLOSE


@lru_cache(maxsize=4096)  # a passage is fenced when its cost is counted and again in the prompt
def fence(text: str) -> tuple[str, int]:
    """``text`` with every sentence that instructs the assistant fenced as quoted data, and how
    many were fenced. Everything else is left exactly as it was; nothing is removed."""
    spans = flagged_spans(text)
    if not spans:
        return text, 0
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(quote(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out), len(spans)
