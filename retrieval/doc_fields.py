"""Who a document is about and which reporting period it covers, and what a question asks of them.

Filings, earnings releases and reports of several companies and periods read alike: the passage
that answers "Apple's net sales in Q2 2023" reads almost the same in the 2023 Q1 report, and in
another company's. What tells them apart is on the cover: the issuer and the period. At ingestion
``extract`` reads them off the file name, the title and the first page; at query time ``asked``
reads what the question names, and ``prior`` scores a document's fields against it (+1 agrees,
-1 contradicts, 0 says nothing). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from core.dates import calendar_date

# the rules' version: a document read by older rules is read again (``doc_fields_fill``)
FIELDS_VERSION = 1

_ORDINAL = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "1st": 1,
    "2nd": 2,
    "3rd": 3,
    "4th": 4,
}
_YEAR = r"((?:19|20)\d\d)"
# what of a first page is read (a cover page, a release's heading), and what of it can name the
# period: the headline
FIRST_PAGE_CHARS = 6000
HEADLINE_CHARS = 400
# what of a question, name or title is read (the API caps questions at 4,000 characters)
MAX_TEXT = 4000
_DATE = r"([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+((?:19|20)\d\d)"

# "2023 Q3", "2023-Q3", "2023_q3"
_YEAR_Q = re.compile(rf"(?<![\d]){_YEAR}[\s_\-/]{{0,8}}q([1-4])(?![\d])", re.I)
# "Q3 2023", "Q3 FY23", "Q3'23", "Q3-2023"
# (bounded separators: two unbounded runs side by side made a match quadratic in a run of spaces)
_Q_YEAR = re.compile(
    r"(?<![a-z])q([1-4])[\s_\-/']{0,8}(?:fy?[\s_\-']{0,8})?((?:19|20)?\d\d)(?![\d])", re.I
)
# "3Q23", "3Q 2023"
_NQ_YEAR = re.compile(r"(?<![\d])([1-4])q[\s_\-']{0,8}((?:19|20)?\d\d)(?![\d])", re.I)
# "third quarter of fiscal 2022", "fourth quarter 2022", "second quarter of 2023"
_WORD_Q = re.compile(
    r"\b(first|second|third|fourth|1st|2nd|3rd|4th)[\s\-]+(?:fiscal[\s\-]+)?quarter"
    r"(?:\s+(?:of|and|for|ended|ending))?(?:\s+(?:the\s+)?(?:full[\s\-]+year|fiscal(?:\s+year)?))?"
    rf"(?:\s+(?:of|for))?(?:\s+(?:fiscal(?:\s+year)?|fy))?[\s,']*{_YEAR}",
    re.I,
)
# "FY2022", "FY 22", "fiscal 2022", "fiscal year 2022", "2022 annual report", "annual report 2022"
_FY = re.compile(
    r"(?:\bfy[\s\-']*((?:19|20)?\d\d)(?![\d])|\bfiscal(?:\s+year)?\s+((?:19|20)\d\d)\b"
    rf"|\b{_YEAR}\s+annual\s+report\b|\bannual\s+report\s+(?:for\s+)?{_YEAR}\b)",
    re.I,
)
_BARE_YEAR = re.compile(rf"(?<![\d]){_YEAR}(?![\d])")
# "For the quarterly period ended March 31, 2023", "for the three months ended ...",
# "For the fiscal year ended December 31, 2022"
_ENDED = re.compile(
    r"for\s+the\s+(quarterly\s+period|quarter|three\s+months|thirteen\s+weeks|fiscal\s+year|year"
    rf"|twelve\s+months|six\s+months|nine\s+months|period)\s+ended:?\s+{_DATE}",
    re.I,
)
_LATEST = re.compile(
    r"\b(?:latest|most\s+recent|newest|last|current)\s+(?:\S+\s+){0,2}?"
    r"(?:10-?q|10-?k|report|filing|quarter|results|release|period|year)",
    re.I,
)

_SUFFIX = (
    r"(?:(?i:Inc\.?|Corp\.?|Ltd\.?|Co\.|plc|LLC|L\.P\.|N\.V\.|S\.A\.)|Incorporated|INCORPORATED"
    r"|Corporation|CORPORATION|Company|COMPANY|Limited|LIMITED|Holdings|HOLDINGS|Group|GROUP|SE|AG)"
)
# a line that is a company's name and nothing more: "NVIDIA CORPORATION", "Apple Inc."
_ORG_LINE = re.compile(rf"^([A-Z][\w&.'’\-]*,?(?: [A-Z0-9&][\w&.'’\-]*,?){{0,5}} {_SUFFIX})\.?$")
_REGISTRANT = re.compile(r"^\(?\s*exact\s+name\s+of\s+(?:the\s+)?registrant", re.I)
# an earnings release's headline: "Contoso Reports Fourth Quarter and Fiscal 2022 Results" (the
# verb in headline case and followed by what a results release announces: "Recent reports
# suggest" in an abstract is no issuer)
_RELEASE = re.compile(
    r"^([A-Z][\w&.'’\-]*(?: [A-Z0-9][\w&.'’\-]*){0,4})\s+(?:Reports|Announces|Posts|REPORTS"
    r"|ANNOUNCES)\s+(?:Record\s+|Strong\s+|Preliminary\s+)?(?:First|Second|Third|Fourth|Full|Fiscal"
    r"|Q[1-4]|[1-4]Q|(?:19|20)\d\d|Quarterly|Annual|Financial|Earnings|Results|FIRST|SECOND|THIRD"
    r"|FOURTH|FISCAL)"
)
_NOT_NAME = frozenset(
    """inc incorporated corporation corp company co ltd limited plc llc lp nv sa se ag holdings
    group the and of de la com net org www""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[a-z0-9][a-z0-9&'’\-]*")
# lines of a cover page that are no issuer's name
_COVER_WORDS = re.compile(
    r"securities|exchange|commission|washington|form\s+10|quarterly|annual|report|pursuant"
    r"|transition|table\s+of\s+contents|mark\s+one",
    re.I,
)


@dataclass(frozen=True)
class Period:
    """A reporting period: the year (and quarter) it is labelled with, whether it covers a whole
    (fiscal) year, and the day it ended, each where known."""

    year: int | None = None
    quarter: int | None = None
    annual: bool = False
    ended: date | None = None

    def encode(self) -> str:
        """The catalog's form: "2023 Q3, ended 2023-07-01", "FY2022", "2022"."""
        head = ""
        if self.year is not None:
            head = f"FY{self.year}" if self.annual else f"{self.year}"
            if self.quarter is not None:
                head += f" Q{self.quarter}"
        elif self.annual:
            head = "FY"
        tail = f"ended {self.ended.isoformat()}" if self.ended else ""
        return ", ".join(p for p in (head, tail) if p)

    @staticmethod
    def decode(text: str | None) -> Period | None:
        if not text:
            return None
        m = re.fullmatch(
            r"(?:(FY)?(\d{4})?(?: Q([1-4]))?)?(?:,? ?ended (\d{4})-(\d\d)-(\d\d))?", text.strip()
        )
        if m is None:
            return None
        fy, year, quarter, ey, em, ed = m.groups()
        ended = date(int(ey), int(em), int(ed)) if ey else None
        return Period(
            year=int(year) if year else None,
            quarter=int(quarter) if quarter else None,
            annual=bool(fy),
            ended=ended,
        )

    @property
    def known(self) -> bool:
        return self.year is not None or self.ended is not None


@dataclass(frozen=True)
class DocFields:
    issuer: str | None
    period: Period | None


@dataclass(frozen=True)
class Asked:
    """What a question names: periods ((year, quarter or None, annual)), and whether it wants the
    newest report. Issuers are matched against the candidates' own (``issuer_named``)."""

    periods: tuple[tuple[int, int | None, bool], ...] = ()
    latest: bool = False
    text: str = ""


def _year(text: str) -> int:
    y = int(text)
    return 2000 + y if y < 100 else y


def labelled_periods(text: str, strict: bool = False) -> list[tuple[int, int | None, bool]]:
    """(year, quarter, annual) for each period a text names with a quarter or a fiscal year, in
    order of appearance (bare years are not among them). ``strict``: not the terse forms a
    file name uses ("2023 Q3", "3Q23"), which running text uses for other things."""
    text = text[:MAX_TEXT]
    found: list[tuple[int, int, tuple[int, int | None, bool]]] = []
    if not strict:
        for m in _YEAR_Q.finditer(text):
            found.append((m.start(), m.end(), (_year(m.group(1)), int(m.group(2)), False)))
    for rx in (_Q_YEAR,) if strict else (_Q_YEAR, _NQ_YEAR):
        for m in rx.finditer(text):
            found.append((m.start(), m.end(), (_year(m.group(2)), int(m.group(1)), False)))
    for m in _WORD_Q.finditer(text):
        found.append((m.start(), m.end(), (_year(m.group(2)), _ORDINAL[m.group(1).lower()], False)))
    for m in _FY.finditer(text):
        y = next(g for g in m.groups() if g)
        found.append((m.start(), m.end(), (_year(y), None, True)))
    found.sort()
    out: list[tuple[int, int | None, bool]] = []
    end = -1
    for start, stop, period in found:
        if start < end:  # inside one already taken ("Q3 FY2023" is one period)
            continue
        out.append(period)
        end = stop
    return out


def _period(name: str, title: str, first_page: str) -> Period | None:
    ended = None
    annual_cover = False
    m = _ENDED.search(first_page)
    if m:
        ended = calendar_date(m.group(2), m.group(3), m.group(4))
        kind = m.group(1).lower()
        annual_cover = kind in ("fiscal year", "year", "twelve months")
    # the first page's headline only, and only periods spelled as such ("fourth quarter of
    # fiscal 2022", "Q4 2022", "FY2022"): "n = 2075, Q4" in an abstract is a quartile
    head = first_page[:HEADLINE_CHARS]
    for source, strict in ((name, False), (title, False), (head, True)):
        labelled = labelled_periods(source, strict)
        if labelled:
            year, quarter, annual = labelled[0]
            return Period(year, quarter, annual, ended)
    if ended is not None:
        return Period(annual=annual_cover, ended=ended)
    years = _BARE_YEAR.findall(name)  # a bare year in the file name: weak, but a period
    if len(set(years)) == 1:
        return Period(year=int(years[0]))
    return None


def _issuer(title: str, first_page: str) -> str | None:
    lines = [ln.strip() for ln in first_page.splitlines() if ln.strip()]
    for i, line in enumerate(lines[:80]):
        before, sep, _ = line.partition("(Exact name")
        if sep and before.strip() and not _COVER_WORDS.search(before):
            return _clean(before)
        if _REGISTRANT.match(line):
            for prev in reversed(lines[max(0, i - 3) : i]):
                if not _COVER_WORDS.search(prev) and re.search(r"[A-Za-z]{2}", prev):
                    return _clean(prev)
    for line in [title, *lines[:40]]:
        m = _ORG_LINE.match(line or "")
        if m and not _COVER_WORDS.search(m.group(1)):
            return _clean(m.group(1))
    for line in [title, *lines[:5]]:
        m = _RELEASE.match(line or "")
        if m:
            return _clean(m.group(1))
    return None


def _clean(name: str) -> str | None:
    name = re.sub(r"\s+", " ", name).strip(" ,.;:")
    if not name_words(name) or len(name) > 120:
        return None
    return name[:256]


def extract(name: str, title: str, first_page: str) -> DocFields:
    """The issuer and period of a document from its file name, title and first page's text."""
    name, title = (name or "")[:MAX_TEXT], (title or "")[:MAX_TEXT]
    first_page = (first_page or "")[:FIRST_PAGE_CHARS]
    return DocFields(issuer=_issuer(title, first_page), period=_period(name, title, first_page))


def name_words(issuer: str) -> tuple[str, ...]:
    """The words that name an issuer ("Amazon.com, Inc." -> ("amazon",)), at most three."""
    words = []
    for w in _WORD.findall(issuer.lower().replace("’", "'")):
        w = w.split(".")[0].rstrip("'")
        if w.endswith("'s"):
            w = w[:-2]
        if len(w) >= 2 and w not in _NOT_NAME and not w.isdigit():
            words.append(w)
    return tuple(words[:3])


def _question_words(text: str) -> set[str]:
    out = set()
    for w in _WORD.findall(text.lower().replace("’", "'")):
        w = w.rstrip("'")
        if w.endswith("'s"):
            w = w[:-2]
        out.add(w.split(".")[0])
    return out


def asked(question: str) -> Asked:
    """The periods a question names and whether it asks for the newest report."""
    question = question[:MAX_TEXT]
    periods = labelled_periods(question)
    if not periods:
        periods = [(int(y), None, False) for y in dict.fromkeys(_BARE_YEAR.findall(question))]
    return Asked(periods=tuple(periods), latest=_LATEST.search(question) is not None, text=question)


def issuer_named(question: Asked, issuer: str | None) -> bool:
    """Whether the question names this issuer: every word of its name, possessive or not, the
    first one capitalised as a name is ("Apple's", "NVIDIA"; "apple pie" names no company)."""
    if not issuer:
        return False
    words = name_words(issuer)
    if not words or not set(words) <= _question_words(question.text):
        return False
    first = re.compile(rf"(?<![\w]){re.escape(words[0])}", re.I)
    return any(m.group()[0].isupper() for m in first.finditer(question.text))


def period_score(question: Asked, period: Period | None) -> float:
    """+1 the document's period is one the question names, -1 it is another, 0 unknown or
    not asked (a year-only disagreement counts half: a report of one year still compares
    with the year before)."""
    if not question.periods or period is None or not period.known:
        return 0.0
    best = -1.0
    for year, quarter, annual in question.periods:
        if period.year is not None:
            if period.year != year:
                s = -0.5 if quarter is None and not annual else -1.0
            elif quarter is not None:
                s = 1.0 if period.quarter == quarter else (-1.0 if period.quarter else 0.0)
            elif annual:
                s = 1.0 if period.annual or period.quarter is None else 0.0
            else:
                s = 1.0
        else:  # only the end date is known: its calendar year and quarter
            assert period.ended is not None
            cal_q = (period.ended.month - 1) // 3 + 1
            if period.ended.year != year:
                s = -0.5
            elif quarter is not None:
                s = 0.5 if cal_q == quarter else -0.5
            else:
                s = 0.5
        best = max(best, s)
    return best


def recency_key(period: Period | None) -> tuple[int, int, int]:
    """Orders periods oldest to newest (unknown first)."""
    if period is None:
        return (0, 0, 0)
    if period.ended is not None:
        return (period.ended.year, period.ended.month, period.ended.day)
    if period.year is not None:
        q = period.quarter or 4
        return (period.year, q * 3, 28)
    return (0, 0, 0)


def priors(question: Asked, fields: dict[str, DocFields]) -> dict[str, float]:
    """Each document's prior in [-1, 1] for this question: the mean of the aspects the question
    names (issuer, period, newest) that anything in ``fields`` could answer; {} when it names none.

    An issuer counts as named when the question names the issuer of at least one candidate; then a
    document of another known issuer scores -1 and one of unknown issuer 0. "Latest" favours, per
    issuer, the document with the newest period."""
    if not fields:
        return {}
    named = {d for d, f in fields.items() if issuer_named(question, f.issuer)}
    aspects: list[dict[str, float]] = []
    if named:
        aspects.append(
            {d: 1.0 if d in named else (-1.0 if f.issuer else 0.0) for d, f in fields.items()}
        )
    if question.periods and any(f.period and f.period.known for f in fields.values()):
        aspects.append({d: period_score(question, f.period) for d, f in fields.items()})
    elif question.latest:
        newest: dict[str, tuple[int, int, int]] = {}
        for f in fields.values():
            if f.period and f.period.known:
                key = (f.issuer or "").lower()
                newest[key] = max(newest.get(key, (0, 0, 0)), recency_key(f.period))
        if newest:
            aspects.append(
                {
                    d: (
                        1.0
                        if f.period
                        and f.period.known
                        and recency_key(f.period) == newest.get((f.issuer or "").lower())
                        else 0.0
                    )
                    for d, f in fields.items()
                }
            )
    if not aspects:
        return {}
    return {d: sum(a[d] for a in aspects) / len(aspects) for d in fields}


def documents_named(question: Asked, fields: Iterable[DocFields]) -> bool:
    """Whether the question names an issuer or a period any of these documents carries."""
    return any(
        issuer_named(question, f.issuer) or period_score(question, f.period) > 0 for f in fields
    )


def period_ends(question: Asked, fields: Iterable[DocFields]) -> set[date]:
    """The days on which the periods the question asks about ended, as the documents say: those
    of the documents whose period the question names by label ("Q3 2023" and a report of 2023
    Q3 that ended July 1, 2023; a bare year names no one period), or, for "the latest report",
    the newest one's. Where the question names an issuer, only that issuer's documents count."""
    docs = [f for f in fields if f.period is not None and f.period.ended is not None]
    named = [f for f in docs if issuer_named(question, f.issuer)]
    if named:
        docs = named
    labelled = tuple(p for p in question.periods if p[1] is not None or p[2])
    if labelled:
        by_label = Asked(periods=labelled, text=question.text)
        return {f.period.ended for f in docs if period_score(by_label, f.period) == 1.0}  # type: ignore[union-attr]
    latest = _LATEST.search(question.text)
    # "the latest 10-Q", "the most recent quarter"; not "last year", which is no report's period
    if latest and not latest.group().lower().endswith("year") and not question.periods and docs:
        return {max(docs, key=lambda f: recency_key(f.period)).period.ended}  # type: ignore[union-attr]
    return set()
