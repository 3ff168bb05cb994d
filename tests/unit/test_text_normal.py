"""One form of text whatever parser read it (ingest.text): surrogate pairs whole, lone halves
U+FFFD, control characters out, NFC; applied to blocks, metadata and attachment names alike."""

from __future__ import annotations

import unicodedata

import pytest

from core.text import normal, whole_pairs
from ingest.text import normal_document
from ingest.types import Attachment, Block, ParsedDocument

pytestmark = pytest.mark.unit

MATH_BOLD_A = "\U0001d400"
HALVES_OF_MATH_BOLD_A = "\ud835\udc00"


def test_characters_beyond_the_basic_plane_are_made_whole() -> None:
    # pdfium hands U+1D400 (mathematical bold A, as unicode-math and Word equations set it) over
    # as its two UTF-16 halves; the tokenizer refused the halves and the document failed
    assert (
        whole_pairs("\ud835\udc00 = \ud835\udc01\ud835\udc02")
        == "\U0001d400 = \U0001d401\U0001d402"
    )
    assert whole_pairs("a\ud835b") == "a\ufffdb"  # a half without its pair
    assert whole_pairs("plain text, é") == "plain text, é"


def test_a_lone_half_next_to_a_whole_character_is_replaced_alone() -> None:
    assert normal("\ud835" + MATH_BOLD_A + "\udc00x") == "\ufffd" + MATH_BOLD_A + "\ufffdx"


def test_controls_go_but_tab_newline_and_carriage_return_stay() -> None:
    assert normal("a\x00b\x01c\x1fd\x7fe") == "abcde"
    assert normal("one\ttwo\r\nthree\n") == "one\ttwo\r\nthree\n"
    assert normal("page one\x0cpage two\x0bline") == "page one\npage two\nline"
    # UTF-16 read as single bytes: the NULs between the letters go
    assert normal("H\x00e\x00l\x00l\x00o\x00") == "Hello"


def test_decomposed_accents_are_composed() -> None:
    decomposed = "cafe\u0301 Ame\u0301lie"
    assert normal(decomposed) == "café Amélie"
    assert unicodedata.is_normalized("NFC", normal(decomposed))


def test_every_script_and_emoji_pass_unchanged() -> None:
    text = "数据库 — قاعدة البيانات — 🚀 — 𝐀𝐁𝐂 — Ελληνικά"
    assert normal(text) == text


def test_the_whole_document_is_normal() -> None:
    doc = ParsedDocument(
        blocks=[
            Block("Title " + HALVES_OF_MATH_BOLD_A, "title", 1, 1),
            Block("| cell e\u0301 | x\x00 |", "table", 1),
            Block("\x00\x00", "text", 2),  # nothing left: the block goes
        ],
        pages=2,
        metadata={"subject": "re\u0301sume\u0301\x00", "to": ["a\ud835@example.com"], "n": 3},
        attachments=[Attachment("nul\x00name.pdf", b"%PDF"), Attachment("plain.txt", b"x")],
    )
    out = normal_document(doc)
    assert [b.text for b in out.blocks] == ["Title " + MATH_BOLD_A, "| cell é | x |"]
    assert [(b.kind, b.page, b.depth) for b in out.blocks] == [("title", 1, 1), ("table", 1, 0)]
    assert out.metadata == {"subject": "résumé", "to": ["a\ufffd@example.com"], "n": 3}
    assert [a.name for a in out.attachments] == ["nulname.pdf", "plain.txt"]
    assert out.attachments[0].data == b"%PDF" and out.pages == 2
