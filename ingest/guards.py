"""Checks a file passes before any parser sees it: zip bombs and XML entity bombs fail here, cheaply.

Office files (DOCX, XLSX, PPTX, ODT), EPUB and plain ZIP are zip containers. The readers that open them
(python's ``zipfile`` underneath python-docx, openpyxl, python-pptx) stop each member at its declared
size, so declared sizes bound what they unpack: limit the member count, the declared total and the
ratio of unpacked to packed bytes. XML with entity declarations inside a container is refused outright,
as defusedxml does: office formats never declare entities, and billion-laughs needs them. XML on its
own that declares entities (patent and publishing XML) is read by ``ingest.xml_text`` without
expanding them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Protocol

from ingest.errors import CorruptDocument, EncryptedDocument, UnsafeDocument

XML_SUFFIXES = (".xml", ".rels", ".opf", ".ncx", ".xhtml", ".html", ".htm", ".svg")
HEAD_BYTES = 1 << 20  # entity declarations live in the DTD, before the root element
# Below this, a high ratio is just a small repetitive file (a 10 kB run of spaces packs 200:1).
RATIO_FLOOR_BYTES = 16 << 20


class Limits(Protocol):
    max_unpacked_bytes: int
    max_archive_members: int
    max_compression_ratio: float


def declares_entities(head: bytes) -> bool:
    """True for XML (by its first bytes) that declares entities in its DTD."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not start.startswith(b"<"):
        return False
    return b"<!ENTITY" in head or b"<\x00!\x00E\x00N\x00T\x00I\x00T\x00Y" in head


def check(path: Path, name: str, limits: Limits) -> None:
    """Raise ``UnsafeDocument`` when ``path`` is a bomb or past the unpacking limits."""
    if zipfile.is_zipfile(path):
        _check_zip(path, name, limits)
        return
    # XML on its own that declares entities is read without expanding them (ingest.xml_text)


def _check_zip(path: Path, name: str, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
            if len(members) > limits.max_archive_members:
                raise UnsafeDocument(
                    f"{name} holds {len(members)} packed files, above the limit of "
                    f"{limits.max_archive_members}"
                )
            unpacked = sum(m.file_size for m in members)
            packed = sum(m.compress_size for m in members)
            if unpacked > limits.max_unpacked_bytes:
                raise UnsafeDocument(
                    f"{name} unpacks to {unpacked:,} bytes, above the limit of "
                    f"{limits.max_unpacked_bytes:,} (a zip bomb, or a file too large to read)"
                )
            ratio = unpacked / max(packed, 1)
            if unpacked > RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
                raise UnsafeDocument(
                    f"{name} unpacks {ratio:.0f} times larger than it is packed (limit "
                    f"{limits.max_compression_ratio:.0f}): the shape of a zip bomb"
                )
            for m in members:
                if m.filename.lower().endswith(XML_SUFFIXES) and not m.is_dir():
                    with z.open(m) as f:
                        head = f.read(min(HEAD_BYTES, m.file_size))
                    if declares_entities(head):
                        raise UnsafeDocument(
                            f"{name} contains {m.filename!r}, XML that declares entities (the shape "
                            "of an entity-expansion bomb); office files never do"
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        raise CorruptDocument(f"{name} is a damaged zip container: {e}") from e
    except RuntimeError as e:  # zipfile: "File ... is encrypted, password required"
        raise EncryptedDocument(
            f"{name} is an encrypted zip container: remove the password and upload it again"
        ) from e
    except NotImplementedError as e:  # an unsupported compression method
        raise CorruptDocument(f"{name} uses a zip feature askdocs cannot read: {e}") from e
