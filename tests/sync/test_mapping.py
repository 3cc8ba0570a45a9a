"""Reading Cliniko's values: a timestamp outside the dates the app accepts is refused like any
other unusable value (it used to overflow while being converted to UTC and stop the sync)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clinic_app.sync.mapping import MappingError, _optional_time, parse_time


def test_timestamps_are_read_as_utc():
    assert parse_time("2025-06-01T09:00:00Z") == datetime(2025, 6, 1, 9, tzinfo=UTC)
    assert parse_time("2025-06-01T19:00:00+10:00") == datetime(2025, 6, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+10:00"])
def test_a_timestamp_outside_the_accepted_dates_is_refused_not_overflowed(value):
    with pytest.raises(MappingError, match="outside the dates"):
        parse_time(value)
    assert _optional_time(value) is None
