"""bench/parse_corpus.py never stops at a file: whatever one file raises is that file's outcome
(``internal`` and the exception's class when it is not a readable ``IngestError``), and the files
after it, and a mail's attachments, are still parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import make_text_corpus as corpus
from bench.parse_corpus import INTERNAL, _with_attachments
from core.settings import Settings

pytestmark = pytest.mark.integration


def _tokens_unless_boom(text: str) -> int:
    if "boom" in text:  # a step that raises what no parser error names: a bug
        raise TypeError("TextEncodeInput must be Union[TextInputSequence, ...]")
    return len(text.split())


def test_an_internal_failure_is_the_file_s_outcome_and_the_run_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a-boom.txt").write_text("This note says boom and breaks the tokenizer step.")
    (root / "b-fine.txt").write_text("This note is fine and parses.")
    (root / "c-empty.txt").write_bytes(b"")
    corpus.write_eml(root / "d-mail.eml")
    settings = Settings(data_dir=tmp_path / "data")
    outcomes = [
        out
        for path in sorted(root.iterdir())
        for out in _with_attachments(path, root, settings, _tokens_unless_boom, tmp_path)
    ]
    got = {o.path: (o.code, o.message.split(":")[0]) for o in outcomes}
    assert got == {
        "a-boom.txt": (INTERNAL, "TypeError"),
        "b-fine.txt": ("ok", ""),
        "c-empty.txt": ("empty_document", "c-empty.txt is empty (0 bytes)"),
        "d-mail.eml": ("ok", ""),
        "d-mail.eml/résumé.txt": ("ok", ""),
    }
