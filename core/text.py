"""One form of text, whatever produced it: a parser at ingestion or a person typing a question.

pdfium gives the characters beyond U+FFFF (mathematical alphanumerics of unicode-math papers and
Word equations, emoji) as two UTF-16 halves; a damaged file or a mis-declared encoding leaves lone
halves, NULs (UTF-16 read as UTF-8) and other control characters; an accent comes composed (é) or
as a letter and a combining mark (e + U+0301). A tokenizer refuses a lone half, a database refuses a
NUL, and a search for "café" must find both spellings: documents and questions are both made
``normal`` before they are chunked, embedded or searched.
"""

from __future__ import annotations

import re
import unicodedata

# C0 controls but tab, newline and carriage return, and DEL: removed. Form feed and vertical tab
# separate pages and lines in plain text: they become a newline.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_BREAKS = re.compile("[\x0b\x0c]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def whole_pairs(text: str) -> str:
    """``text`` with each UTF-16 surrogate pair made the one character it stands for, and a half
    without its pair replaced by U+FFFD."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def normal(text: str) -> str:
    """``text`` in the one form askdocs stores and chunks: surrogate pairs whole, lone halves
    U+FFFD, C0 controls but tab, newline and CR removed (form feed and vertical tab: a newline),
    then NFC."""
    if not text.isascii():
        text = whole_pairs(text)
    if _CONTROLS.search(text) is not None:
        text = _CONTROLS.sub("", text)
    if _BREAKS.search(text) is not None:
        text = _BREAKS.sub("\n", text)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text
