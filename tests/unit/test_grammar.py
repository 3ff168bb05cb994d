"""The grammars that make the generator copy figures: which figures they offer, and that each
parses in llama.cpp's own grammar parser and offers exactly those figures."""

from __future__ import annotations

import re

import llama_cpp
import pytest

from generation import grammar
from generation.models import SMOLLM2_135M, resolve


def test_passage_figures_are_as_written_each_once() -> None:
    texts = ["Net sales were $81,797 million, up from 82,959.", "Margin 44.5%; 81,797 again."]
    assert grammar.passage_figures(texts, also=("Q3 2023",)) == [
        "81,797",
        "82,959",
        "44.5",
        "3",
        "2023",
    ]


def test_passage_figures_are_capped() -> None:
    many = " ".join(str(n) for n in range(10, 5000))
    assert len(grammar.passage_figures([many])) == grammar.MAX_FIGURES


def _expand(rules: dict[str, list[str]], name: str) -> set[str]:
    """Every string the trie rules under ``name`` match (alternatives of literals, each maybe
    followed by one sub-rule)."""
    out: set[str] = set()
    for alt in rules[name]:
        m = re.fullmatch(r'"([^"]*)"(?: (\S+))?', alt.strip())
        assert m, alt
        head, sub = m.group(1), m.group(2)
        out |= {head + tail for tail in _expand(rules, sub)} if sub else {head}
    return out


def _trie(text: str, name: str = "fig") -> dict[str, list[str]]:
    rules = {}
    for line in text.splitlines():
        left, _, right = line.partition(" ::= ")
        if left == name or left.startswith(f"{name}-"):
            rules[left] = right.split(" | ")
    return rules


@pytest.mark.parametrize(
    "figures",
    [["5,466"], ["5", "5,466", "5,466.25", "54", "2023", "2022"], ["1", "10", "100", "1,000"]],
)
def test_the_trie_offers_exactly_the_figures(figures: list[str]) -> None:
    text = grammar.copy_grammar(figures, 3)
    assert _expand(_trie(text), "fig") == set(figures)


def test_the_trie_follows_few_alternatives_at_each_digit() -> None:
    figures = grammar.passage_figures([" ".join(f"{n:,}" for n in range(1000, 9000, 7))])
    rules = _trie(grammar.copy_grammar(figures, 5))
    assert max(len(alts) for alts in rules.values()) <= 12


def test_citations_name_only_the_passages_given() -> None:
    text = grammar.copy_grammar(["12"], 3)
    cite = next(line for line in text.splitlines() if line.startswith("cite-n ::="))
    assert re.findall(r'"(\d+)"', cite) == ["1", "2", "3"]


def test_outside_a_figure_no_grammar_rule_forbids_a_non_digit() -> None:
    """The server checks a grammar against its likeliest tokens only: the free text takes any
    character but a digit (and "[" only as a citation's or before a non-digit)."""
    for text in (grammar.copy_grammar(["5,466"], 2), grammar.copy_grammar([], 2)):
        assert f"[^{grammar.digit_class()}\\[]" in text and "br ::=" in text


@pytest.fixture(scope="module")
def vocab(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The packaged SmolLM2's vocabulary, loaded alone: what llama.cpp parses a grammar against."""
    model = llama_cpp.Llama(
        str(resolve(SMOLLM2_135M, tmp_path_factory.mktemp("m"))), vocab_only=True, verbose=False
    )
    yield llama_cpp.llama_model_get_vocab(model._model.model)
    model.close()


def _parses(vocab, text: str) -> bool:  # type: ignore[no-untyped-def]
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode(), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


@pytest.mark.parametrize(
    "text",
    [
        grammar.copy_grammar(["5,466", "81,797", "2023", "3"], 4),
        grammar.copy_grammar([], 2),
    ],
)
def test_llama_cpp_parses_the_grammars(vocab, text: str) -> None:  # type: ignore[no-untyped-def]
    assert _parses(vocab, text)


def test_llama_cpp_refuses_a_broken_grammar(vocab) -> None:  # type: ignore[no-untyped-def]
    """The parse check above can fail."""
    assert not _parses(vocab, "root ::= [unclosed")


def test_an_answer_may_end_on_a_figure_and_its_period() -> None:
    """After "... was 5,466." the sampler may stop: the root allows a figure and a period last
    (else the model is made to write on after its answer)."""
    root = grammar.copy_grammar(["5,466"], 1).splitlines()[0]
    assert root.endswith("( fig cites [,.]? )?")


def test_no_script_s_digits_get_past_the_grammar() -> None:
    """Held back from ASCII digits, a model writes a figure in mathematical bold or full-width
    digits ("𝟱,𝟎𝟎𝟎%" was seen on sec-10q): the grammars' free text refuses every number
    character of any script, as their character class says."""
    outside = re.compile(f"[^{grammar.digit_class()}]")
    for ch in "7𝟱𝟎５٣²½Ⅳ①":
        assert outside.fullmatch(ch) is None, ch
    for ch in "a$%.,é€ü—":
        assert outside.fullmatch(ch) is not None, ch
    for g in (grammar.copy_grammar(["5,466"], 2), grammar.copy_grammar([], 2)):
        assert grammar.digit_class() in g


@pytest.fixture(scope="module")
def accepts(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Whether llama.cpp's grammar sampler lets a model write ``text`` under a grammar: each
    token of the packaged SmolLM2's tokenization offered alone, then accepted if not masked."""
    import ctypes

    model = llama_cpp.Llama(
        str(resolve(SMOLLM2_135M, tmp_path_factory.mktemp("m"))), vocab_only=True, verbose=False
    )
    vocab = llama_cpp.llama_model_get_vocab(model._model.model)

    def check(g: str, text: str) -> bool:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, g.encode(), b"root")
        try:
            for token in model.tokenize(text.encode(), add_bos=False, special=False):
                data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
                candidates = llama_cpp.llama_token_data_array(data, 1, -1, False)
                llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
                if data[0].logit == float("-inf"):
                    return False
                llama_cpp.llama_sampler_accept(sampler, token)
            return True
        finally:
            llama_cpp.llama_sampler_free(sampler)

    yield check
    model.close()


COPY = grammar.copy_grammar(["26", "21,213", "81,797", "2023", "44.5", "5,466", *"0123456789"], 3)


@pytest.mark.parametrize(
    "text",
    [
        "Services were 21,213 [2].",
        "It was 81,797 and 26 units.",
        "In Q3 2023, 3 segments grew.",
        "It was 21,213.\nThe total was 81,797 [1].",
        "It was 21,213 [1], 3 of them",
        "July 1, 2023",
        "was 44.5% [1][2].",
        "was 21,213 [1] [2]. Next",
        "was 5,466.",
        "ends in 2023 [1]",
    ],
)
def test_the_copy_grammar_lets_the_model_write_the_passages_figures(accepts, text: str) -> None:  # type: ignore[no-untyped-def]
    assert accepts(COPY, text)


@pytest.mark.parametrize(
    "text",
    [
        "It was 21,2134",  # a figure glued from two
        "It is 26.7%",  # a figure no passage has
        "It is 26. 7%",  # the same, its decimal point faked with a space
        "It was 5 [1]. 8%",  # and with a citation between
        "It is 26.\n7",
        "It is 𝟮𝟲.𝟳%",  # another script's digits
    ],
)
def test_the_copy_grammar_stops_a_figure_the_passages_do_not_have(accepts, text: str) -> None:  # type: ignore[no-untyped-def]
    assert not accepts(COPY, text)


def test_after_a_figure_s_period_the_spaces_end(accepts) -> None:  # type: ignore[no-untyped-def]
    """A model held back from "5.8" wrote "(5." and then spaces until its token budget was spent
    (sec-10q, the 1.5B model): after a figure's period at most two spaces or newlines come."""
    assert accepts(COPY, "It was 5.\n\nThe next")
    assert not accepts(COPY, "It was 5.    ")
