"""A PDF whose text holds characters beyond U+FFFF (mathematical bold letters, an emoji), CJK,
Arabic and a decomposed accent, through the worker's own steps (the parse child, the normalisation,
chunking, embedding, the indexer): it ends ready, its chunks hold the composed, whole characters,
and a search finds it by them."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import select

from bench import make_text_corpus as corpus
from core.catalog import Chunk
from tests.service.conftest import Harness

pytestmark = pytest.mark.service

FIXTURE_PDF = Path(__file__).resolve().parent.parent / "fixtures" / "text-forms.pdf"


def test_a_pdf_beyond_the_basic_plane_ends_ready(harness: Harness) -> None:
    sent = harness.upload("forms", ("proof.pdf", FIXTURE_PDF.read_bytes()))
    doc_id = sent["documents"][0]["id"]
    harness.work()
    docs = harness.documents("forms")
    assert [(d["name"], d["status"]) for d in docs] == [("proof.pdf", "ready")], docs
    with harness.services.catalog.reader() as s:
        texts = list(s.scalars(select(Chunk.text).where(Chunk.document_id == doc_id)))
    text = "\n".join(texts)
    for piece in corpus.EXPECTED:
        assert piece in text, (piece, text)
    assert "\x00" not in text and re.search("[\ud800-\udfff]", text) is None
    assert unicodedata.is_normalized("NFC", text)
    hits = harness.search("forms", f"{corpus.CJK} {corpus.ARABIC}")
    assert [h["document_name"] for h in hits][:1] == ["proof.pdf"]


def test_a_question_typed_with_a_combining_accent_finds_the_composed_word(
    harness: Harness,
) -> None:
    """A question is made the same form as the passages: "Pe\u0301rez" (e + U+0301, as some
    keyboards and copied text give it) finds a document that spells it with é, by its words."""
    harness.upload(
        "accents",
        ("ledger.txt", "Señor Pérez audited the Quetzaltenango cooperative in March.".encode()),
        ("other.txt", b"The harbour master counts trawlers at dawn."),
    )
    harness.work()
    query = "Pe\u0301rez Quetzaltenango"
    assert not unicodedata.is_normalized("NFC", query)
    r = harness.client.post(
        "/search", json={"collection": "accents", "query": query, "k": 1, "mode": "lexical"}
    )
    assert r.status_code == 200, r.text
    assert [p["document_name"] for p in r.json()["passages"]] == ["ledger.txt"]
    r = harness.client.post(
        "/search", json={"collection": "accents", "query": "Pe\u0301rez", "k": 1, "mode": "lexical"}
    )
    assert [p["document_name"] for p in r.json()["passages"]] == ["ledger.txt"]
