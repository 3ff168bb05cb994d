"""A table shown with the columns of the period a question asks about (``generation.columns``), and
the period's end read from the documents (``retrieval.doc_fields.period_ends``)."""

from __future__ import annotations

from datetime import date

import pytest

from generation.columns import Wanted, dates_in, length_of, narrow, wanted
from retrieval.doc_fields import DocFields, Period, asked, period_ends

pytestmark = pytest.mark.unit

TABLE = """Apple Inc. CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (In millions)
| | Three Months Ended | Three Months Ended | Nine Months Ended | Nine Months Ended |
| | July 1, 2023 | June 25, 2022 | July 1, 2023 | June 25, 2022 |
| --- | --- | --- | --- | --- |
| Total net sales | 81,797 | 82,959 | 289,974 | 304,182 |
| Operating income | 22,998 | 23,076 | 84,000 | 90,000 |
See the notes."""


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_a_quarter_named_by_its_end_keeps_that_quarters_column() -> None:
    shown = narrow(TABLE, wanted("What were total net sales in the quarter ended July 1, 2023?"))
    assert "| Total net sales | 81,797 |" in shown
    assert "82,959" not in shown and "289,974" not in shown
    # the lines around the table and the table's headers stay
    assert shown.startswith("Apple Inc.") and shown.endswith("See the notes.")
    assert "Three Months Ended" in shown and "Nine Months Ended" not in shown


def test_a_label_the_documents_date_and_a_length_pick_the_column() -> None:
    q = "What was Apple's operating income in Q3 2023?"
    shown = narrow(TABLE, wanted(q, [date(2023, 7, 1)]))
    assert "| Operating income | 22,998 |" in shown
    nine = narrow(TABLE, wanted("Operating income for the nine months ended July 1, 2023?"))
    assert "| Operating income | 84,000 |" in nine


def test_a_change_between_two_periods_keeps_both() -> None:
    shown = narrow(
        TABLE,
        wanted(
            "By how much did net sales change from the quarter ended June 25, 2022 to July 1, 2023?"
        ),
    )
    assert "| Total net sales | 81,797 | 82,959 |" in shown
    assert "289,974" not in shown


@pytest.mark.parametrize(
    "want",
    [
        Wanted(frozenset()),  # no period asked
        Wanted(frozenset({date(2021, 3, 31)})),  # a period the table does not have
        Wanted(frozenset({date(2023, 7, 1), date(2022, 6, 25)})),  # every dated column
    ],
)
def test_a_table_is_shown_whole_when_no_column_is_singled_out(want: Wanted) -> None:
    assert narrow(TABLE, want) == TABLE


def test_a_table_whose_header_has_no_separator_line_is_read_by_its_figures() -> None:
    table = (
        "| | March 31, 2023 | June 30, 2022 |\n"
        "| Total assets | 380,088 | 364,840 |\n"
        "| Total liabilities | 185,405 | 198,298 |"
    )
    shown = narrow(table, wanted("Total assets as of March 31, 2023?"))
    assert _rows(shown) == [
        "|  | March 31, 2023 |",
        "| Total assets | 380,088 |",
        "| Total liabilities | 185,405 |",
    ]


def test_undated_columns_and_text_outside_tables_stay() -> None:
    table = (
        "Revenue by segment\n"
        "| Segment | Q3 note | Jul 1, 2023 | Jul 2, 2022 | % Change |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| DCAI | a | 4,000 | 4,600 | (13)% |"
    )
    shown = narrow(table, Wanted(frozenset({date(2023, 7, 1)})))
    assert "| DCAI | a | 4,000 | (13)% |" in shown and "4,600" not in shown


def test_dates_and_lengths_are_read_as_filings_write_them() -> None:
    assert dates_in("Three Months Ended Jul. 1, 2023 and March 31 2023") == {
        date(2023, 7, 1),
        date(2023, 3, 31),
    }
    assert dates_in("February 30, 2023") == set()
    assert length_of("Three Months Ended") == 3 and length_of("Nine Months Ended") == 9
    assert length_of("in the quarter") == 3 and length_of("Q2 2023") == 3
    assert length_of("Three and Nine Months Ended") is None
    assert length_of("revenue") is None


def test_period_ends_come_from_documents_of_the_period_named_by_label() -> None:
    fields = [
        DocFields("Apple Inc.", Period(2023, 3, False, date(2023, 7, 1))),
        DocFields("Apple Inc.", Period(2023, 2, False, date(2023, 4, 1))),
        DocFields("Intel", Period(2023, 3, False, None)),
    ]
    assert period_ends(asked("Apple's net sales in Q3 2023?"), fields) == {date(2023, 7, 1)}
    # a bare year names no one period
    assert period_ends(asked("Apple's net sales in 2023?"), fields) == set()
    assert period_ends(asked("Apple's net sales?"), fields) == set()


def test_columns_headed_by_a_year_take_the_day_the_header_gives() -> None:
    table = (
        "| Three Months Ended September 30, | 2022 | 2021 |\n"
        "|---|---|---|\n"
        "| Windows | 5,313 | 5,674 |\n"
        "| Total | $50,122 | $45,317 |"
    )
    shown = narrow(table, Wanted(frozenset({date(2022, 9, 30)}), 3))
    assert _rows(shown)[2:] == ["| Windows | 5,313 |", "| Total | $50,122 |"]
    # two days in the headers: a year alone is no day
    two = table.replace("| 2021 |", "| December 31, 2021 |")
    assert narrow(two, Wanted(frozenset({date(2022, 9, 30)}))) == two


def test_period_ends_of_the_issuer_named_and_of_the_latest_report() -> None:
    fields = [
        DocFields("Apple Inc.", Period(2023, 3, False, date(2023, 7, 1))),
        DocFields("Apple Inc.", Period(2023, 2, False, date(2023, 4, 1))),
        DocFields("Intel Corporation", Period(2023, 3, False, date(2023, 9, 30))),
    ]
    assert period_ends(asked("Intel's revenue in Q3 2023?"), fields) == {date(2023, 9, 30)}
    assert period_ends(asked("Revenue in Q3 2023?"), fields) == {
        date(2023, 7, 1),
        date(2023, 9, 30),
    }
    assert period_ends(asked("Apple's gross margin in the latest 10-Q?"), fields) == {
        date(2023, 7, 1)
    }
    assert period_ends(asked("Apple's revenue last year?"), fields) == set()


def test_the_prompt_shows_the_periods_columns_and_citations_hold_against_the_stored_table() -> None:
    from generation.rag import Answer, answer
    from retrieval.types import ScoredChunk
    from tests.unit.test_profiles import _Stub

    stored = ScoredChunk(1, "d1", "2023 Q3 AAPL.pdf", "c", TABLE, 4, "Operations", 1.0)
    stub = _Stub("Total net sales were 81,797 million [1].")
    question = "What were total net sales in the quarter ended July 1, 2023?"
    *_, last = answer(question, [stored], stub, columns=wanted(question))  # type: ignore[arg-type]
    assert isinstance(last, Answer) and not last.abstained
    prompt = stub.prompts[0][-1]["content"]
    assert "| Total net sales | 81,797 |" in prompt and "82,959" not in prompt
    # what the user sees and the citation checks are the passage as stored
    assert last.passages[0].text == TABLE
    assert [(c.number, c.supported) for c in last.citations] == [(1, True)]
