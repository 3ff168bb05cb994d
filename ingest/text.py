"""Text as chunking, the tokenizer and the catalog take it: one form whatever parser read it.

Parsers hand over text in forms that look alike on screen and differ underneath: pdfium gives the
characters beyond U+FFFF (mathematical alphanumerics of unicode-math papers and Word equations,
emoji) as two UTF-16 halves; a damaged file or a mis-declared encoding leaves lone halves, NULs
(UTF-16 read as UTF-8) and other control characters; an accent comes composed (é) or as a letter
and a combining mark (e + U+0301). A tokenizer refuses a lone half, a database refuses a NUL, and
a search for "café" must find both spellings. ``normal`` makes one form of all of them, and
``normal_document`` applies it to everything a parse hands over: block text (titles, paragraphs,
table cells), the format's metadata and the names of attachments.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Any

from ingest.types import Attachment, Block, ParsedDocument

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


def normal_value(value: Any) -> Any:
    """``value`` with every string in it (a dict's keys too, lists, tuples) made ``normal``."""
    if isinstance(value, str):
        return normal(value)
    if isinstance(value, dict):
        return {normal_value(k): normal_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(normal_value(v) for v in value)
    return value


def normal_document(parsed: ParsedDocument) -> ParsedDocument:
    """``parsed`` with all its text ``normal``: blocks (a block with no text left goes), metadata
    and attachment names. Whatever produced it (a parser in this process, the parse child)."""
    blocks: list[Block] = []
    for b in parsed.blocks:
        text = normal(b.text)
        if text.strip():
            blocks.append(b if text == b.text else dataclasses.replace(b, text=text))
    files = [
        a if (name := normal(a.name)) == a.name else Attachment(name, a.data)
        for a in parsed.attachments
    ]
    return dataclasses.replace(
        parsed, blocks=blocks, metadata=normal_value(parsed.metadata), attachments=files
    )
