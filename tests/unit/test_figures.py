"""Figures computed by code: question classification, figure parsing with scale, the operand
check against the cited passage, computation and the formula written."""

from decimal import Decimal

import pytest

from generation import figures as F

INCOME = """Condensed statement of operations (in millions)
| | Three Months Ended September 30, 2023 | September 30, 2022 |
|---|---|---|
| Revenue | 5,678 | 5,100 |
| Operating income | 1,234 | (210) |
| Interest expense | 98 | 91 |
| EBITDA | 1,500 | 700 |"""
SEGMENTS = """Net sales by reportable segment (in millions)
| | Q3 2023 | Q3 2022 |
|---|---|---|
| Americas | 35,383 | 37,472 |
| Europe | 20,205 | 19,287 |
| Greater China | 15,758 | 14,604 |"""
PROSE = (
    "Total current liabilities were $5,466 million at quarter end, and the gross margin was 44.5%."
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What was the company's EBITDA margin in Q3 2023?", F.MARGIN),
        ("What is the operating margin for the quarter?", F.MARGIN),
        ("What was the interest coverage ratio?", F.RATIO),
        ("What was the percentage change in revenue from 2022 to 2023?", F.CHANGE),
        ("By how much did revenue increase from Q3 2022 to Q3 2023?", F.CHANGE),
        ("What percentage of total revenue did Services contribute?", F.SHARE),
        ("What proportion of NVIDIA's revenue came from its data center business?", F.SHARE),
        ("What were the combined sales of iPhone and Mac?", F.SUM),
        ("Which segment had the highest net sales in Q3 2023?", F.BEST),
        ("Which region reported the lowest operating income?", F.BEST),
    ],
)
def test_questions_that_ask_for_a_computation(question: str, kind: str) -> None:
    c = F.classify(question)
    assert c is not None and c.kind == kind


@pytest.mark.parametrize(
    "question",
    [
        "What was the gross margin for Apple in the latest 10-Q report?",  # a figure it reports
        "What was Apple's total net sales in Q3 2023?",
        "Who is the chief executive officer?",
        "How has Amazon's total net sales changed over time?",
    ],
)
def test_questions_a_passage_answers_as_is(question: str) -> None:
    assert F.classify(question) is None


def test_lowest_is_told_from_highest() -> None:
    assert F.classify("Which region had the lowest sales?").lowest  # type: ignore[union-attr]
    assert not F.classify("Which region had the highest sales?").lowest  # type: ignore[union-attr]


def test_figures_parse_with_sign_scale_and_percent() -> None:
    assert F.parse_figure("$(1,234.5) million") == F.Figure(
        Decimal("-1234.5"), Decimal(1_000_000), False
    )
    assert F.parse_figure("44.5%") == F.Figure(Decimal("44.5"), Decimal(1), True)
    assert F.parse_figure("-98") == F.Figure(Decimal(-98))
    assert F.parse_figure("n/a") is None


def test_scale_comes_from_the_table_header() -> None:
    assert F.passage_scale(INCOME) == Decimal(1_000_000)
    assert F.passage_scale("(In thousands, except per share data)") == Decimal(1_000)
    assert F.passage_scale("Revenue grew.") == Decimal(1)


def test_operand_lines_are_parsed_in_order() -> None:
    reply = "Here are the figures:\n- profit = 1,234 [1]\nrevenue: $5,678 million [2]\nnothing else"
    ops = F.parse_operands(reply)
    assert ops == [
        F.Operand("profit", "1,234", 1),
        F.Operand("revenue", "$5,678 million", 2),
    ]


def test_a_small_models_loose_lines_still_parse() -> None:
    # no names; no source numbers (the figure then cites the passage that holds it)
    assert F.parse_operands("21,213 [1]\n81,797 [1]") == [
        F.Operand("", "21,213", 1),
        F.Operand("", "81,797", 1),
    ]
    assert F.parse_operands("profit = 1,500\nrevenue = 5,678") == [
        F.Operand("profit", "1,500", 0),
        F.Operand("revenue", "5,678", 0),
    ]
    q = "What was the EBITDA margin?"
    r = F.compute(q, F.classify(q), F.parse_operands("profit = 1,500\nrevenue = 5,678"), [INCOME])  # type: ignore[arg-type]
    assert r is not None and r.text == "EBITDA margin = 1,500 / 5,678 = 26.4% [1]"
    # prose is not an operand line
    assert F.parse_operands("The operating margin was 28.1% [1].") == []
    assert F.parse_operands("Services [1] [2] 3.0%") == []


def test_an_operand_is_located_with_the_passage_scale_not_the_model_word() -> None:
    fig = F.locate(F.Operand("revenue", "5,678 billion", 1), INCOME)
    assert fig == F.Figure(Decimal(5678), Decimal(1_000_000))
    # a parenthesised figure in the table is negative
    fig = F.locate(F.Operand("operating income", "210", 1), INCOME)
    assert fig is not None and fig.value == -210
    # a figure written without its thousands comma is still found
    assert F.locate(F.Operand("liabilities", "5466", 1), PROSE) is not None
    # 5,430,786 is not 5,466; nor is 123 part of 1,234
    assert F.locate(F.Operand("liabilities", "5,430,786", 1), PROSE) is None
    assert F.locate(F.Operand("x", "123", 1), INCOME) is None


def test_margin_is_computed_with_its_formula() -> None:
    q = "What was the EBITDA margin in Q3 2023?"
    ops = F.parse_operands("profit = 1,500 [1]\nrevenue = 5,678 [1]")
    r = F.compute(q, F.classify(q), ops, [INCOME])  # type: ignore[arg-type]
    assert r is not None and not r.refused and r.grounded
    assert r.text == "EBITDA margin = 1,500 / 5,678 = 26.4% [1]"


def test_ratio_share_sum_and_change() -> None:
    ratio = F.classify("What was the interest coverage ratio?")
    r = F.compute(
        "What was the interest coverage ratio?",
        ratio,  # type: ignore[arg-type]
        F.parse_operands("numerator = 1,234 [1]\ndenominator = 98 [1]"),
        [INCOME],
    )
    assert r is not None and r.text == "Interest coverage ratio = 1,234 / 98 = 12.59x [1]"
    share = F.classify("What percentage of total net sales came from Europe?")
    r = F.compute(
        "q",
        share,  # type: ignore[arg-type]
        F.parse_operands("part = 20,205 [2]\ntotal = 71,346 [1]"),
        ["Total net sales were 71,346 (in millions).", SEGMENTS],
    )
    assert r is not None and r.text == "Share = 20,205 / 71,346 = 28.3% [2][1]"
    total = F.classify("What were the combined sales of the Americas and Europe?")
    r = F.compute(
        "q",
        total,  # type: ignore[arg-type]
        F.parse_operands("Americas = 35,383 [1]\nEurope = 20,205 [1]"),
        [SEGMENTS],
    )
    assert r is not None and r.text == "Total = 35,383 + 20,205 = 55,588 million [1]"
    change = F.classify("What was the percentage change in revenue from 2022 to 2023?")
    r = F.compute(
        "q",
        change,  # type: ignore[arg-type]
        F.parse_operands("earlier = 5,100 [1]\nlater = 5,678 [1]"),
        [INCOME],
    )
    assert r is not None and r.text == "Change = 5,678 - 5,100 = +578 million (+11.3%) [1]"


def test_a_share_of_several_parts_adds_them_up() -> None:
    q = "What share of total net sales came from Europe and Greater China?"
    passage = SEGMENTS + "\n| Total net sales | 71,346 | 71,363 |"
    ops = F.parse_operands(
        "Europe = 20,205 [1]\ntotal net sales = 71,346 [1]\nGreater China = 15,758 [1]"
    )
    r = F.compute(q, F.classify(q), ops, [passage])  # type: ignore[arg-type]
    assert r is not None and r.text == "Share = (20,205 + 15,758) / 71,346 = 50.4% [1]"


def test_percentages_change_in_points() -> None:
    c = F.classify("What was the percentage change in gross margin from 2022 to 2023?")
    passage = "Gross margin percentage was 43.3% in 2022 and 44.5% in 2023."
    r = F.compute("q", c, F.parse_operands("earlier = 43.3% [1]\nlater = 44.5% [1]"), [passage])  # type: ignore[arg-type]
    assert r is not None and r.text == "Change = 44.5% - 43.3% = +1.2 points [1]"


def test_an_operand_not_in_its_passage_is_refused_never_guessed() -> None:
    q = "What was the EBITDA margin?"
    ops = F.parse_operands("profit = 1,600 [1]\nrevenue = 5,678 [1]")
    r = F.compute(q, F.classify(q), ops, [INCOME])  # type: ignore[arg-type]
    assert r is not None and r.refused and not r.grounded
    assert "1,600" in r.text and "not in passage [1]" in r.text
    # a figure with the wrong source number cites the passage that holds it
    ops = F.parse_operands("profit = 1,500 [3]\nrevenue = 5,100 [1]")
    r = F.compute(q, F.classify(q), ops, [PROSE, INCOME])  # type: ignore[arg-type]
    assert r is not None and not r.refused and r.text == "EBITDA margin = 1,500 / 5,100 = 29.4% [2]"
    assert [o.source for o in r.operands] == [2, 2]


def test_mixed_percentages_and_amounts_are_refused() -> None:
    q = "What was the operating margin?"
    ops = F.parse_operands("profit = 44.5% [1]\nrevenue = 5,466 [1]")
    r = F.compute(q, F.classify(q), ops, [PROSE])  # type: ignore[arg-type]
    assert r is not None and r.refused


def test_a_reply_without_operands_is_not_computed() -> None:
    q = "What was the operating margin?"
    assert F.compute(q, F.classify(q), F.parse_operands("It was good [1]."), [INCOME]) is None  # type: ignore[arg-type]


def test_the_best_row_is_read_from_its_row_with_every_figure_cited() -> None:
    q = "Which segment had the highest net sales in Q3 2023?"
    ops = F.parse_operands("Americas = 35,383 [1]\nEurope = 20,205 [1]\nGreater China = 15,758 [1]")
    r = F.compute(q, F.classify(q), ops, [SEGMENTS])  # type: ignore[arg-type]
    assert r is not None and not r.refused
    assert r.text.startswith("Americas has the highest figure")
    assert "Europe 20,205 [1]" in r.text and "Greater China 15,758 [1]" in r.text
    low = F.classify("Which segment had the lowest net sales?")
    r = F.compute("q", low, ops, [SEGMENTS])  # type: ignore[arg-type]
    assert r is not None and r.text.startswith("Greater China has the lowest")


def test_a_figure_on_another_row_is_refused() -> None:
    q = "Which segment had the highest net sales?"
    # Europe's label with the Americas' figure: the figure is in the passage, not on that row
    ops = F.parse_operands("Americas = 35,383 [1]\nEurope = 37,472 [1]")
    r = F.compute(q, F.classify(q), ops, [SEGMENTS])  # type: ignore[arg-type]
    assert r is not None and r.refused and "row" in r.text


def test_figure_span_is_the_row_stating_it() -> None:
    span = F.figure_span(F.Operand("Europe", "20,205", 1), SEGMENTS)
    assert span is not None
    assert SEGMENTS[span[0] : span[1]] == "| Europe | 20,205 | 19,287 |"


def test_operand_rules_name_each_operand() -> None:
    rules = F.operand_rules(F.classify("What was the EBITDA margin?"))  # type: ignore[arg-type]
    assert "profit = 1,234 [1]\nrevenue = 56,789 [2]" in rules
    assert "do not compute" in rules.lower()
    rules = F.operand_rules(F.classify("Which segment had the highest sales?"))  # type: ignore[arg-type]
    assert "Americas = 1,234 [1]" in rules
