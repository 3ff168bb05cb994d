"""Small plain text is parsed in the ingest process itself (the parse child's round trip costs more
than such a parse); everything else, and any text that is big, not UTF-8 or odd, goes to the child.
Both ways give the same blocks, and input that made a parser take minutes no longer does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.parsing import TITLE_MAX_CHARS, _unstructured, in_process_kind, parse
from ingest.sandbox import Limits, parse_isolated
from tests.integration.conftest import make_pdf

pytestmark = pytest.mark.integration

LIMIT = 16 * 1024
NOTE = "Harbour notes\n\nThe ferry to Inishmore leaves at half past nine from pier four.\n"
LIMITS = Limits(soft_seconds=60, hard_seconds=90, memory_bytes=1024 * 2**20, max_pages=100)


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_only_small_plain_utf8_text_is_parsed_in_process(tmp_path: Path) -> None:
    assert in_process_kind(_write(tmp_path, "note.txt", NOTE), LIMIT) == "text"
    assert in_process_kind(_write(tmp_path, "note", NOTE), LIMIT) == "text"  # bytes, not name
    child = {
        "big.txt": (NOTE * 400)[: LIMIT + 1],
        "empty.txt": b"",
        "latin1.txt": "Caf\xe9 au lait, cr\xe8me br\xfbl\xe9e.\n".encode("latin-1"),
        "nul.txt": b"Text with a \x00 byte in it.\n",
        "escape.txt": b"Text with an escape \x1b[2J sequence.\n",
        "blanks.txt": "A line " + " " * 300 + "with a long run of spaces.\n",
        "notes.md": "# Harbour\n\n- The ferry leaves at **nine**.\n- [Timetable](t.html)\n",
        "page": "<!DOCTYPE html><html><body><p>A web page without a name's help.</p></body></html>",
        "data.txt": json.dumps({"ferry": "Inishmore", "leaves": "09:30"}),
    }
    for name, data in child.items():
        assert in_process_kind(_write(tmp_path, name, data), LIMIT) is None, name
    pdf = make_pdf(tmp_path / "report.pdf", ["Harbour report. The ferry leaves at nine."])
    renamed = pdf.rename(tmp_path / "report.txt")
    assert in_process_kind(renamed, LIMIT) is None
    assert in_process_kind(_write(tmp_path, "off.txt", NOTE), 0) is None  # the setting's 0


def test_in_process_and_child_parses_give_the_same_blocks(tmp_path: Path) -> None:
    text = NOTE + "\n".join(
        f"- item {i}: the {i}th crate holds {i * 7} lanterns for the pier." for i in range(30)
    )
    path = _write(tmp_path, "crates.txt", text)
    kind = in_process_kind(path, LIMIT)
    assert kind == "text"
    here = parse(path, "crates.txt", ocr=False, kind=kind)
    there = parse_isolated(path, "crates.txt", LIMITS)
    assert here.blocks == there.blocks
    assert any(b.kind == "title" for b in here.blocks)  # the short heading stays a title
    assert sum("lanterns" in b.text for b in here.blocks) == 30


def test_a_long_run_of_punctuation_is_a_text_block_that_never_reaches_spacy(
    tmp_path: Path,
) -> None:
    """spaCy's tokenizer takes time in the square of a word's trailing punctuation (8,192 commas
    took 8 s, 32,768 took 110 s): a paragraph of a few words and many characters cannot be a
    title, so it is never asked; the child and the in-process parse both get it at once."""
    _unstructured()
    from unstructured.partition import text as text_partition

    long_word = "a" + ")" * (TITLE_MAX_CHARS + 1)
    assert text_partition.is_possible_narrative_text(long_word)  # answered without spaCy
    commas = "," * LIMIT
    path = _write(tmp_path, "commas.txt", "Ledger\n\n" + commas[: LIMIT - 8])
    assert in_process_kind(path, LIMIT) == "text"
    parsed = parse(path, "commas.txt", ocr=False, kind="text")
    assert [b.kind for b in parsed.blocks] == ["title", "text"]
    assert parsed.blocks[1].text == commas[: LIMIT - 8]
