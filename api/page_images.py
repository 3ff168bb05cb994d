"""A document's page as a PNG for the page view, kept on disk under the data dir with a size bound
(least recently used first out), and the words of a citation's sentence on its page.

PDFs are rendered from their original. Office documents (Word, PowerPoint, Excel, OpenDocument) are
rendered from the PDF LibreOffice makes of them on their first view, kept in the same cache, where
``soffice`` is installed; elsewhere they have no pages to show (the web page shows their text).
Rendering, reading words and converting run in confined children with time limits
(``api.page_render``); what failed is remembered for ``FAILED_SECONDS`` so a retry is a quick
refusal. Every cache key holds the document's id: one collection's views say nothing of another's,
even for identical bytes.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from api.page_render import (
    ConversionFailed,
    PageOutOfRange,
    RenderFailed,
    RenderLimits,
    TooBig,
    convert,
    render,
    soffice,
    words,
)

__all__ = [
    "ConversionFailed",
    "NoPages",
    "PageCache",
    "PageImage",
    "PageImages",
    "PageOutOfRange",
    "RenderFailed",
    "RenderLimits",
    "TooBig",
    "is_pdf",
    "soffice",
]

# One LibreOffice conversion at a time per API process (each is confined and time-limited, and a
# failed one is remembered, so a hostile file holds it once per FAILED_SECONDS at most).
_CONVERT = threading.Lock()
OFFICE_SUFFIXES = frozenset(
    {".docx", ".doc", ".pptx", ".ppt", ".xlsx", ".xls", ".odt", ".ods", ".odp", ".rtf"}
)
FAILED_SECONDS = 3600.0  # how long a page (or a conversion) that failed is refused at once
Box = tuple[float, float, float, float]
_TOKEN = re.compile(r"\w+")


class NoPages(Exception):
    """The document has no pages to show (a text format, or an office file without LibreOffice)."""


@dataclass(frozen=True)
class PageImage:
    png: bytes
    pages: int  # pages in the document
    size: tuple[float, float]  # the page's width and height in points (boxes are in points)
    via: str  # "pdf", or "libreoffice" for an office document's PDF
    cached: bool  # served from the disk cache


def is_pdf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(1024).lstrip().startswith(b"%PDF-")


def _key(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


class PageCache:
    """Rendered pages (and converted PDFs) in ``root``, at most ``max_bytes`` in all."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _file(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get(self, key: str, suffix: str) -> Path | None:
        path = self._file(key, suffix)
        try:
            os.utime(path)  # used now: the last to go
        except OSError:
            return None
        return path

    def put(self, key: str, suffix: str, data: bytes) -> None:
        """Keep ``data`` (written whole, then renamed into place), then evict past the bound."""
        if self.max_bytes <= 0 or len(data) > self.max_bytes:
            return
        path = self._file(key, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        self.evict()

    def size(self) -> int:
        return sum(p.stat().st_size for p in self._entries())

    def _entries(self) -> list[Path]:
        if not self.root.exists():
            return []
        return [p for p in self.root.glob("*/*") if p.is_file() and p.suffix != ".part"]

    def evict(self) -> None:
        """Remove the least recently used files until the cache fits its bound."""
        entries = []
        for p in self._entries():
            try:
                st = p.stat()
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, p))
        total = sum(e[1] for e in entries)
        for _mtime, size, p in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            try:
                p.unlink()
            except OSError:
                continue
            total -= size

    def read_json(self, key: str, suffix: str) -> Any:
        """The JSON kept under ``key``; None when there is none (or it went meanwhile)."""
        path = self.get(key, suffix)
        if path is None:
            return None
        try:
            return json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None

    def remember_failure(self, key: str, reason: str) -> None:
        """Keep that ``key`` failed, and why, for ``FAILED_SECONDS``."""
        self.put(key, ".fail", json.dumps({"reason": reason, "at": time.time()}).encode())

    def failure(self, key: str) -> str | None:
        """Why ``key`` failed, when it did within ``FAILED_SECONDS``."""
        about = self.read_json(key, ".fail")
        try:
            if about is not None and time.time() - float(about["at"]) < FAILED_SECONDS:
                return str(about["reason"])
        except (KeyError, TypeError, ValueError):
            pass
        return None


class PageImages:
    """Pages of stored originals as PNG images of a given width."""

    def __init__(
        self, cache: PageCache, max_width: int, limits: RenderLimits | None = None
    ) -> None:
        self.cache = cache
        self.max_width = max_width
        self.limits = limits or RenderLimits()

    @contextlib.contextmanager
    def source(
        self, original: Path, name: str, content: str, document: str = ""
    ) -> Iterator[tuple[IO[bytes], str]]:
        """The PDF to render for an original (``content``: its sha256), open, and how it was had.
        An office document's PDF that the cache cannot keep is an unnamed temporary file."""
        if is_pdf(original):
            with original.open("rb") as f:
                yield f, "pdf"
            return
        if Path(name).suffix.lower() not in OFFICE_SUFFIXES:
            raise NoPages(f"{name} has no pages to show: its text is shown instead")
        converter = soffice()
        if converter is None:
            raise NoPages(
                f"{name} is shown as text: rendering its pages needs LibreOffice (soffice), "
                "which is not installed here"
            )
        key = _key("office", document, content)
        with self._converted(key, converter, original, Path(name).suffix.lower()) as f:
            yield f, "libreoffice"

    @contextlib.contextmanager
    def _converted(
        self, key: str, converter: str, original: Path, suffix: str
    ) -> Iterator[IO[bytes]]:
        failed = self.cache.failure(key)
        if failed is not None:
            raise ConversionFailed(failed)
        with _CONVERT:  # one conversion at a time; the second asker finds the first's PDF
            f = self._open_cached(key)
            if f is None:
                try:
                    data = convert(converter, original, suffix, self.limits)
                except ConversionFailed as e:
                    self.cache.remember_failure(key, str(e))
                    raise
                self.cache.put(key, ".pdf", data)
                f = self._open_cached(key)
                if f is None:  # a cache too small to keep it: an unnamed file, gone once closed
                    f = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the with below
                    f.write(data)
                    f.seek(0)
        with f:
            yield f

    def _open_cached(self, key: str) -> IO[bytes] | None:
        path = self.cache.get(key, ".pdf")
        if path is None:
            return None
        try:
            return path.open("rb")  # open now: an eviction from here on takes nothing from us
        except OSError:
            return None  # evicted between the look and the open: converted again

    def render(
        self, original: Path, name: str, content: str, page: int, width: int, document: str = ""
    ) -> PageImage:
        """Page ``page`` (1-based) of the original with sha256 ``content`` of document
        ``document``, ``width`` pixels wide. The cache is looked at before anything is opened or
        converted."""
        key = _key("page", document, content, page, width)
        hit = self.cache.get(key, ".png")
        meta = self.cache.read_json(key, ".json")
        if hit is not None and meta is not None:
            try:
                size = (float(meta["w"]), float(meta["h"]))
                return PageImage(hit.read_bytes(), int(meta["pages"]), size, str(meta["via"]), True)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # evicted between the look and the read: render it again
        failed_key = _key("failed", document, content, page)
        failed = self.cache.failure(failed_key)
        if failed is not None:
            raise RenderFailed(failed)
        with self.source(original, name, content, document) as (pdf, via):
            try:
                png, pages, size = render(pdf, page, width, self.limits)
            except TooBig:
                raise  # another width may do
            except RenderFailed as e:
                self.cache.remember_failure(failed_key, str(e))
                raise
        meta_text = json.dumps({"pages": pages, "w": size[0], "h": size[1], "via": via})
        self.cache.put(key, ".json", meta_text.encode())
        self.cache.put(key, ".png", png)
        return PageImage(png, pages, size, via, False)

    def page_words(
        self, original: Path, content: str, page: int, document: str = ""
    ) -> list[tuple[str, Box]] | None:
        """The words of a PDF's page with their boxes, kept in the cache; None when the page
        holds too many characters to look a sentence up in, or could not be read."""
        key = _key("words", document, content, page)
        kept = self.cache.read_json(key, ".words")
        if isinstance(kept, dict):
            try:
                if kept.get("words") is None:
                    return None
                return [(str(w[0]), (w[1], w[2], w[3], w[4])) for w in kept["words"]]
            except (IndexError, TypeError, KeyError):
                pass
        failed_key = _key("failed", document, content, page)
        if self.cache.failure(failed_key) is not None:
            return None
        try:
            with original.open("rb") as pdf:
                found = words(pdf, page, self.limits)
        except RenderFailed as e:
            self.cache.remember_failure(failed_key, str(e))
            return None
        stored = None if found is None else [[w, *box] for w, box in found]
        self.cache.put(key, ".words", json.dumps({"words": stored}).encode())
        return found

    def sentence_boxes(
        self,
        original: Path,
        content: str,
        boxes: dict[str, list[list[int]]],
        sentence: str,
        document: str = "",
    ) -> dict[str, list[list[int]]] | None:
        """The line boxes of ``sentence``'s words on a PDF's pages among the words inside
        ``boxes`` (a chunk's); None when they are not found or a page has too many words."""
        found: dict[str, list[tuple[str, Box]]] = {}
        for page in sorted(boxes, key=int):
            on_page = self.page_words(original, content, int(page), document)
            if on_page is None:
                return None
            found[page] = on_page
        return match_sentence(found, boxes, sentence)


def _inside(box: Box, rects: list[list[int]]) -> bool:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(r[0] - 1 <= x <= r[2] + 1 and r[1] - 1 <= y <= r[3] + 1 for r in rects)


def match_sentence(
    page_words: dict[str, list[tuple[str, Box]]],
    boxes: dict[str, list[list[int]]],
    sentence: str,
) -> dict[str, list[list[int]]] | None:
    """The line boxes of ``sentence``'s words among the words (``page_words``, by page) inside
    ``boxes`` (a chunk's), found by matching their words in order; None when fewer than 60% of
    its words are found."""
    want = [t.lower() for t in _TOKEN.findall(sentence)]
    if not want:
        return None
    seq: list[tuple[str, str, Box]] = []  # token, page, box of the word holding it
    for page in sorted(boxes, key=int):
        for word, box in page_words.get(page, []):
            if _inside(box, boxes[page]):
                seq += [(t.lower(), page, box) for t in _TOKEN.findall(word)]
    matcher = difflib.SequenceMatcher(None, [t for t, _, _ in seq], want, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size]
    if sum(b.size for b in blocks) < 0.6 * len(want):
        return None
    first, last = blocks[0].a, blocks[-1].a + blocks[-1].size
    out: dict[str, list[list[float]]] = {}
    for _, page, (x0, top, x1, bottom) in seq[first:last]:
        lines = out.setdefault(page, [])
        ln = lines[-1] if lines else None
        if ln is not None and min(ln[3], bottom) - max(ln[1], top) > 0.5 * (bottom - top):
            ln[0], ln[1], ln[2], ln[3] = (
                min(ln[0], x0),
                min(ln[1], top),
                max(ln[2], x1),
                max(ln[3], bottom),
            )
        else:
            lines.append([x0, top, x1, bottom])
    return {
        p: [[math.floor(r[0]), math.floor(r[1]), math.ceil(r[2]), math.ceil(r[3])] for r in rs]
        for p, rs in out.items()
    }
