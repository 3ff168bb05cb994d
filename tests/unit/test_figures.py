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
    assert F.passage_scale("Net sales ($ millions)") == Decimal(1_000_000)
    assert F.passage_scale("Net sales (USD thousands)") == Decimal(1_000)


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


def test_an_operand_is_located_with_the_passage_scale() -> None:
    fig = F.locate(F.Operand("revenue", "5,678", 1), INCOME)
    assert fig == F.Figure(Decimal(5678), Decimal(1_000_000))
    assert F.locate(F.Operand("revenue", "$5,678 million", 1), INCOME) == fig
    # the model's scale word where the table's header says another is refused, never guessed
    assert F.locate(F.Operand("revenue", "5,678 billion", 1), INCOME) is None
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


def test_operand_rules_ask_for_the_calculation_or_the_rows() -> None:
    question = "What was the EBITDA margin?"
    rules = F.operand_rules(F.classify(question), question)  # type: ignore[arg-type]
    assert "EBITDA margin = 1,234 [1] / 5,678 [1]" in rules
    assert "do not write the result" in rules.lower()
    rules = F.operand_rules(F.classify("Which segment had the highest sales?"))  # type: ignore[arg-type]
    assert "Americas = 1,234 [1]" in rules


def _ask(question: str, reply: str, passages: list[str]) -> F.Result | None:
    return F.compute(question, F.classify(question), F.parse_operands(reply), passages)  # type: ignore[arg-type]


CHANGE_Q = "What was the percent change in revenue from 2022 to 2023?"


def test_a_sign_the_model_adds_is_refused() -> None:
    r = _ask(
        CHANGE_Q,
        "earlier = -100 [1]\nlater = 120 [1]",
        ["Revenue was 100 in 2022 and 120 in 2023."],
    )
    assert r is not None and r.refused and not r.grounded
    assert "-100" in r.text and "another sign, scale or percent sign" in r.text
    # parentheses the model adds are a sign too
    r = _ask(
        CHANGE_Q,
        "earlier = (100) [1]\nlater = 120 [1]",
        ["Revenue was 100 in 2022 and 120 in 2023."],
    )
    assert r is not None and r.refused


def test_the_sign_is_read_from_the_passage() -> None:
    passage = "Net income was -50 in 2022 and 30 in 2023; the loss narrowed in fiscal 2022-2023."
    r = _ask(CHANGE_Q, "earlier = 50 [1]\nlater = 30 [1]", [passage])
    assert r is not None and not r.refused and r.grounded
    assert r.text == "Change = 30 - -50 = +80 (+160.0%) [1]"
    assert F.locate(F.Operand("x", "-50", 1), passage) == F.Figure(Decimal(-50))
    # a Unicode minus sign, and a minus before a dollar sign
    assert F.locate(F.Operand("x", "7", 1), "Other income \u22127.") == F.Figure(Decimal(-7))
    assert F.locate(F.Operand("x", "7", 1), "Other income -$7.") == F.Figure(Decimal(-7))
    # a hyphen between two years is no minus sign
    assert F.locate(F.Operand("x", "2023", 1), passage) == F.Figure(Decimal(2023))
    # "(" before a figure without ")" after it is no sign ("(30 in 2023)")
    assert F.locate(F.Operand("x", "30", 1), "Income (30 in 2023) rose.") == F.Figure(Decimal(30))


def test_a_figure_stated_twice_is_read_where_its_sign_agrees() -> None:
    passage = "Operating income 100; other expense (100)."
    assert F.locate(F.Operand("x", "-100", 1), passage) == F.Figure(Decimal(-100))
    assert F.locate(F.Operand("x", "100", 1), passage) == F.Figure(Decimal(100))
    span = F.figure_span(F.Operand("x", "-100", 1), "income 100\nexpense (100)")
    assert span == (11, 24)


def test_a_scale_the_model_adds_is_refused() -> None:
    q = "What is the operating margin?"
    passages = ["Operating income 30; revenue 120 (in dollars)."]
    r = _ask(q, "profit = 30 billion [1]\nrevenue = 120 [1]", passages)
    assert r is not None and r.refused and not r.grounded
    assert "25,000,000,000" not in r.text and "another sign, scale or percent sign" in r.text
    # the scale word the passage writes beside the figure is the figure's
    passages = ["Operating income was $30 billion on revenue of $120 billion."]
    r = _ask(q, "profit = 30 billion [1]\nrevenue = 120 [1]", passages)
    assert r is not None and r.text == "Operating margin = 30 / 120 = 25.0% [1]"
    r = _ask(q, "profit = 30 million [1]\nrevenue = 120 billion [1]", passages)
    assert r is not None and r.refused


def test_a_percent_sign_the_model_adds_is_refused() -> None:
    q = "What is the combined revenue?"
    r = _ask(q, "a = 30% [1]\nb = 40% [1]", ["Segment A 30 dollars, segment B 40 dollars."])
    assert r is not None and r.refused and not r.grounded
    # the passage's percent sign (or word) is read when the model leaves it out
    fig = F.locate(F.Operand("x", "44.5", 1), "gross margin was 44.5 percent")
    assert fig == F.Figure(Decimal("44.5"), Decimal(1), True)


BIG = "99,999,999,999,999,999,999,999,999,999"


@pytest.mark.parametrize(
    ("question", "reply", "passage"),
    [
        (
            "What is the combined revenue?",
            f"North = {BIG} [1]\nSouth = 1 [1]",
            f"North {BIG}; South 1.",
        ),
        (
            "What is the combined revenue?",
            f"a = {'1' * 5000} [1]\nb = 1 [1]",
            f"a {'1' * 5000} b 1",
        ),
    ],
)
def test_a_figure_of_more_than_20_significant_digits_is_refused(
    question: str, reply: str, passage: str
) -> None:
    r = _ask(question, reply, [passage])
    assert r is not None and r.refused and not r.grounded
    assert "more than 20 significant digits" in r.text and len(r.text) < 400
    op = F.Operand("a", "1" * 5000, 1)
    assert F.locate(op, passage) is None and F.figure_span(op, passage) is None


@pytest.mark.parametrize(
    ("question", "reply", "passage", "text"),
    [
        (
            "What is the current ratio?",
            "numerator = 1,000,000 [1]\ndenominator = 0.0000000000000000000001 [1]",
            "Current assets 1,000,000. Current liabilities 0.0000000000000000000001.",
            "Current ratio = 1,000,000 / 0.0000000000000000000001 = "
            "10,000,000,000,000,000,000,000,000,000.00x [1]",
        ),
        (
            "What is the operating margin?",
            "profit = 5,000,000 [1]\nrevenue = 0.000000000000000000000001 [1]",
            "Operating income 5,000,000; revenue 0.000000000000000000000001.",
            "Operating margin = 5,000,000 / 0.000000000000000000000001 = "
            "500,000,000,000,000,000,000,000,000,000,000.0% [1]",
        ),
        (
            CHANGE_Q,
            "earlier = 0.00000000000000000000000001 [1]\nlater = 5 [1]",
            "Revenue was 0.00000000000000000000000001 in 2022 and 5 in 2023.",
            "Change = 5 - 0.00000000000000000000000001 = +5.00 "
            "(+49,999,999,999,999,999,999,999,999,900.0%) [1]",
        ),
    ],
)
def test_results_of_more_than_28_digits_are_computed(
    question: str, reply: str, passage: str, text: str
) -> None:
    r = _ask(question, reply, [passage])
    assert r is not None and not r.refused and r.grounded
    assert r.text == text


def test_a_result_past_the_arithmetics_precision_is_refused() -> None:
    tiny = "0." + "0" * 38 + "1"  # 40 digits, one significant
    r = _ask(
        "What is the current ratio?",
        f"numerator = 99,999,999,999,999,999,999 [1]\ndenominator = {tiny} [1]",
        [f"Current assets 99,999,999,999,999,999,999. Current liabilities {tiny}."],
    )
    assert r is not None and r.refused and not r.grounded
    assert "more digits than askdocs computes with" in r.text


def test_one_figure_named_twice_is_no_computation() -> None:
    """A margin of 100% from the same cell named as profit and revenue is not an answer: the
    question is then answered the ordinary way."""
    c = F.classify("What was the operating margin in the quarter?")
    assert c is not None
    passage = "| Operating income | 23,076 |\n| Total net sales | 81,797 |"
    named = [F.Operand("profit", "23,076", 1), F.Operand("revenue", "23,076", 1)]
    assert F.compute("What was the operating margin?", c, named, [passage]) is None
