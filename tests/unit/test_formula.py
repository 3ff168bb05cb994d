"""The calculation a model writes, read back and computed again by askdocs (``generation.formula``,
``generation.figures.from_calculation``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generation import figures as F
from generation.formula import Term, read

pytestmark = pytest.mark.unit

TABLE = (
    "Condensed Consolidated Statements of Operations (In millions)\n"
    "| | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022 |\n"
    "|---|---|---|\n"
    "| Services net sales | 21,213 | 19,604 |\n"
    "| Total net sales | 81,797 | 82,959 |\n"
    "| Operating income | 22,998 | 23,076 |\n"
    "| Interest expense | 998 | 0 |\n"
    "| Gross margin percentage | 44.5% | 43.3% |"
)


def _shown(text: str) -> str | None:
    calc = read(text)
    return None if calc is None else calc.shown([t.figure for t in calc.terms])


@pytest.mark.parametrize(
    ("text", "shown", "percent"),
    [
        ("(21,213 - 19,604) / 19,604 * 100% = 10.87%", "(21,213 - 19,604) / 19,604", True),
        ("Services contributed 21,213 / 81,797 * 100% = 25.64% [1]", "21,213 / 81,797", True),
        ("The margin was 29.8% (22,998 / 81,797), a good one.", "22,998 / 81,797", False),
        ("22,998 divided by 81,797 equals 0.28", "22,998 / 81,797", False),
        ("Total = 1,234 [1] + 567 [2] + 89 [2]", "1,234 + 567 + 89", False),
        ("$21,213 × 2 − $19,604", "$21,213 * 2 - $19,604", False),
    ],
)
def test_a_calculation_is_read_as_written(text: str, shown: str, percent: bool) -> None:
    calc = read(text)
    assert calc is not None and _shown(text) == shown and calc.percent is percent


def test_each_figure_keeps_the_source_it_cites_and_the_result_is_not_read() -> None:
    calc = read("Change = (5,678 [1] - 1,234 [2]) / 1,234 [2] = 99%")
    assert calc is not None
    assert calc.terms == [Term("5,678", 1), Term("1,234", 2), Term("1,234", 2)]
    value = calc.evaluate([Decimal(5678), Decimal(1234), Decimal(1234)])
    assert value is not None and round(value, 6) == round(Decimal(4444) / Decimal(1234), 6)


@pytest.mark.parametrize(
    "text",
    [
        "Net sales were 81,797 million [1].",  # one figure, no operator
        "Services net sales = 21,213 [1]\nTotal net sales = 81,797 [1]",  # lines, no operator
        "The documents do not answer this question.",
        "(21,213 - ) / 19,604",  # a broken calculation
    ],
)
def test_text_without_a_calculation_reads_as_none(text: str) -> None:
    assert read(text) is None


def test_operators_bind_as_in_arithmetic() -> None:
    calc = read("2 + 3 * 4")
    assert calc is not None and calc.evaluate([Decimal(2), Decimal(3), Decimal(4)]) == 14
    calc = read("(2 + 3) * 4")
    assert calc is not None and calc.evaluate([Decimal(2), Decimal(3), Decimal(4)]) == 20
    calc = read("8 / 0")
    assert calc is not None and calc.evaluate([Decimal(8), Decimal(0)]) is None


def _compute(question: str, reply: str) -> F.Result | None:
    calc = read(reply)
    assert calc is not None
    return F.from_calculation(question, F.classify(question), calc, [TABLE])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("question", "reply", "answer"),
    [
        (
            "What percentage of total net sales did Services contribute?",
            "Share = 21,213 [1] / 81,797 [1] * 100 = 26%",
            "Share = 21,213 / 81,797 = 25.9% [1]",
        ),
        (
            "What was the operating margin in the quarter ended July 1, 2023?",
            "Operating margin = 22,998 [2] / 81,797 [2]",  # cites a passage not given: re-cited
            "Operating margin = 22,998 / 81,797 = 28.1% [1]",
        ),
        (
            "What was the percentage change in Services net sales from 2022 to 2023?",
            "(21,213 - 19,604) / 19,604 * 100% = 10.87%",
            "Change = (21,213 - 19,604) / 19,604 = +8.2% [1]",
        ),
        (
            "By how much did Services net sales change from 2022 to 2023?",
            "21,213 - 19,604",
            "Change = 21,213 - 19,604 = +1,609 million [1]",
        ),
        (
            "What was the interest coverage ratio?",
            "22,998 / 998",
            "Interest coverage ratio = 22,998 / 998 = 23.04x [1]",
        ),
        (
            "How did the gross margin percentage change from 2022 to 2023?",
            "44.5% - 43.3%",
            "Change = 44.5% - 43.3% = +1.2 points [1]",
        ),
    ],
)
def test_the_result_is_computed_by_askdocs(question: str, reply: str, answer: str) -> None:
    result = _compute(question, reply)
    assert result is not None and not result.refused and result.grounded
    assert result.text == answer


@pytest.mark.parametrize(
    ("question", "reply"),
    [
        ("What was the operating margin?", "22,998 - 81,797"),  # a margin divides
        ("What were the combined sales of Services and all?", "21,213 * 81,797"),  # a total adds
        ("What was the operating margin?", "22,998 / 81,796"),  # a figure in no passage
        ("What was the operating margin?", "22,998 / 2023"),  # a year is no operand
        ("What was the operating margin?", "22,998 / 22,998"),  # one figure twice
        ("What was the operating margin?", "44.5% / 81,797"),  # a percentage and an amount
        ("What was the interest coverage ratio?", "22,998 / 0"),  # no result
    ],
)
def test_a_calculation_askdocs_cannot_stand_behind_computes_nothing(
    question: str, reply: str
) -> None:
    assert _compute(question, reply) is None


def test_a_long_reply_of_figures_and_operators_is_read_in_bounded_windows() -> None:
    """A reply the model was led to fill with an unbalanced run of figures and operators (a
    document can ask for anything) is searched in windows the size of the longest calculation,
    not in all its sub-runs (cubic in the reply: hours at this length, past the suite's
    timeout); a calculation longer than ``MAX_TERMS`` figures is none."""
    text = "(" * 10 + " + ".join(["1,234"] * 1500)
    assert read(text) is None
    assert read("(" * 10 + " + ".join(["1,234"] * 5)) is not None


def test_every_cited_term_of_a_long_sum_is_read() -> None:
    """Citations count as tokens of the run: the whole calculation stays the longest read."""
    assert _shown("Total = 1,234 [1] + 567 [1] + 89 [1] + 410 [1]") == "1,234 + 567 + 89 + 410"


def test_an_operator_word_with_a_look_alike_letter_reads_as_none() -> None:
    """Matched without case, "pluſ" passes for "plus": no calculation, never an error."""
    assert read("5 pluſ 3") is None


def test_a_result_longer_than_askdocs_computes_with_computes_nothing() -> None:
    big = "99,999,999,999,999,999,999"
    passage = f"Units {big} and 7."
    calc = read(f"{big} * {big} * {big} / 7")
    assert calc is not None
    question = "What was the interest coverage ratio?"
    assert F.from_calculation(question, F.classify(question), calc, [passage]) is None  # type: ignore[arg-type]
