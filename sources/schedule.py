"""When a source runs next: every N seconds, or a cron expression (croniter, the one module that
imports it)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from croniter import croniter

_INTERVAL = re.compile(r"^\s*(?:every\s+)?(\d+)\s*(s|m|h|d)?\s*$", re.IGNORECASE)


def _field(number: str) -> str:
    step = r"[1-9][0-9]?"
    return rf"(?:\*(?:/{step})?|{number}(?:,{number})*)"


# What the API's schema accepts as a schedule, and everything it accepts parses and fires: an
# interval ("every 30m", "6h", "3600"; 1 s up to about 30 years) or five cron fields (minute, hour,
# day of month 1-28 so that every month has it, month, day of week), numbers, lists, * and */N.
_CRON = " ".join(
    _field(n)
    for n in (
        r"[0-5]?[0-9]",
        r"(?:[01]?[0-9]|2[0-3])",
        r"(?:[1-9]|1[0-9]|2[0-8])",
        r"(?:[1-9]|1[0-2])",
        r"[0-6]",
    )
)
# Each unit's digits are bounded so that every interval the pattern admits is within MAX_INTERVAL.
_EVERY = r"(?:[1-9][0-9]{0,8}s?|[1-9][0-9]{0,6}m|[1-9][0-9]{0,4}h|[1-9][0-9]{0,3}d)"
PATTERN = rf"^(?:(?:every )?{_EVERY}|{_CRON})?$"
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL = 1
MAX_INTERVAL = 999_999_999  # seconds: fits the catalog's integer column and a datetime's range


class BadSchedule(ValueError):
    pass


def parse(text: str | None) -> tuple[int | None, str | None]:
    """``"every 30m"``, ``"3600"``, ``"6h"`` -> (seconds, None); ``"0 3 * * *"`` -> (None, cron);
    empty -> (None, None): by hand only."""
    if text is None or not text.strip():
        return None, None
    m = _INTERVAL.match(text)
    if m:
        seconds = int(m.group(1)) * _UNIT[(m.group(2) or "s").lower()]
        if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
            raise BadSchedule(
                f"an interval is {MIN_INTERVAL} s to {MAX_INTERVAL} s (about 31 years)"
            )
        return seconds, None
    expr = text.strip()
    if not croniter.is_valid(expr):
        raise BadSchedule(
            f"{expr[:80]!r} is neither an interval ('every 30m', '6h', '3600') nor a cron "
            "expression ('0 3 * * *')"
        )
    return None, expr


def at_least(interval_seconds: int | None, cron: str | None, minimum: int) -> None:
    """Refuse a schedule that would run more often than every ``minimum`` seconds (for a cron
    expression: its shortest gap over the next day's firings)."""
    if interval_seconds is not None and interval_seconds < minimum:
        raise BadSchedule(
            f"a source runs at most every {minimum} s (ASKDOCS_SOURCES_MIN_INTERVAL_SECONDS)"
        )
    if cron:
        it = croniter(
            cron, datetime(2026, 1, 5, tzinfo=UTC)
        )  # a Monday; every field fires in 28 days
        last = it.get_next(datetime)
        for _ in range(1440):
            nxt = it.get_next(datetime)
            if (nxt - last).total_seconds() < minimum:
                raise BadSchedule(
                    f"{cron!r} runs more often than every {minimum} s "
                    "(ASKDOCS_SOURCES_MIN_INTERVAL_SECONDS)"
                )
            last = nxt


def describe(interval_seconds: int | None, cron: str | None) -> str | None:
    if interval_seconds:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if interval_seconds % size == 0:
                return f"every {interval_seconds // size}{unit}"
        return f"every {interval_seconds}s"
    return cron


def next_run(interval_seconds: int | None, cron: str | None, after: datetime) -> datetime | None:
    """The next time the schedule fires after ``after`` (UTC), or None for by-hand sources."""
    if interval_seconds:
        return after + timedelta(seconds=interval_seconds)
    if cron:
        got = croniter(cron, after.astimezone(UTC)).get_next(datetime)
        return got if got.tzinfo else got.replace(tzinfo=UTC)
    return None
