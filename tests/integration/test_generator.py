"""The generator client against a real llama.cpp server (SmolLM2: any GGUF is one setting away)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from askdocs.stack import generator
from askdocs.supervisor import Supervisor
from core.settings import Settings
from generation import grammar
from generation.client import GeneratorClient, GeneratorUnavailable
from generation.models import SMOLLM2_135M, resolve
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("gen")
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings(
        data_dir=tmp,
        generator_url=url,
        generator_threads=1,
        generator_ctx=1024,
        generator_gguf=resolve(SMOLLM2_135M, tmp),
    )
    sup = Supervisor(tmp / "logs", echo=lambda _m: None)
    try:
        sup.start(generator(settings))
        yield url
    finally:
        sup.stop_all()


def test_client_lists_models_and_streams(smollm_url: str) -> None:
    client = GeneratorClient(smollm_url)
    assert client.models() == ["askdocs-default"]
    pieces = list(client.stream_chat([{"role": "user", "content": "Say hello."}], max_tokens=16))
    assert len(pieces) >= 2 and "".join(pieces).strip()


def test_a_request_during_a_stream_does_not_cut_it(smollm_url: str) -> None:
    """llama-cpp-python stops a streaming answer when another request arrives unless told not to
    (askdocs tells it): a token count, or another user's question, waits its turn instead."""
    client = GeneratorClient(smollm_url)
    ask = [{"role": "user", "content": "Count from one to thirty in words, separated by commas."}]
    alone = list(client.stream_chat(ask, max_tokens=40))
    pieces = []
    for piece in client.stream_chat(ask, max_tokens=40):
        if not pieces:
            assert client.count_tokens("a token count in the middle of an answer") is not None
        pieces.append(piece)
    assert len(alone) >= 20 and len(pieces) == len(alone)


def test_unreachable_generator_is_a_clear_error() -> None:
    client = GeneratorClient(f"http://127.0.0.1:{free_port()}/v1", timeout=2)
    with pytest.raises(GeneratorUnavailable, match="unavailable"):
        client.models()


def test_packaged_model_checksum_is_enforced(tmp_path) -> None:
    from dataclasses import replace

    from generation.models import ModelFileError

    wrong = replace(SMOLLM2_135M, sha256="0" * 64)
    with pytest.raises(ModelFileError, match="refusing"):
        resolve(wrong, tmp_path)


def test_a_copy_grammar_lets_the_model_write_only_the_passages_figures(smollm_url: str) -> None:
    """With the grammar of ``generation.grammar`` in the request, every number the model writes
    is one the passage states (the prompt invites it to invent others), or a citation marker."""
    passage = "Net sales were 81,797 in the quarter and 82,959 a year before; costs rose 4.5%."
    figures = grammar.passage_figures([passage])
    ask = [
        {
            "role": "user",
            "content": f"[1] {passage}\n\nList ten large numbers, then say what net sales were.",
        }
    ]
    client = GeneratorClient(smollm_url)
    text = "".join(client.stream_chat(ask, max_tokens=80, grammar=grammar.copy_grammar(figures, 1)))
    free = "".join(client.stream_chat(ask, max_tokens=80))
    written = re.findall(r"\d[\d,]*(?:\.\d+)?", re.sub(r"\[1\]", " ", text))
    assert written, text  # it wrote numbers, and each is the passage's own
    assert {w.rstrip(",.") for w in written} <= set(figures), text
    # unconstrained, the same prompt makes it write numbers of its own
    assert {w.rstrip(",.") for w in re.findall(r"\d[\d,]*(?:\.\d+)?", free)} - set(figures), free


def test_the_default_model_answers_a_table_question_with_the_passages_figure(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The packaged default generator (``profiles.DEFAULT``: what `askdocs up` serves when no
    profile is named) loads, verified, and answers from a filing's table with its own figure,
    cited, through the default profile's answer path (grammar included). The stack's other tests
    run the smaller 0.5B model for time."""
    from generation.profiles import DEFAULT
    from generation.rag import Answer, answer
    from retrieval.types import ScoredChunk

    tmp = tmp_path_factory.mktemp("default-gen")
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings(data_dir=tmp, generator_url=url, generator_ctx=2048)
    service = generator(settings)
    assert service.argv[service.argv.index("--model") + 1].endswith(DEFAULT.model.filename)  # type: ignore[union-attr]
    table = (
        "(In millions)\n"
        "| | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022 |\n"
        "| --- | --- | --- |\n"
        "| Total net sales | 81,797 | 82,959 |\n"
        "| Operating income | 22,998 | 23,076 |"
    )
    passage = ScoredChunk(
        1, "d1", "2023 Q3 AAPL.pdf", "c1", table, 4, "Statements of Operations", 1.0
    )
    sup = Supervisor(tmp / "logs", echo=lambda _m: None)
    try:
        sup.start(service)
        *_, last = answer(
            "What were total net sales in the quarter ended July 1, 2023?",
            [passage],
            GeneratorClient(url, timeout=300),
            profile=DEFAULT,
        )
    finally:
        sup.stop_all()
    assert isinstance(last, Answer) and not last.abstained, last
    assert "81,797" in last.text and "[1]" in last.text, last.text
