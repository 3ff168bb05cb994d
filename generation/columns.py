"""A table as the prompt shows it for a question about one period: the other periods' columns left
out, so a small model cannot read the right row in the wrong column.

A filing's table puts the quarter asked about beside the same quarter a year before, and the
quarter beside the nine months to date: "Three Months Ended July 1, 2023 | June 25, 2022 | Nine
Months Ended July 1, 2023 | June 25, 2022". Asked for the quarter ended July 1, 2023, a small model
reads the right row and takes its figure from another of those columns now and then. When the
question names the period (by its dates, or by a label such as "Q3 2023" that a
document of the collection says ended on a date), each Markdown table of a passage keeps its
label column, its columns headed by no date, and the dated columns of that period (and of that
length, where the question says "quarter" or "nine months"). A table none of whose columns is of
the period asked, or all of whose dated columns are, is shown whole. Only the prompt changes: the
passages cited, checked and shown stay as stored. Pure logic: no model, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from core.dates import calendar_date

_DATE = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2}),?\s+((?:19|20)\d\d)\b",
    re.IGNORECASE,
)
# how long a column's (or the question's) period runs, in months
_LENGTHS = (
    (
        3,
        re.compile(
            r"\b(three|3)[\s-]+months?\b|\bquarter(ly)?\b|\b(thirteen|13)[\s-]+weeks?\b|\bq[1-4]\b",
            re.I,
        ),
    ),
    (
        6,
        re.compile(
            r"\b(six|6)[\s-]+months?\b|\b(first|1st)\s+half\b|\bhalf[\s-]+year\b|\b(twenty-six|26)[\s-]+weeks?\b",
            re.I,
        ),
    ),
    (9, re.compile(r"\b(nine|9)[\s-]+months?\b|\b(thirty-nine|39)[\s-]+weeks?\b", re.I)),
    (
        12,
        re.compile(
            r"\b(twelve|12)[\s-]+months?\b|\b(fiscal|full)[\s-]+year\b|\byear\s+ended\b|\b(fifty-two|52)[\s-]+weeks?\b",
            re.I,
        ),
    ),
)
# "Three and Nine Months Ended": a header over columns of both lengths
_BOTH = re.compile(
    r"\b(three|six|nine|twelve|\d+)\s+and\s+(three|six|nine|twelve|\d+)[\s-]+months?\b", re.I
)
_SEPARATOR = re.compile(r"^:?-{3,}:?$")
_NUMBER = re.compile(r"\d")


@dataclass(frozen=True)
class Wanted:
    """The periods a question asks about: the days they ended, and how long they run (months;
    None where the question does not say)."""

    ends: frozenset[date]
    months: int | None = None

    def __bool__(self) -> bool:
        return bool(self.ends)


def dates_in(text: str) -> set[date]:
    """The days ``text`` names ("July 1, 2023", "Jul. 1, 2023", "March 31 2023")."""
    out = set()
    for month, day, year in _DATE.findall(text):
        day_ = calendar_date(month, day, year)
        if day_ is not None:
            out.add(day_)
    return out


def length_of(text: str) -> int | None:
    """How many months the period ``text`` speaks of runs ("Three Months Ended" -> 3); None when
    it says none, or several."""
    if _BOTH.search(text):
        return None
    found = {months for months, pattern in _LENGTHS if pattern.search(text)}
    return found.pop() if len(found) == 1 else None


def wanted(question: str, period_ends: Iterable[date] = ()) -> Wanted:
    """The periods ``question`` asks about: the days it names, and ``period_ends`` (the days
    that the periods it names by label ended, as the documents say); their length as it says."""
    ends = dates_in(question) | set(period_ends)
    return Wanted(frozenset(ends), length_of(question))


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def _join(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header_rows(rows: list[list[str]]) -> int:
    """How many rows head the table: those above a ``| --- |`` line, else the leading rows with
    no figure in any cell but the first."""
    for i, row in enumerate(rows):
        if row and all(_SEPARATOR.match(c) for c in row if c):
            return i
    n = 0
    for row in rows:
        if any(
            _NUMBER.search(c) and not dates_in(c) and not re.fullmatch(r"(19|20)\d\d", c)
            for c in row[1:]
        ):
            break
        n += 1
    return n if n < len(rows) else 0


_MONTH_DAY = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})\b", re.IGNORECASE
)
_BARE_YEAR = re.compile(r"(?<![\d,])((?:19|20)\d\d)(?![\d,])")


def _column_dates(headers: list[str]) -> dict[int, set[date]]:
    """The days each column (but the first, the rows' labels) is headed by. A column headed by a
    year alone takes the month and day the headers give, where they give one ("Three Months
    Ended September 30, | 2022 | 2021")."""
    days = {(m[:3].lower(), int(d)) for h in headers for m, d in _MONTH_DAY.findall(h)}
    out: dict[int, set[date]] = {}
    for j, h in enumerate(headers[1:], start=1):
        found = dates_in(h)
        if not found and len(days) == 1:
            month, day = next(iter(days))
            for year in _BARE_YEAR.findall(h):
                day_ = calendar_date(month, day, year)
                if day_ is not None:
                    found.add(day_)
        if found:
            out[j] = found
    return out


def _keep(headers: list[str], want: Wanted) -> list[int] | None:
    """The columns to keep, or None to keep the table whole."""
    dated = _column_dates(headers)
    if not dated:
        return None

    def of_period(j: int) -> bool:
        if not dated[j] & want.ends:
            return False
        length = length_of(headers[j])
        return want.months is None or length is None or length == want.months

    chosen = {j for j in dated if of_period(j)}
    if not chosen or len(chosen) == len(dated):
        return None
    return [j for j in range(len(headers)) if j not in dated or j in chosen]


def _narrow_table(lines: list[str], want: Wanted) -> list[str]:
    rows = [_cells(line) for line in lines]
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    head = _header_rows(rows)
    if head == 0:
        return lines
    headers = [
        " ".join(r[j] for r in rows[:head] if not _SEPARATOR.match(r[j] or "x"))
        for j in range(width)
    ]
    keep = _keep(headers, want)
    if keep is None:
        return lines
    return [_join([r[j] for j in keep]) for r in rows]


def narrow(text: str, want: Wanted) -> str:
    """``text`` with each Markdown table cut to the columns of the periods wanted (the label
    column and the undated columns always stay); unchanged without a wanted period, or where a
    table has no column of it."""
    if not want:
        return text
    lines = text.split("\n")
    out: list[str] = []
    block: list[str] = []
    for line in [*lines, None]:
        if line is not None and line.lstrip().startswith("|"):
            block.append(line)
            continue
        if block:
            out.extend(_narrow_table(block, want) if len(block) > 1 else block)
            block = []
        if line is not None:
            out.append(line)
    return "\n".join(out)
