"""Text as chunking, the tokenizer and the catalog take it: one form whatever parser read it.

Parsers hand over text in forms that look alike on screen and differ underneath: pdfium gives the
characters beyond U+FFFF (mathematical alphanumerics of unicode-math papers and Word equations,
emoji) as two UTF-16 halves; a damaged file or a mis-declared encoding leaves lone halves, NULs
(UTF-16 read as UTF-8) and other control characters; an accent comes composed (é) or as a letter
and a combining mark (e + U+0301). A tokenizer refuses a lone half, a database refuses a NUL, and
a search for "café" must find both spellings. ``core.text.normal`` makes one form of all of them,
and ``normal_document`` applies it to everything a parse hands over: block text (titles, paragraphs,
table cells), the format's metadata and the names of attachments.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from core.text import normal
from ingest.types import Attachment, Block, ParsedDocument


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
