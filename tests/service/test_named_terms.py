"""A question naming something no passage found mentions (here a city the ferry timetable never
names) is refused by the answer service before any generator is asked: through the answer service
with a recording generator beside an answerable control question, and through `/ask` and
`/v1/chat/completions` of the app, whose generator answers nothing (asking it would fail)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from api import answering
from api.answering import AnswerService, Question
from core.auth import LOCAL
from core.catalog import Document
from generation.client import GeneratorClient
from tests.service.conftest import Harness
from tests.service.test_answers import FERRY, StubGenerator

pytestmark = pytest.mark.service

COLLECTION = "timetables"
ELSEWHERE = "When does the Lindqvist ferry leave for Tokyo?"
REFUSAL = 'The documents do not answer this question: no passage found mentions "Tokyo".'


@pytest.fixture(scope="module")
def timetables(harness: Harness) -> Harness:
    """The harness with the ferry timetable in ``COLLECTION``."""
    harness.upload(COLLECTION, ("ferry.txt", FERRY))
    harness.work()
    return harness


@pytest.fixture(scope="module")
def answers(timetables: Harness) -> Iterator[AnswerService]:
    """An answer service over the timetable whose generator records every prompt it gets."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubGenerator)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    generator = GeneratorClient(f"http://127.0.0.1:{server.server_address[1]}/v1", timeout=10)
    harness = timetables
    s = harness.services
    yield AnswerService(s.catalog, s.retriever, generator, harness.settings)
    server.shutdown()


def test_a_place_no_passage_mentions_is_refused_without_the_generator(
    answers: AnswerService,
) -> None:
    StubGenerator.prompts.clear()
    events = list(answers.ask(LOCAL, Question(COLLECTION, ELSEWHERE)))
    assert StubGenerator.prompts == []
    kinds = [e for e, _ in events]
    assert kinds == ["sources", "token", "done"]
    sources, token, done = (d for _, d in events)
    # the passage is about the right ferry: the relevance gate lets the question through
    assert [p["document_name"] for p in sources["passages"]][:1] == ["ferry.txt"]
    assert not done["below_relevance_threshold"]
    assert token["text"] == REFUSAL == done["answer"]
    assert done["abstained"] and done["missing_terms"] == ["Tokyo"]
    assert done["citations"] == [] and done["passages_given"] == 0
    # the same ferry without the city is answered, by the generator
    events = list(answers.ask(LOCAL, Question(COLLECTION, "When does the Lindqvist ferry leave?")))
    done = events[-1][1]
    assert len(StubGenerator.prompts) == 1 and "07:40" in done["answer"]
    assert done["missing_terms"] == [] and not done["abstained"]


def test_the_issuer_of_a_passage_s_document_counts_as_mentioned(answers: AnswerService) -> None:
    question = Question(COLLECTION, "When does the Nordhavn Lines ferry leave?")
    StubGenerator.prompts.clear()
    done = list(answers.ask(LOCAL, question))[-1][1]
    assert done["missing_terms"] == ["Nordhavn Lines"] and StubGenerator.prompts == []
    with answers.catalog.session() as s:
        doc = s.query(Document).filter_by(collection_id=COLLECTION, name="ferry.txt").one()
        doc.issuer = "Nordhavn Lines AB"
    try:
        done = list(answers.ask(LOCAL, question))[-1][1]
    finally:
        with answers.catalog.session() as s:
            s.query(Document).filter_by(collection_id=COLLECTION).update({"issuer": None})
    assert done["missing_terms"] == [] and len(StubGenerator.prompts) == 1
    assert "07:40" in done["answer"]


def test_a_word_the_collection_never_uses_is_missing_once_it_is_large_enough(
    answers: AnswerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = Question(COLLECTION, "Which dog leaves on the Lindqvist ferry every weekday?")
    StubGenerator.prompts.clear()
    # one passage says too little of what the collection is about: the generator is asked
    done = list(answers.ask(LOCAL, question))[-1][1]
    assert done["missing_terms"] == [] and len(StubGenerator.prompts) == 1
    lexical = answers.retriever.indexes(COLLECTION).lexical
    assert lexical.has_word("weekdays") and lexical.has_word("piers")  # stemmed: "weekday", "pier"
    assert not lexical.has_word("dog") and lexical.has_word("the")  # a stop word asks nothing
    monkeypatch.setattr(answering, "VOCABULARY_MIN_PASSAGES", lexical.searched)
    done = list(answers.ask(LOCAL, question))[-1][1]
    assert done["missing_terms"] == ["dog"] and done["abstained"]
    assert done["answer"].endswith('no passage found mentions "dog".')
    assert len(StubGenerator.prompts) == 1


def test_ask_and_chat_completions_refuse_with_the_missing_terms(timetables: Harness) -> None:
    harness = timetables
    # the app's generator answers nothing: a route that asked it would fail with 503
    assert harness.services.answers.settings.generator_url == "http://127.0.0.1:9/v1"
    with harness.client.stream(
        "POST", "/ask", json={"collection": COLLECTION, "question": ELSEWHERE}
    ) as r:
        assert r.status_code == 200, r.read()
        body = "".join(r.iter_text())
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in body.strip().split("\n\n")
    ]
    assert [e for e, _ in events] == ["sources", "token", "done"]
    done = events[-1][1]
    assert done["answer"] == REFUSAL and done["missing_terms"] == ["Tokyo"] and done["abstained"]

    messages = [{"role": "user", "content": ELSEWHERE}]
    r = harness.client.post(
        "/v1/chat/completions", json={"model": COLLECTION, "messages": messages}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["choices"][0]["message"]["content"] == REFUSAL
    assert out["askdocs"]["missing_terms"] == ["Tokyo"] and out["askdocs"]["abstained"]
    assert out["citations"] == []

    body = {"model": COLLECTION, "messages": messages, "stream": True}
    with harness.client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200, r.read()
        chunks = [
            line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")
        ]
    assert chunks[-1] == "[DONE]"
    parsed = [json.loads(c) for c in chunks[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in parsed)
    assert text == REFUSAL and parsed[-1]["askdocs"]["missing_terms"] == ["Tokyo"]
