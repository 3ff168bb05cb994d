import time
from datetime import date

import pytest

from retrieval import doc_fields
from retrieval.doc_fields import (
    DocFields,
    Period,
    asked,
    extract,
    issuer_named,
    name_words,
    period_score,
    priors,
)

pytestmark = pytest.mark.unit

TEN_Q = """UNITED STATES
SECURITIES AND EXCHANGE COMMISSION
Washington, D.C. 20549
FORM 10-Q
QUARTERLY REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934
For the quarterly period ended
July 1, 2023
Commission File Number: 000-06217
INTEL CORPORATION
(Exact name of registrant as specified in its charter)
Delaware
"""

RELEASE = """Contoso Retail Reports Fourth Quarter and Fiscal 2022 Results
Net sales rose 4% to $1.2 billion.
"""


def test_a_10q_cover_gives_issuer_and_period():
    f = extract("0000050863-23-000069.pdf", "", TEN_Q)
    assert f.issuer == "INTEL CORPORATION"
    assert f.period == Period(ended=date(2023, 7, 1))
    # a file name's label gives the period's year and quarter, the cover its end
    f = extract("2023 Q2 INTC.pdf", "", TEN_Q)
    assert f.period == Period(2023, 2, False, date(2023, 7, 1))
    assert Period.decode(f.period.encode()) == f.period


def test_an_earnings_release_gives_issuer_and_quarter():
    f = extract("release.pdf", "", RELEASE)
    assert f.issuer == "Contoso Retail"
    assert (f.period.year, f.period.quarter) == (2022, 4)


def test_a_scientific_abstract_has_neither():
    f = extract("4983.md", "", "Microstructural development of human newborn cerebral white matter")
    assert f == DocFields(None, None)


@pytest.mark.parametrize(
    ("question", "periods"),
    [
        ("NVIDIA's operating cash flow in the Q3 2022 10-Q?", ((2022, 3, False),)),
        ("In the 2023 Q1 report", ((2023, 1, False),)),
        ("revenue in the second quarter of fiscal 2023", ((2023, 2, False),)),
        ("Apple fiscal 2022 net sales", ((2022, None, True),)),
        ("FY23 margin", ((2023, None, True),)),
        ("sales in 2021 and 2022", ((2021, None, False), (2022, None, False))),
        ("what changed over time", ()),
    ],
)
def test_periods_a_question_names(question, periods):
    assert asked(question).periods == periods


def test_latest_and_issuer_names():
    q = asked("What was Amazon's gross margin in the most recent 10-Q filing?")
    assert q.latest and not q.periods
    assert issuer_named(q, "AMAZON.COM, INC")
    assert not issuer_named(q, "Apple Inc")
    assert name_words("The Home Depot, Inc.") == ("home", "depot")
    assert not issuer_named(asked("home prices"), "The Home Depot, Inc.")


def test_period_scores():
    q3 = asked("net sales in Q3 2023")
    assert period_score(q3, Period(2023, 3)) == 1.0
    assert period_score(q3, Period(2023, 2)) == -1.0
    assert period_score(q3, Period(2022, 3)) == -1.0
    assert period_score(q3, None) == 0.0
    assert period_score(q3, Period(ended=date(2023, 9, 30))) == 0.5  # calendar Q3
    year = asked("net sales in 2022")
    assert period_score(year, Period(2022, 4)) == 1.0
    assert period_score(year, Period(2023, 1)) == -0.5


def test_priors_need_a_named_aspect():
    fields = {
        "a1": DocFields("Apple Inc", Period(2023, 1)),
        "a2": DocFields("Apple Inc", Period(2023, 2)),
        "m2": DocFields("MICROSOFT CORPORATION", Period(2023, 2)),
        "x": DocFields(None, None),
    }
    p = priors(asked("Apple's net sales in Q2 2023"), fields)
    assert p["a2"] == 1.0 and p["x"] == 0.0
    assert p["a1"] == 0.0  # right issuer, wrong period
    assert p["m2"] == 0.0  # right period, wrong issuer
    latest = priors(asked("Apple's latest 10-Q"), fields)
    assert latest["a2"] == 1.0 and latest["a1"] == 0.5
    assert priors(asked("what are the risks of smoking"), fields) == {}


def test_running_text_names_no_issuer_or_period():
    abstract = (
        "Recent reports suggest that statins lower the risk in the High Risk Group.\n"
        "Patients (n = 2075, Q4 of the distribution) were followed for 12 years."
    )
    assert extract("4983.md", "Statins and risk", abstract) == DocFields(None, None)
    assert not issuer_named(asked("is the risk group larger"), "High Risk Group")
    assert issuer_named(asked("What did Risk Group report?"), "Risk Group")


def test_the_period_patterns_do_not_backtrack():
    """A run of separators after "q1" cost the pattern quadratic time (3 s at 8,000 spaces, with
    the GIL held); bounded separators make it linear: 20,000 take milliseconds, not 20 s."""
    hostile = "q1" + " " * 20_000 + "x"
    started = time.perf_counter()
    for rx in (doc_fields._Q_YEAR, doc_fields._YEAR_Q, doc_fields._NQ_YEAR, doc_fields._WORD_Q):
        rx.search(hostile)
        rx.search("2023" + " " * 20_000 + "x")
        rx.search("first quarter" + " of" * 7_000)
    assert time.perf_counter() - started < 2.0
