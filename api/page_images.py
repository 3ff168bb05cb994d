"""The API's one wrapper of pypdfium2 (and of LibreOffice's converter): a document's page as a PNG,
kept on disk under the data dir with a size bound, least recently used first out.

PDFs are rendered from their original. Office documents (Word, PowerPoint, Excel, OpenDocument) are
rendered from the PDF LibreOffice makes of them on their first view, kept in the same cache, where
``soffice`` is installed; elsewhere they have no pages to show (the web page shows their text).
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

# pdfium is not thread-safe: one render at a time per process (a page takes ~50-150 ms)
_PDFIUM = threading.Lock()
_CONVERT = threading.Lock()
OFFICE_SUFFIXES = frozenset(
    {".docx", ".doc", ".pptx", ".ppt", ".xlsx", ".xls", ".odt", ".ods", ".odp", ".rtf"}
)
CONVERT_SECONDS = 120


class NoPages(Exception):
    """The document has no pages to show (a text format, or an office file without LibreOffice)."""


class PageOutOfRange(Exception):
    """The page asked for is not in the document."""

    def __init__(self, pages: int) -> None:
        super().__init__(pages)
        self.pages = pages


class ConversionFailed(Exception):
    """LibreOffice could not make a PDF of the document."""


@dataclass(frozen=True)
class PageImage:
    png: bytes
    pages: int  # pages in the document
    size: tuple[float, float]  # the page's width and height in points (boxes are in points)
    via: str  # "pdf", or "libreoffice" for an office document's PDF
    cached: bool  # served from the disk cache


def soffice() -> str | None:
    """LibreOffice's converter, where installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def is_pdf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(1024).lstrip().startswith(b"%PDF-")


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


class PageImages:
    """Pages of stored originals as PNG images of a given width."""

    def __init__(self, cache: PageCache, max_width: int) -> None:
        self.cache = cache
        self.max_width = max_width

    def source(self, original: Path, name: str, content: str) -> tuple[Path, str]:
        """The PDF to render for an original (``content``: its sha256) and how it was had."""
        if is_pdf(original):
            return original, "pdf"
        if Path(name).suffix.lower() not in OFFICE_SUFFIXES:
            raise NoPages(f"{name} has no pages to show: its text is shown instead")
        converter = soffice()
        if converter is None:
            raise NoPages(
                f"{name} is shown as text: rendering its pages needs LibreOffice (soffice), "
                "which is not installed here"
            )
        key = hashlib.sha256(f"office:{content}".encode()).hexdigest()
        with _CONVERT:  # one conversion at a time; the second asker finds the first's PDF
            cached = self.cache.get(key, ".pdf")
            if cached is not None:
                return cached, "libreoffice"
            data = _convert(converter, original, Path(name).suffix.lower())
            self.cache.put(key, ".pdf", data)
            cached = self.cache.get(key, ".pdf")
            if cached is None:  # a cache too small to keep it: render from a temporary copy
                tmp = Path(tempfile.mkdtemp()) / "converted.pdf"
                tmp.write_bytes(data)
                return tmp, "libreoffice"
            return cached, "libreoffice"

    def render(self, original: Path, name: str, content: str, page: int, width: int) -> PageImage:
        """Page ``page`` (1-based) of the original with sha256 ``content``, ``width`` pixels wide."""
        pdf, via = self.source(original, name, content)
        key = hashlib.sha256(f"page:{content}:{page}:{width}".encode()).hexdigest()
        hit = self.cache.get(key, ".png")
        about = self.cache.get(key, ".json")
        if hit is not None and about is not None:
            try:
                meta = json.loads(about.read_text())
                size = (float(meta["w"]), float(meta["h"]))
                return PageImage(hit.read_bytes(), int(meta["pages"]), size, via, True)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # evicted between the look and the read: render it again
        try:
            png, pages, size = _render(pdf, page, width)
        finally:
            if via == "libreoffice" and not pdf.is_relative_to(self.cache.root):
                shutil.rmtree(pdf.parent, ignore_errors=True)  # a copy the cache could not keep
        meta_text = json.dumps({"pages": pages, "w": size[0], "h": size[1]})
        self.cache.put(key, ".json", meta_text.encode())
        self.cache.put(key, ".png", png)
        return PageImage(png, pages, size, via, False)


def _render(pdf_path: Path, page: int, width: int) -> tuple[bytes, int, tuple[float, float]]:
    import pypdfium2 as pdfium

    with _PDFIUM:
        pdf = pdfium.PdfDocument(str(pdf_path))
        try:
            pages = len(pdf)
            if not 1 <= page <= pages:
                raise PageOutOfRange(pages)
            p = pdf[page - 1]
            try:
                size = (float(p.get_width()), float(p.get_height()))
                scale = width / max(size[0], 1.0)
                bitmap = p.render(scale=scale)
                image = bitmap.to_pil()
            finally:
                p.close()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue(), pages, size


def _convert(converter: str, original: Path, suffix: str) -> bytes:
    """The PDF LibreOffice makes of ``original``, in a private profile and folder, time-bounded."""
    with tempfile.TemporaryDirectory(prefix="askdocs-soffice-") as tmp:
        work = Path(tmp)
        src = work / f"document{suffix}"
        shutil.copyfile(original, src)
        try:
            done = subprocess.run(
                [
                    converter,
                    f"-env:UserInstallation=file://{work / 'profile'}",
                    "--headless",
                    "--norestore",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(work / "out"),
                    str(src),
                ],
                capture_output=True,
                timeout=CONVERT_SECONDS,
                check=False,
                env={**os.environ, "HOME": str(work)},
            )
        except subprocess.TimeoutExpired as e:
            raise ConversionFailed(f"LibreOffice took over {CONVERT_SECONDS} s") from e
        out = work / "out" / "document.pdf"
        if done.returncode != 0 or not out.exists():
            raise ConversionFailed(
                f"LibreOffice could not convert it: {done.stderr.decode(errors='replace')[:300]}"
            )
        return out.read_bytes()


Box = tuple[float, float, float, float]
_TOKEN = re.compile(r"\w+")


def _page_words(pdf_path: Path, page: int) -> list[tuple[str, Box]]:
    """The words of page ``page`` in pdfium's order with their boxes (points, origin top left)."""
    import pypdfium2 as pdfium

    words: list[tuple[str, Box]] = []
    with _PDFIUM:
        pdf = pdfium.PdfDocument(str(pdf_path))
        try:
            if not 1 <= page <= len(pdf):
                return words
            p = pdf[page - 1]
            text = p.get_textpage()
            try:
                height = p.get_height()
                chars: list[str] = []
                box: list[float] = []
                for i in range(text.count_chars()):
                    ch = text.get_text_range(i, 1)
                    if not ch or ch.isspace() or ch in "\x00\x02\ufffe":
                        if chars:
                            words.append(("".join(chars), (box[0], box[1], box[2], box[3])))
                        chars, box = [], []
                        continue
                    left, bottom, right, top = text.get_charbox(i)
                    y0, y1 = height - top, height - bottom
                    box = (
                        [min(box[0], left), min(box[1], y0), max(box[2], right), max(box[3], y1)]
                        if box
                        else [left, y0, right, y1]
                    )
                    chars.append(ch)
                if chars:
                    words.append(("".join(chars), (box[0], box[1], box[2], box[3])))
            finally:
                text.close()
                p.close()
        finally:
            pdf.close()
    return words


def _inside(box: Box, rects: list[list[int]]) -> bool:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(r[0] - 1 <= x <= r[2] + 1 and r[1] - 1 <= y <= r[3] + 1 for r in rects)


def sentence_boxes(
    pdf_path: Path, boxes: dict[str, list[list[int]]], sentence: str
) -> dict[str, list[list[int]]] | None:
    """The line boxes of ``sentence``'s words among the words inside ``boxes`` (a chunk's), found
    by matching their words in order; None when fewer than 60% of its words are found."""
    want = [t.lower() for t in _TOKEN.findall(sentence)]
    if not want:
        return None
    seq: list[tuple[str, str, Box]] = []  # token, page, box of the word holding it
    for page in sorted(boxes, key=int):
        for word, box in _page_words(pdf_path, int(page)):
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
