"""The accepted range of dates and times, and conversions that survive a stored time at the ends
of Python's calendar (core/time.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from clinic_app.core.time import (
    EARLIEST_DAY,
    LATEST_DAY,
    RANGE_TEXT,
    day_in_range,
    in_zone,
    moment_in_range,
    out_of_range,
    shifted,
)

SYDNEY = ZoneInfo("Australia/Sydney")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
LAST = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
FIRST = datetime(1, 1, 1, 0, 0, tzinfo=UTC)


def test_the_range_is_1900_to_2100_and_said_in_one_sentence():
    assert (EARLIEST_DAY.isoformat(), LATEST_DAY.isoformat()) == ("1900-01-01", "2100-12-31")
    assert out_of_range("a start") == "Give a start between 1900-01-01 and 2100-12-31."
    assert RANGE_TEXT in out_of_range()


@pytest.mark.parametrize(
    ("day", "inside"),
    [
        (date(1899, 12, 31), False),
        (date(1900, 1, 1), True),
        (date(2025, 3, 3), True),
        (date(2100, 12, 31), True),
        (date(2101, 1, 1), False),
        (date(1, 1, 1), False),
        (date(9999, 12, 31), False),
    ],
)
def test_days_in_range(day, inside):
    assert day_in_range(day) is inside


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (datetime(1900, 1, 1, 0, 0, tzinfo=UTC), True),
        (datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC), False),
        (datetime(2100, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), True),
        (datetime(2101, 1, 1, 0, 0, tzinfo=UTC), False),
        # Judged by the UTC day: 2100-12-31 20:00 in New York is 2101-01-01 01:00 UTC.
        (datetime(2100, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))), False),
        (datetime(2100, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=10))), True),
        # At the calendar's ends, with offsets that would overflow if converted: compared safely.
        (datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))), False),
        (datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=5))), False),
        (datetime(2025, 3, 3, 9, 0), True),  # naive: read as UTC
    ],
)
def test_moments_in_range(moment, inside):
    assert moment_in_range(moment) is inside


@pytest.mark.parametrize(("moment", "zone"), [(LAST, SYDNEY), (FIRST, LOS_ANGELES)])
def test_in_zone_keeps_a_time_that_cannot_move_to_the_zone(moment, zone):
    with pytest.raises(OverflowError):
        moment.astimezone(zone)
    assert in_zone(moment, zone) == moment


def test_in_zone_converts_everything_else():
    converted = in_zone(datetime(2025, 3, 3, 0, 0, tzinfo=UTC), SYDNEY)
    assert converted.utcoffset() == timedelta(hours=11) and converted.hour == 11
    assert in_zone(LAST, LOS_ANGELES).utcoffset() == timedelta(hours=-8)  # far from the end in that direction


def test_shifted_holds_a_sum_at_the_calendars_ends():
    assert shifted(LAST, timedelta(hours=2)) == datetime.max.replace(tzinfo=UTC)
    assert shifted(FIRST, -timedelta(hours=2)) == datetime.min.replace(tzinfo=UTC)
    assert shifted(datetime(9999, 12, 31, 23, 0), timedelta(hours=2)) == datetime.max  # naive stays naive
    assert shifted(LAST, timedelta(minutes=30)) == LAST + timedelta(minutes=30)
    assert shifted(datetime(2025, 3, 3, tzinfo=UTC), -timedelta(days=1)) == datetime(2025, 3, 2, tzinfo=UTC)
