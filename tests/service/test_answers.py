"""The answer service in this process: access, retrieval, the relevance gate, generation, citations
and the stored turn, without HTTP. The generator here is a deterministic OpenAI-compatible stub
that quotes passage [1] of the prompt (a unit test of the prompt path only: the real generators,
llama.cpp and vLLM, answer in tests/integration). The service runs under the packaged small
model's generation profile (its second look) and under the plain profile of a served model."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.answering import AnswerService, Question
from core import conversations
from core.auth import LOCAL, Principal
from core.errors import NotFound
from generation.client import GeneratorClient
from generation.prompt import SECOND_LOOK
from tests.service.conftest import Harness

pytestmark = pytest.mark.service

FERRY = (
    b"The Lindqvist ferry leaves the north pier at 07:40 every weekday. On Sundays it does not run."
)
RESULTS = (
    b"# Nordwind Shipping quarterly results\n\n"
    b"Condensed statement of operations of Nordwind Shipping (in millions)\n\n"
    b"| Line | Q3 2025 | Q3 2024 |\n|---|---|---|\n"
    b"| Revenue | 5,678 | 5,100 |\n| EBITDA | 1,500 | 700 |\n"
)


class StubGenerator(BaseHTTPRequestHandler):
    """``/v1/models`` lists one model; ``/v1/chat/completions`` streams the first sentence of
    passage [1] with its marker (or the follow-up question itself, when asked to rewrite one).
    ``fail`` set: the completion answers 500."""

    prompts: list[str] = []
    fail = False
    refuse = False  # answers the refusal sentence whatever it was given
    # refuses, then, asked to look again, copies passage [1] whole with its numbered header (as
    # the packaged 0.5B model does)
    refuse_first = False
    # the reply to the operand step of a computed answer (generation.figures)
    operands = ""

    def log_message(self, *_args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(
            200,
            json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}).encode(),
        )

    def do_POST(self) -> None:
        if not self.path.endswith("/chat/completions"):  # no tokenize route: the client estimates
            self._send(404, b'{"error": "not found"}')
            return
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = req["messages"][-1]["content"]
        type(self).prompts.append(prompt)
        if type(self).fail:
            self._send(500, b'{"error": {"message": "stub down"}}')
            return
        follow = re.search(r"Follow-up question: (.+)", prompt)
        first_prompt = req["messages"][0]["content"]
        copy = re.search(r"(\[1\] \(from [^)]*\)\n.+?)(?:\n\n|$)", first_prompt, re.S)
        if "do not compute anything" in prompt or "askdocs computes it" in prompt:
            reply = type(self).operands
        elif type(self).refuse_first and prompt == SECOND_LOOK and copy:
            reply = copy.group(1)
        elif type(self).refuse or type(self).refuse_first:
            reply = "The documents do not answer this question."
        elif follow:
            reply = follow.group(1).strip()
        else:
            passage = re.search(r"\[1\] \(from [^)]*\)\n(.+?\.)", prompt, re.S)
            reply = f"{passage.group(1).strip()} [1]" if passage else "I do not know."
        chunks = [reply[i : i + 12] for i in range(0, len(reply), 12)]
        body = (
            "".join(
                "data: "
                + json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": "stub",
                        "choices": [{"index": 0, "delta": {"content": c}, "finish_reason": None}],
                    }
                )
                + "\n\n"
                for c in chunks
            )
            + "data: [DONE]\n\n"
        )
        self._send(200, body.encode(), "text/event-stream")


@pytest.fixture(scope="module")
def answers(harness: Harness) -> Iterator[AnswerService]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubGenerator)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    generator = GeneratorClient(f"http://127.0.0.1:{server.server_address[1]}/v1", timeout=10)
    harness.upload("ferries", ("ferry.txt", FERRY))
    harness.upload("results", ("nordwind.md", RESULTS))
    harness.work()
    s = harness.services
    small = harness.settings.model_copy(update={"generator_profile": "qwen2.5-coder-0.5b"})
    service = AnswerService(s.catalog, s.retriever, generator, small)
    plain = harness.settings.model_copy(update={"generator_profile": "plain"})
    service.plain = AnswerService(s.catalog, s.retriever, generator, plain)  # type: ignore[attr-defined]
    yield service
    server.shutdown()


def test_an_answer_cites_the_passage_it_came_from(answers: AnswerService) -> None:
    StubGenerator.prompts.clear()
    events = list(answers.ask(LOCAL, Question("ferries", "When does the Lindqvist ferry leave?")))
    kinds = [e for e, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and "token" in kinds
    sources, done = events[0][1], events[-1][1]
    assert [p["document_name"] for p in sources["passages"]][:1] == ["ferry.txt"]
    assert "07:40" in done["answer"] and not done["abstained"]
    assert [(c["number"], c["document_name"], c["supported"]) for c in done["citations"]] == [
        (1, "ferry.txt", True)
    ]
    assert "".join(d["text"] for e, d in events if e == "token").strip() in done["answer"]
    assert len(StubGenerator.prompts) == 1 and "07:40" in StubGenerator.prompts[0]


def test_a_follow_up_reads_its_conversation(answers: AnswerService) -> None:
    first = list(answers.ask(LOCAL, Question("ferries", "When does the Lindqvist ferry leave?")))
    conv = first[-1][1]["conversation_id"]
    StubGenerator.prompts.clear()
    again = list(answers.ask(LOCAL, Question("ferries", "Does it run on Sundays?", conv)))
    assert again[-1][0] == "done" and again[-1][1]["conversation_id"] == conv
    assert "Previous question: When does the Lindqvist ferry leave?" in StubGenerator.prompts[0]
    with answers.catalog.reader() as s:
        assert len(conversations.turns(s, conv)) == 2


def test_an_unrelated_question_is_gated_without_the_generator(answers: AnswerService) -> None:
    StubGenerator.prompts.clear()
    events = list(answers.ask(LOCAL, Question("ferries", "What is the boiling point of tungsten?")))
    done = events[-1][1]
    assert done["below_relevance_threshold"] and done["abstained"] and done["citations"] == []
    assert StubGenerator.prompts == []


def test_a_refusal_over_relevant_passages_shows_the_closest_evidence(
    answers: AnswerService,
) -> None:
    StubGenerator.refuse = True
    try:
        events = list(
            answers.ask(LOCAL, Question("ferries", "Does the Lindqvist ferry run on Sundays?"))
        )
    finally:
        StubGenerator.refuse = False
    done = events[-1][1]
    assert done["abstained"] and not done["below_relevance_threshold"]
    assert done["citations"] == [] and done["passages_given"] >= 1
    best = done["closest_evidence"][0]
    assert (best["number"], best["document_name"]) == (1, "ferry.txt")
    assert best["sentence"] == "On Sundays it does not run."
    streamed = "".join(d["text"] for e, d in events if e == "token")
    assert "Closest evidence" in streamed and "On Sundays it does not run." in done["answer"]
    assert done["answer"].startswith("The documents do not answer this question.")


def test_a_refusal_gives_way_to_the_line_the_model_quotes_when_asked_again(
    answers: AnswerService,
) -> None:
    StubGenerator.refuse_first = True
    StubGenerator.prompts.clear()
    try:
        events = list(
            answers.ask(LOCAL, Question("ferries", "When does the Lindqvist ferry leave?"))
        )
        asked = list(StubGenerator.prompts)
        # the quote does not hold what this question asks about (cars): the refusal stands
        other = list(
            answers.ask(LOCAL, Question("ferries", "How many cars does the Lindqvist ferry take?"))
        )
    finally:
        StubGenerator.refuse_first = False
    done = events[-1][1]
    assert len(asked) == 2 and asked[1] == SECOND_LOOK
    assert done["second_look"] and not done["abstained"]
    assert done["answer"] == "The Lindqvist ferry leaves the north pier at 07:40 every weekday [1]."
    assert [(c["number"], c["supported"]) for c in done["citations"]] == [(1, True)]
    streamed = "".join(d["text"] for e, d in events if e == "token")
    assert streamed == done["answer"]  # the held-back refusal never reached the reader
    done = other[-1][1]
    assert done["abstained"] and not done["second_look"]
    assert done["answer"].startswith("The documents do not answer this question.")


def test_a_served_model_gets_plain_rules_and_no_second_look(answers: AnswerService) -> None:
    plain: AnswerService = answers.plain  # type: ignore[attr-defined]
    assert plain.profile.name == "plain" and answers.profile.name == "qwen2.5-coder-0.5b"
    StubGenerator.refuse_first = True
    StubGenerator.prompts.clear()
    try:
        events = list(plain.ask(LOCAL, Question("ferries", "When does the Lindqvist ferry leave?")))
    finally:
        StubGenerator.refuse_first = False
    done = events[-1][1]
    assert len(StubGenerator.prompts) == 1 and "Paris" not in StubGenerator.prompts[0]
    assert done["abstained"] and not done["second_look"]


@pytest.mark.parametrize("profile", ["small", "plain"])
def test_a_margin_is_computed_from_operands_found_in_the_cited_passage(
    answers: AnswerService, profile: str
) -> None:
    service = answers if profile == "small" else answers.plain  # type: ignore[attr-defined]
    question = Question("results", "What was the EBITDA margin of Nordwind Shipping in Q3 2025?")
    # the calculation the model writes (its result is not read), or the operands line by line
    for reply in (
        "EBITDA margin = 1,500 [1] / 5,678 [1] * 100 = 30%",
        "profit = 1,500 [1]\nrevenue = 5,678 [1]",
    ):
        StubGenerator.operands = reply
        done = list(service.ask(LOCAL, question))[-1][1]
        assert done["computed"] and not done["abstained"]
        assert done["answer"] == "EBITDA margin = 1,500 / 5,678 = 26.4% [1]"
        cited = done["citations"][0]
        assert cited["supported"] and cited["document_name"] == "nordwind.md"
        assert "| EBITDA | 1,500 |" in cited["passage"][cited["span"][0] : cited["span"][1]]
    # a figure the passage does not hold is never computed: named as an operand, it is refused;
    # in a calculation, the question is answered the ordinary way
    StubGenerator.operands = "profit = 1,550 [1]\nrevenue = 5,678 [1]"
    done = list(service.ask(LOCAL, question))[-1][1]
    assert done["abstained"] and not done["computed"] and "1,550" in done["answer"]
    StubGenerator.operands = "EBITDA margin = 1,550 [1] / 5,678 [1]"
    done = list(service.ask(LOCAL, question))[-1][1]
    StubGenerator.operands = ""
    assert not done["computed"] and "1,550" not in done["answer"]


def test_refusals_are_domain_errors(answers: AnswerService) -> None:
    with pytest.raises(NotFound, match="no collection"):
        list(answers.ask(LOCAL, Question("nowhere", "When does the ferry leave?")))
    with pytest.raises(NotFound, match="no conversation"):
        list(answers.ask(LOCAL, Question("ferries", "When?", "no-such-conversation")))
    stranger = Principal(user="stranger", admin=False)
    with pytest.raises(NotFound):  # a collection one may not read is one that does not exist
        list(answers.ask(stranger, Question("ferries", "When does the ferry leave?")))


def test_a_generator_failure_mid_stream_ends_with_an_error_event(answers: AnswerService) -> None:
    StubGenerator.fail = True
    try:
        events = list(
            answers.ask(LOCAL, Question("ferries", "When does the Lindqvist ferry leave?"))
        )
    finally:
        StubGenerator.fail = False
    assert [e for e, _ in events] == ["sources", "error"]
    assert events[-1][1]["type"] == "generator_unavailable"
    assert set(events[-1][1]) == {"type", "message"}


def test_the_routes_map_errors_to_the_envelope(harness: Harness) -> None:
    # the harness's own generator does not answer: a relevant question gets 503 before any stream
    harness.upload("ferries", ("ferry.txt", FERRY))
    r = harness.client.post(
        "/ask", json={"collection": "ferries", "question": "When does the Lindqvist ferry leave?"}
    )
    assert r.status_code == 503 and r.json()["error"]["type"] == "generator_unavailable"
    r = harness.client.post("/ask", json={"collection": "nowhere", "question": "When?"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    r = harness.client.post(
        "/ask",
        json={"collection": "ferries", "question": "When?", "conversation_id": "nope"},
    )
    assert r.status_code == 404 and "no conversation" in r.json()["error"]["message"]
