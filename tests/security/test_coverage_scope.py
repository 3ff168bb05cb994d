"""The coverage check (``generation.coverage``) refuses a question whose words the asked
collection never uses. A user who reads one collection must learn nothing through it of a
collection they cannot read: the words it consults are the asked collection's only, and what it
reports missing are words of the question, never of a document.

The real answer service in this process (real catalog, FAISS and tantivy indexes, the real
embedding model); its generator is an address nothing answers, so a question that got past the
check would fail instead of being refused."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import answering
from api.answering import AnswerService, Question
from core.auth import LOCAL
from generation.client import GeneratorClient, GeneratorUnavailable
from tests.service.conftest import Harness, in_process

pytestmark = pytest.mark.service

OURS = (
    "The Lindqvist ferry leaves pier 4 at 07:40 every weekday and returns at 18:10. "
    "Tickets are sold on board."
)
# another team's collection: a word the asker's collection never uses
THEIRS = "The Lindqvist ferry carries the Kestrelmoor prototype to the island every weekday."
QUESTION = "Does the Lindqvist ferry carry the kestrelmoor prototype every weekday?"


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with tempfile.TemporaryDirectory() as data, in_process(Path(data)) as h:
        h.upload("ours", ("ferry.txt", OURS.encode()))
        h.upload("theirs", ("cargo.txt", THEIRS.encode()))
        h.work()
        yield h


def _service(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> AnswerService:
    s = harness.services
    # the vocabulary rule applies at any size here (it needs 1,000 chunks by default)
    monkeypatch.setattr(answering, "VOCABULARY_MIN_PASSAGES", 1)
    dead = GeneratorClient("http://127.0.0.1:9/v1", timeout=2, retries=0)
    return AnswerService(s.catalog, s.retriever, dead, harness.settings)


def _done(harness: Harness, collection: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    events = list(_service(harness, monkeypatch).ask(LOCAL, Question(collection, QUESTION)))
    return events[-1][1]


def test_another_collection_s_words_are_never_consulted(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(harness, "ours", monkeypatch)
    # "kestrelmoor" is in the other collection only: for this one it is missing
    assert done["abstained"] and "kestrelmoor" in done["missing_terms"]
    assert "Kestrelmoor" not in str(done["citations"])


def test_what_is_reported_missing_comes_from_the_question_only(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(harness, "ours", monkeypatch)
    question_words = {w.strip("?").lower() for w in QUESTION.split()}
    assert done["missing_terms"] and {t.lower() for t in done["missing_terms"]} <= question_words
    # the collection that has the word lets the question through to the generator, which
    # answers nothing here: the generator's error, not a refusal by the check
    with pytest.raises(GeneratorUnavailable):
        _service(harness, monkeypatch).prepare("theirs", QUESTION, [])
