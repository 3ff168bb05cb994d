"""The documents tab's line about a collection counts every document, not the table's page."""

from __future__ import annotations

import pytest

from ui.summaries import documents_summary

pytestmark = pytest.mark.unit


def test_the_line_counts_the_whole_collection_and_says_when_the_table_is_a_page() -> None:
    counts = {"ready": 2_500, "queued": 1_200, "parsing": 2, "failed": 3, "cancelled": 1}
    value, line, note = documents_summary(counts, shown=1_000, page=1_000, filtered=False)
    assert value == pytest.approx(2_500 / 3_706)
    assert line == "2,500 of 3,706 ready, 1,202 in progress, 3 failed"
    assert note == (
        "Showing the newest 1,000 of 3,706 documents: filter by name or state to find others."
    )
    _, _, filtered = documents_summary(counts, shown=1_000, page=1_000, filtered=True)
    assert filtered is not None and "matching" in filtered and "3,706" not in filtered


def test_a_collection_that_fits_the_table_has_no_note() -> None:
    value, line, note = documents_summary({"ready": 4}, shown=4, page=1_000, filtered=False)
    assert (value, line, note) == (1.0, "4 of 4 ready, 0 in progress", None)
    assert documents_summary({}, shown=0, page=1_000, filtered=False)[0] == 0.0
