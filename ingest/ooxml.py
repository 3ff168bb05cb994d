"""Strict Office Open XML (ISO/IEC 29500 Strict) read as Transitional.

Word, Excel and PowerPoint can save "Strict Open XML"; python-docx, python-pptx and openpyxl (under
unstructured) know the Transitional namespaces only and refuse such a file as damaged. The two differ
mostly in namespace URIs (``http://purl.oclc.org/ooxml/wordprocessingml/main`` for
``http://schemas.openxmlformats.org/wordprocessingml/2006/main``, and so for drawings, relationships
and the rest), so a copy with the URIs mapped back reads as the Transitional file it mirrors. The zip
guards have checked the container before this runs.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

STRICT = b"http://purl.oclc.org/ooxml/"
_STRICT_URI = re.compile(rb"http://purl\.oclc\.org/ooxml/(\w+)/")
_PARTS = (".xml", ".rels")


def is_strict(path: Path) -> bool:
    """Whether the package's relationships point at Strict parts."""
    try:
        with zipfile.ZipFile(path) as z:
            return STRICT in z.read("_rels/.rels")
    except (zipfile.BadZipFile, KeyError, OSError):
        return False


def to_transitional(path: Path, out: Path) -> Path:
    """Write a Transitional copy of the Strict package at ``path`` to ``out``."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename.lower().endswith(_PARTS):
                data = _STRICT_URI.sub(
                    rb"http://schemas.openxmlformats.org/\1/2006/", src.read(info)
                )
                dst.writestr(info, data)
            else:
                with src.open(info) as f, dst.open(info, "w") as g:
                    shutil.copyfileobj(f, g)
    return out
