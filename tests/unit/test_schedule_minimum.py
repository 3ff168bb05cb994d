"""A source's schedule may not run more often than the operator's minimum."""

from __future__ import annotations

import pytest

from sources import schedule

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("every 5m", True),
        ("299", False),
        ("every 4m", False),
        ("*/5 * * * *", True),
        ("*/2 * * * *", False),
        ("0,3 * * * *", False),  # two runs three minutes apart each hour
        ("0 3 * * *", True),
        ("", True),  # by hand only
    ],
)
def test_the_minimum_interval_holds_for_intervals_and_cron(text: str, ok: bool) -> None:
    parsed = schedule.parse(text)
    if ok:
        schedule.at_least(*parsed, 300)
    else:
        with pytest.raises(schedule.BadSchedule, match="300 s"):
            schedule.at_least(*parsed, 300)
