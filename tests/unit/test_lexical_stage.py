"""The lexical index's two-step write on a real tantivy index: what the indexer stages is invisible
to readers until its commit (taken just before the catalog's), and a write given up is dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.lexical_index import (
    FORMAT_FILE,
    LEXICAL_DIR,
    LEXICAL_FORMAT,
    LexicalDoc,
    LexicalIndex,
)

pytestmark = pytest.mark.unit


def _doc(chunk: int, document: str, body: str) -> LexicalDoc:
    return LexicalDoc(chunk, document, body, "")


def test_staged_changes_show_only_at_commit_and_a_rollback_drops_them(tmp_path: Path) -> None:
    writer = LexicalIndex(tmp_path, writable=True)
    writer.replace_documents({"a": [_doc(1, "a", "harbour crane")]})
    reader = LexicalIndex(tmp_path)
    reader.reload()
    assert [i for i, _ in reader.search("harbour", 5)] == [1]

    writer.replace_documents({"b": [_doc(2, "b", "harbour ferry")]}, removed=["a"], commit=False)
    reader.reload()
    assert [i for i, _ in reader.search("harbour", 5)] == [1]  # staged: not seen yet
    writer.rollback()
    writer.replace_documents({"c": [_doc(3, "c", "harbour lighthouse")]}, commit=False)
    writer.commit()
    reader.reload()
    assert sorted(i for i, _ in reader.search("harbour", 5)) == [1, 3]  # b and a's removal dropped

    # a re-applied batch replaces its documents' entries: no duplicate
    writer.replace_documents({"c": [_doc(3, "c", "harbour lighthouse")]})
    reader.reload()
    assert sorted(reader.chunk_ids()) == [1, 3]


def test_a_staged_replace_all_stamps_the_format_at_its_commit(tmp_path: Path) -> None:
    writer = LexicalIndex(tmp_path, writable=True)
    stamp = tmp_path / LEXICAL_DIR / FORMAT_FILE
    stamp.write_text("1\n")  # as an index of an older format
    writer.replace_all([_doc(1, "a", "orchard")], commit=False)
    assert stamp.read_text().strip() == "1"
    writer.commit()
    assert stamp.read_text().strip() == str(LEXICAL_FORMAT)
    assert LexicalIndex(tmp_path).chunk_ids() == [1]
