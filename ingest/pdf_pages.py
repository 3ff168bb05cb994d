"""The one wrapper of pypdf: page count, encryption, and single pages cut out for OCR."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pypdf import PdfReader, PdfWriter, apply_configuration
from pypdf.errors import PdfReadError

from ingest.errors import CorruptDocument, EncryptedDocument

# pypdf's default of 100,000 elements per array refused real quarterly reports (two of the 20 sec-10q
# PDFs); ten times that still bounds what one malformed array can cost.
ARRAY_LIMIT = 1_000_000


@contextmanager
def pdf_limits() -> Iterator[None]:
    """pypdf's parsing limits for the reads inside: pypdf reads lazily, so hold this while the
    reader is used, not only while it is opened."""
    with apply_configuration(
        array_maximum_element_count=ARRAY_LIMIT, dictionary_maximum_element_count=ARRAY_LIMIT
    ):
        yield


def open_pdf(path: Path, name: str) -> PdfReader:
    """A reader for ``path``; raises a readable error for encrypted or unreadable files."""
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise EncryptedDocument(f"{name} is encrypted: remove the password and upload again")
        _ = len(reader.pages)
    except EncryptedDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as e:
        raise CorruptDocument(f"{name} is not a readable PDF ({e}); is the file damaged?") from e
    except Exception as e:  # pypdf raises a few others on broken files
        if "encrypt" in str(e).lower() or "password" in str(e).lower():
            raise EncryptedDocument(
                f"{name} is encrypted: remove the password and upload again"
            ) from e
        raise CorruptDocument(f"{name} is not a readable PDF ({e}); is the file damaged?") from e
    return reader


@contextmanager
def single_page(reader: PdfReader, page: int) -> Iterator[Path]:
    """A temporary one-page PDF holding page ``page`` (1-based) of ``reader``."""
    writer = PdfWriter()
    writer.add_page(reader.pages[page - 1])
    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        writer.write(tmp)
        tmp.flush()
        yield Path(tmp.name)


def page_size(reader: PdfReader, page: int) -> tuple[float, float]:
    """Width and height in points of page ``page`` (1-based) as shown: its crop box, turned."""
    p = reader.pages[page - 1]
    width, height = float(p.cropbox.width), float(p.cropbox.height)
    return (height, width) if (p.rotation or 0) % 180 == 90 else (width, height)
