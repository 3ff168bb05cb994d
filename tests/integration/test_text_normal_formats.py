"""Every kind of file through the real parser, the one normalisation and the chunker, then the
embedding model's own tokenizer and encoder: mathematical symbols beyond U+FFFF, an emoji, CJK,
Arabic and a decomposed accent come out whole and composed, NULs never, whichever parser read them.

The files are made by ``bench/make_text_corpus.py``; ``tests/fixtures/text-forms.pdf`` is its
``forms-office.pdf`` (its Word file converted by LibreOffice 7, fonts by fallback: DejaVu)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bench import make_text_corpus as corpus
from ingest.chunking import chunk_blocks
from ingest.parsing import parse
from ingest.text import normal_document
from ingest.types import ParsedDocument
from retrieval.embedding import Embedder

pytestmark = pytest.mark.integration

FIXTURE_PDF = Path(__file__).resolve().parent.parent / "fixtures" / "text-forms.pdf"
EVERY_FORM = corpus.EXPECTED
_SURROGATE = re.compile("[\ud800-\udfff]")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder("packaged:all-MiniLM-L6-v2").load()


def _through(path: Path, embedder: Embedder) -> tuple[ParsedDocument, str]:
    """What a worker does with the file before it writes chunks: parse, normalise, chunk under
    the model's tokenizer and embed; returns the document and its chunks' text and headings."""
    doc = normal_document(parse(path, path.name))
    chunks = chunk_blocks(doc.blocks, embedder.count_tokens, max_tokens=256, overlap_tokens=32)
    assert chunks, path.name
    vectors = embedder.embed([c.text for c in chunks])
    assert vectors.shape[0] == len(chunks) and np.isfinite(vectors).all()
    text = "\n".join(c.text + "\n" + (c.heading or "") for c in chunks)
    return doc, text


def _assert_one_form(text: str, expected: tuple[str, ...]) -> None:
    missing = [piece for piece in expected if piece not in text]
    assert not missing, (missing, text)
    assert "\x00" not in text and _SURROGATE.search(text) is None, repr(text)
    assert unicodedata.is_normalized("NFC", text), repr(text)
    assert corpus.DECOMPOSED not in text


KINDS: dict[str, Callable[[Path], Path | None]] = {
    "forms.txt": corpus.write_txt,
    "forms.md": corpus.write_md,
    "forms.html": corpus.write_html,
    "forms.csv": corpus.write_csv,
    "forms.docx": corpus.write_docx,
    "forms.pptx": corpus.write_pptx,
    "forms.xlsx": corpus.write_xlsx,
    "forms.odt": corpus.write_odt,
    "forms.eml": corpus.write_eml,
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_comes_out_in_one_form(name: str, tmp_path: Path, embedder: Embedder) -> None:
    path = KINDS[name](tmp_path / name)
    assert path is not None
    _doc, text = _through(path, embedder)
    _assert_one_form(text, EVERY_FORM)


def test_an_office_pdf_beyond_the_basic_plane(embedder: Embedder) -> None:
    """pdfium hands the mathematical letters and the emoji over as UTF-16 halves."""
    _doc, text = _through(FIXTURE_PDF, embedder)
    _assert_one_form(text, EVERY_FORM)


def test_a_pdf_with_a_cjk_font_and_arabic_in_visual_order(
    tmp_path: Path, embedder: Embedder
) -> None:
    path = corpus.write_pdf_cjk(tmp_path / "forms-cjk.pdf")
    _doc, text = _through(path, embedder)
    _assert_one_form(text, (corpus.CJK, corpus.ARABIC, corpus.COMPOSED))


def test_a_mail_s_subject_and_attachment_name_are_normal(
    tmp_path: Path, embedder: Embedder
) -> None:
    doc, _text = _through(corpus.write_eml(tmp_path / "forms.eml"), embedder)
    assert doc.metadata["subject"] == f"{corpus.TITLE} and {corpus.COMPOSED}"
    assert [a.name for a in doc.attachments] == ["résumé.txt"]
    assert unicodedata.is_normalized("NFC", doc.attachments[0].name)
