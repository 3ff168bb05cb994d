"""Zip and XML bombs are refused before a parser sees them; ordinary containers pass."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.errors import CorruptDocument, EncryptedDocument, UnsafeDocument
from ingest.guards import check, declares_entities

pytestmark = pytest.mark.unit

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>\n"
)


@dataclass
class Limits:
    max_unpacked_bytes: int = 64 << 20
    max_archive_members: int = 100
    max_compression_ratio: float = 200.0


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_a_real_docx_passes(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Report", 1)
    d.add_paragraph("Plain content " * 200)
    d.save(tmp_path / "r.docx")
    check(tmp_path / "r.docx", "r.docx", Limits())


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.docx", {"word/document.xml": b"\0" * (40 << 20)})
    assert bomb.stat().st_size < 200_000
    with pytest.raises(UnsafeDocument, match="zip bomb"):
        check(bomb, "bomb.docx", Limits())


def test_zip_past_the_unpacked_limit(tmp_path: Path) -> None:
    big = _zip(tmp_path / "big.xlsx", {f"xl/s{i}.xml": b"<a/>" * 300_000 for i in range(3)})
    with pytest.raises(UnsafeDocument, match="unpacks to"):
        check(big, "big.xlsx", Limits(max_unpacked_bytes=2_000_000))


def test_too_many_members(tmp_path: Path) -> None:
    many = _zip(tmp_path / "many.epub", {f"OEBPS/{i}.xhtml": b"<p/>" for i in range(101)})
    with pytest.raises(UnsafeDocument, match="101 packed files"):
        check(many, "many.epub", Limits())


def test_entity_bombs_plain_and_inside_office_files(tmp_path: Path) -> None:
    assert declares_entities(LAUGHS)
    assert not declares_entities(b'<?xml version="1.0"?><!DOCTYPE html><html/>')
    assert not declares_entities(b"plain text that mentions <!ENTITY later")
    xml = tmp_path / "laughs.xml"
    xml.write_bytes(LAUGHS)
    check(xml, "laughs.xml", Limits())  # alone, it is left to ingest.xml_text (test_xml_text.py)
    docx = _zip(tmp_path / "laughs.docx", {"word/document.xml": LAUGHS})
    with pytest.raises(UnsafeDocument, match="word/document.xml"):
        check(docx, "laughs.docx", Limits())


def test_damaged_zip_is_corrupt(tmp_path: Path) -> None:
    good = _zip(tmp_path / "ok.docx", {"word/document.xml": b"<w:document/>" * 1000})
    data = bytearray(good.read_bytes())
    data[40:80] = b"\xff" * 40  # inside the first member's compressed bytes
    bad = tmp_path / "bad.docx"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptDocument):
        check(bad, "bad.docx", Limits())


def test_encrypted_zip_says_so(tmp_path: Path) -> None:
    # zipfile cannot write encrypted members: set the encryption flag bit by hand
    good = _zip(tmp_path / "e.docx", {"word/document.xml": b"<w:document/>"})
    data = bytearray(good.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        at = data.find(sig)
        flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
        data[flag_at] |= 0x1
    enc = tmp_path / "enc.docx"
    enc.write_bytes(bytes(data))
    with pytest.raises(EncryptedDocument, match="password"):
        check(enc, "enc.docx", Limits())
