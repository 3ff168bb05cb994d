"""Calendar days as documents write them ("July 1, 2023", "Jul. 1, 2023"): one home for the month
names that reading a filing's cover (``retrieval.doc_fields``) and its table headers
(``generation.columns``) both need. Pure logic."""

from __future__ import annotations

from datetime import date

# month names and their abbreviations, lower case
MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}


def month_number(name: str) -> int | None:
    """1-12 for a month's name or abbreviation, in any case; None for another word."""
    return MONTHS.get(name.lower().rstrip("."))


def calendar_date(month: str, day: str | int, year: str | int) -> date | None:
    """The day, or None where the month is no month's name or the day is not in it
    ("February 30")."""
    m = month_number(month)
    if m is None:
        return None
    try:
        return date(int(year), m, int(day))
    except ValueError:
        return None
