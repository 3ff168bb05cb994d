"""Generation profiles: the packaged small model's steering stays in its profile; a model served
by vLLM gets plain rules; figures are computed by code under both."""

from typing import get_args

import pytest

from core.settings import Settings
from generation import profiles
from generation.prompt import EXAMPLE, NOT_IN_DOCUMENTS, PLAIN_INSTRUCTIONS
from generation.rag import Answer, answer
from retrieval.types import ScoredChunk

SMALL = profiles.DEFAULT
PLAIN = profiles.PLAIN


class _Stub:
    """A generator that streams fixed replies in turn and keeps the prompts it was sent."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict[str, str]]] = []

    def token_counter(self, fallback):  # type: ignore[no-untyped-def]
        return fallback

    def observe_prompt(self, tokens: int, seconds: float) -> None:
        pass

    def stream_chat(self, messages, max_tokens=384, grammar=None):  # type: ignore[no-untyped-def]
        self.prompts.append(messages)
        reply = self.replies.pop(0) if self.replies else ""
        words = reply.split(" ")
        yield from (w if i == 0 else " " + w for i, w in enumerate(words))


def chunk(n: int, text: str) -> ScoredChunk:
    return ScoredChunk(n, f"d{n}", f"doc{n}.pdf", "c", text, 1, None, 1.0)


NOTE = [chunk(1, "The cold store in Lenby holds 4,800 tonnes of apples.")]
TABLE = chunk(
    1,
    "Condensed statement of operations (in millions)\n| | Q3 2023 | Q3 2022 |\n|---|---|---|\n"
    "| Revenue | 5,678 | 5,100 |\n| EBITDA | 1,500 | 700 |",
)


def run(question: str, passages: list[ScoredChunk], stub: _Stub, profile) -> Answer:  # type: ignore[no-untyped-def]
    *_, last = answer(question, passages, stub, profile=profile)  # type: ignore[arg-type]
    assert isinstance(last, Answer)
    return last


def test_the_settings_name_every_profile() -> None:
    annotation = Settings.model_fields["generator_profile"].annotation
    names = {a for arg in get_args(annotation) for a in get_args(arg)}
    assert names == set(profiles.PROFILES)


def test_a_profile_is_chosen_by_name_else_by_how_the_model_is_served() -> None:
    assert profiles.profile_for(Settings()) is profiles.DEFAULT
    vllm = Settings(generator_url="http://gpu:8000/v1", start_generator=False)
    assert profiles.profile_for(vllm) is PLAIN
    # askdocs serves its packaged model itself, at whatever URL it was given
    assert profiles.profile_for(Settings(generator_url="http://127.0.0.1:9/v1")) is profiles.DEFAULT
    assert profiles.profile_for(Settings(generator_gguf="/models/other.gguf")) is PLAIN
    assert profiles.profile_for(Settings(generator_model="Qwen/Qwen2.5-7B-Instruct")) is PLAIN
    named = Settings(generator_url="http://gpu:8000/v1", generator_profile="qwen2.5-coder-1.5b")
    assert profiles.profile_for(named).name == "qwen2.5-coder-1.5b"
    with pytest.raises(profiles.UnknownProfile):
        profiles.choose("gpt-9", served_elsewhere=False)


def test_bad_profile_setting_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="generator_profile"):
        Settings(generator_profile="gpt-9")  # type: ignore[arg-type]


def test_every_packaged_profile_names_its_model_and_plain_names_none() -> None:
    for p in profiles.PROFILES.values():
        assert (p.model is None) == (p is PLAIN)


def test_plain_rules_hold_no_example_sentence_to_copy() -> None:
    stub = _Stub("The cold store holds 4,800 tonnes [1].")
    run("How many tonnes does the cold store hold?", NOTE, stub, PLAIN)
    body = stub.prompts[0][0]["content"]
    assert body.startswith(PLAIN_INSTRUCTIONS) and EXAMPLE not in body
    stub = _Stub("The cold store holds 4,800 tonnes [1].")
    run("How many tonnes does the cold store hold?", NOTE, stub, SMALL)
    assert EXAMPLE in stub.prompts[0][0]["content"]


def test_the_small_model_profile_filters_the_example_and_reads_paraphrased_refusals() -> None:
    # the small model repeats the example: nothing of it is an answer
    assert run("How big?", NOTE, _Stub(EXAMPLE), SMALL).abstained
    # a paraphrased refusal is one, and the second look is asked (and here copies nothing)
    stub = _Stub("The sources do not provide this information.", "Nothing.")
    last = run("How many tonnes does the cold store hold?", NOTE, stub, SMALL)
    assert last.abstained and len(stub.prompts) == 2


def test_the_plain_profile_takes_only_its_own_refusal_sentence_and_never_looks_again() -> None:
    stub = _Stub(NOT_IN_DOCUMENTS)
    last = run("How many pears?", NOTE, stub, PLAIN)
    assert last.abstained and len(stub.prompts) == 1  # no second look
    # a capable model's sentence that mentions what the sources lack while answering is an answer
    stub = _Stub(
        "The cold store holds 4,800 tonnes of apples [1]; the sources do not mention pears."
    )
    last = run("How many tonnes of apples and pears?", NOTE, stub, PLAIN)
    assert not last.abstained and last.citations


def test_the_second_look_quote_replaces_a_refusal_only_under_the_small_profile() -> None:
    quote = "The cold store in Lenby holds 4,800 tonnes of apples [1]."
    q = "How many tonnes of apples does the cold store in Lenby hold?"
    last = run(q, NOTE, _Stub("The sources do not provide this.", quote), SMALL)
    assert not last.abstained and last.second_look and "4,800" in last.text


@pytest.mark.parametrize("profile", [SMALL, PLAIN], ids=lambda p: p.name)
def test_a_margin_is_computed_by_code_under_both_profiles(profile) -> None:  # type: ignore[no-untyped-def]
    stub = _Stub("profit = 1,500 [1]\nrevenue = 5,678 [1]")
    last = run("What was the EBITDA margin in Q3 2023?", [TABLE], stub, profile)
    assert last.computed and not last.abstained
    assert last.text == "EBITDA margin = 1,500 / 5,678 = 26.4% [1]"
    # the model was asked for the calculation, not the answer
    assert "EBITDA margin = 1,234 [1] / 5,678 [1]" in stub.prompts[0][0]["content"]
    assert [c.number for c in last.citations] == [1] and last.citations[0].supported
    span = last.citations[0].span
    assert span is not None and "| EBITDA | 1,500 |" in TABLE.text[span[0] : span[1]]


@pytest.mark.parametrize("profile", [SMALL, PLAIN], ids=lambda p: p.name)
def test_the_calculation_the_model_writes_is_computed_again_by_code(profile) -> None:  # type: ignore[no-untyped-def]
    """The model writes the calculation and a wrong result: the result shown is askdocs' own."""
    stub = _Stub("EBITDA margin = 1,500 [1] / 5,678 [1] * 100% = 29.7%")
    last = run("What was the EBITDA margin in Q3 2023?", [TABLE], stub, profile)
    assert last.computed and not last.abstained and len(stub.prompts) == 1
    assert last.text == "EBITDA margin = 1,500 / 5,678 = 26.4% [1]"
    assert last.citations[0].supported


@pytest.mark.parametrize("profile", [SMALL, PLAIN], ids=lambda p: p.name)
def test_a_calculation_with_a_figure_no_passage_has_is_not_computed(profile) -> None:  # type: ignore[no-untyped-def]
    """A figure of the calculation that is in no passage: nothing is computed, the question is
    answered the ordinary way (where the grammar lets the small model copy figures only)."""
    stub = _Stub("EBITDA margin = 1,543 [1] / 5,678 [1]", "EBITDA was 1,500 in Q3 2023 [1].")
    last = run("What was the EBITDA margin in Q3 2023?", [TABLE], stub, profile)
    assert not last.computed and len(stub.prompts) == 2
    assert "1,543" not in last.text and "1,500" in last.text


@pytest.mark.parametrize("profile", [SMALL, PLAIN], ids=lambda p: p.name)
def test_an_operand_missing_from_its_passage_is_refused(profile) -> None:  # type: ignore[no-untyped-def]
    stub = _Stub("profit = 1,543 [1]\nrevenue = 5,678 [1]")
    last = run("What was the EBITDA margin in Q3 2023?", [TABLE], stub, profile)
    assert last.abstained and not last.computed and "1,543" in last.text


def test_a_reply_without_operands_falls_back_to_an_ordinary_answer() -> None:
    stub = _Stub("EBITDA was strong.", "EBITDA was 1,500 in Q3 2023 [1].")
    last = run("What was the EBITDA margin in Q3 2023?", [TABLE], stub, PLAIN)
    assert len(stub.prompts) == 2 and not last.computed and "1,500" in last.text


@pytest.mark.parametrize("profile", [SMALL, PLAIN], ids=lambda p: p.name)
def test_the_fallback_prompt_is_a_prefix_of_the_operand_prompt(profile) -> None:  # type: ignore[no-untyped-def]
    """The operand step asks after the ordinary prompt, so a fallback to an ordinary answer
    sends a prompt the server's cache already holds."""
    stub = _Stub("EBITDA was strong.", "EBITDA was 1,500 in Q3 2023 [1].")
    run("What was the EBITDA margin in Q3 2023?", [TABLE], stub, profile)
    operands, ordinary = (m[-1]["content"] for m in stub.prompts[:2])
    assert operands.startswith(ordinary) and len(operands) > len(ordinary)
    assert "EBITDA margin = 1,234 [1] / 5,678 [1]" in operands[len(ordinary) :]


def test_computation_can_be_turned_off_in_a_profile() -> None:
    from dataclasses import replace

    stub = _Stub("The EBITDA margin was 26% [1].")
    off = replace(PLAIN, computed_figures=False)
    last = run("What was the EBITDA margin in Q3 2023?", [TABLE], stub, off)
    assert len(stub.prompts) == 1 and not last.computed


def test_every_packaged_model_is_a_declared_dependency() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    declared = {d.split("==")[0].replace("-", "_") for d in project["dependencies"]}
    extras = {
        d.split("==")[0].replace("-", "_")
        for ds in project["optional-dependencies"].values()
        for d in ds
    }
    for p in profiles.PROFILES.values():
        if p.model is None or p is profiles.SMOLLM2_PROFILE:  # the tests' model: install.sh
            continue
        needed = {pkg for pkg, _ in p.model.parts}
        where = declared if p is profiles.DEFAULT else declared | extras
        assert needed <= where, p.name


def test_askdocs_up_serves_the_named_profiles_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from askdocs.stack import generator

    service = generator(Settings(generator_profile="smollm2-135m", data_dir=tmp_path))
    model = service.argv[service.argv.index("--model") + 1]
    assert model.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.parametrize("profile", [SMALL, PLAIN], ids=lambda p: p.name)
def test_a_calculation_in_the_ordinary_answer_is_computed_again_and_never_streamed(profile) -> None:  # type: ignore[no-untyped-def]
    """The operand step gave no calculation; answering the ordinary way, the model computes in
    its own words: that answer is held back, and the calculation askdocs checks replaces it."""
    from generation.rag import Token

    stub = _Stub("EBITDA was strong.", "The margin is (1,500 / 5,678) * 100% = 25 [1].")
    events = list(answer("What was the EBITDA margin in Q3 2023?", [TABLE], stub, profile=profile))  # type: ignore[arg-type]
    last = events[-1]
    assert isinstance(last, Answer) and last.computed and not last.abstained
    assert last.text == "EBITDA margin = 1,500 / 5,678 = 26.4% [1]"
    streamed = "".join(e.text for e in events if isinstance(e, Token))
    assert streamed == last.text and "= 25" not in streamed


def test_an_ordinary_answer_to_a_calculation_question_without_one_is_shown_whole() -> None:
    stub = _Stub("EBITDA was strong.", "EBITDA was 1,500 in Q3 2023 [1].")
    last = run("What was the EBITDA margin in Q3 2023?", [TABLE], stub, SMALL)
    assert not last.computed and last.text.startswith("EBITDA was 1,500 in Q3 2023 [1].")
