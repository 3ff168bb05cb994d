"""The answer eval's figure measures: figure hits, and the check that a computed answer's
operands are in the passages it cites."""

from askdocs.eval_answers import QA, Outcome, figure_hit, figures, operands_cited, summarize


def test_figures_leave_out_years_small_numbers_and_filing_forms() -> None:
    assert figures("In the 10-Q for 2023, net sales were $81,797 million, up 8 points.") == {
        "81797"
    }
    assert figure_hit("Net sales were 81,797 [1].", "Apple's net sales were $81,797 million.")
    assert not figure_hit("As the 10-Q says [1].", "See the 10-Q: 25.93%.")


def test_a_computed_answers_operands_are_found_in_its_cited_passages() -> None:
    given = [{"text": "Revenue | 5,678"}, {"text": "EBITDA | 1,500"}]
    assert operands_cited("EBITDA margin = 1,500 / 5,678 = 26.4% [2][1]", given)
    assert not operands_cited("EBITDA margin = 1,500 / 5,678 = 26.4% [2]", given)
    assert operands_cited(
        "Americas has the highest figure: Americas 35,383 [1].", [{"text": "| Americas | 35,383 |"}]
    )


def test_unanswerable_questions_count_only_as_refused_or_not() -> None:
    refused = Outcome("", True, 0, 0, 1.0, 3, 1.0)
    answered = Outcome("Net sales were 81,797 [1].", False, 1, 1, 1.0, 9, 1.0, given="81,797")
    s = summarize([(QA("q1", "81,797"), answered), (QA("q2", ""), refused)])
    assert s["questions"] == 1 and s["figure_hits"] == 1.0 and s["unanswerable_refused"] == 1.0
