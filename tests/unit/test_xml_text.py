"""XML that declares entities is read without expanding them; a bomb stays harmless."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from ingest.errors import UnsafeDocument
from ingest.xml_text import read
from tests.unit.test_guards import LAUGHS

pytestmark = pytest.mark.unit

PATENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE us-patent-grant [
<!ENTITY secret SYSTEM "file:///etc/hostname">
<!ENTITY company "Acme Widgets">
<!ENTITY nested "&company; and sons">
]>
<us-patent-grant>
  <invention-title>Self-sealing valve</invention-title>
  <abstract><p>A valve made by &company; that <b>seals</b> itself in 2021.</p></abstract>
  <claims><claim>1. A valve with a membrane&secret; that closes &nested;.</claim></claims>
</us-patent-grant>
"""


def test_entities_are_read_not_expanded(tmp_path: Path) -> None:
    path = tmp_path / "patent.xml"
    path.write_bytes(PATENT)
    blocks = read(path, "patent.xml")
    assert [(b.kind, b.text) for b in blocks] == [
        ("title", "Self-sealing valve"),
        ("text", "A valve made by Acme Widgets that seals itself in 2021."),
        # the external entity is never fetched, the nested one never expanded
        ("text", "1. A valve with a membrane that closes ."),
    ]


def test_an_entity_bomb_fails_as_unsafe_without_growing(tmp_path: Path) -> None:
    path = tmp_path / "laughs.xml"
    path.write_bytes(LAUGHS)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnsafeDocument, match="entities"):
        read(path, "laughs.xml")
    # 10^9 "lol"s would be 3 GB; the peak grew by less than 64 MB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024
