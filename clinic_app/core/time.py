"""One clock for the whole app, so tests can freeze it and every timestamp is UTC; the range of
dates and times the app accepts; conversions that survive a stored time at the calendar's ends;
and the organization's clock (its time zone, today, midnight and a day's window there).

Accepted range: every date and time a person types or a client sends (appointment times, dates of
birth, a calendar's or a day page's date) lies between ``EARLIEST_DAY`` and ``LATEST_DAY``
inclusive; a time by its UTC date. Anything else is refused with a message naming the field, so
no later addition of a duration or change of time zone can run off the end of Python's calendar
(year 1 to 9999). Rows written before this rule, or by another system, may still hold such
times: ``in_zone`` and ``shifted`` never fail on them, so pages that show them still render.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2100, 12, 31)
EARLIEST_MOMENT = datetime.combine(EARLIEST_DAY, time.min, tzinfo=UTC)
LATEST_MOMENT = datetime.combine(LATEST_DAY, time.max, tzinfo=UTC)
RANGE_TEXT = f"between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}"

_FIRST = datetime.min.replace(tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with millisecond precision and a ``Z``, as the JSON contract writes times."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the accepted range ---------------------------------------------------------------------------


def day_in_range(day: date) -> bool:
    """Whether ``day`` lies within the accepted range (``EARLIEST_DAY`` to ``LATEST_DAY``)."""
    return EARLIEST_DAY <= day <= LATEST_DAY


def moment_in_range(moment: datetime) -> bool:
    """Whether ``moment`` (aware; a naive one is read as UTC) falls on a UTC day within the
    accepted range. Comparing aware datetimes never overflows, whatever their offsets."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return EARLIEST_MOMENT <= moment <= LATEST_MOMENT


def out_of_range(what: str = "a date") -> str:
    """The message for a value outside the accepted range, e.g. "Give a date between …"."""
    return f"Give {what} {RANGE_TEXT}."


# --- times that may lie at the calendar's ends ----------------------------------------------------


def in_zone(moment: datetime, zone: tzinfo) -> datetime:
    """``moment`` on ``zone``'s clock. A stored time within hours of year 1 or year 9999's ends
    cannot be moved to every zone: it is returned unchanged (in UTC) rather than failing."""
    try:
        return moment.astimezone(zone)
    except OverflowError:
        return moment


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the first or last representable time (in UTC) instead of
    failing when the sum would leave the calendar (a stored outlier plus a duration)."""
    try:
        return moment + delta
    except OverflowError:
        edge = _LAST if delta > timedelta(0) else _FIRST
        return edge if moment.tzinfo is not None else edge.replace(tzinfo=None)


# --- the organization's clock ---------------------------------------------------------------------

# Reads an organization's IANA time-zone name by its id. Installed once by ``create_app`` (the
# organizations feature owns the table; core only knows how to ask).
_zone_name_of: Callable[[str], str | None] | None = None


def install_zone_lookup(lookup: Callable[[str], str | None]) -> None:
    """Tell the clock how to read an organization's time-zone name (``create_app`` does this)."""
    global _zone_name_of
    _zone_name_of = lookup


def zone_named(name: str | None) -> tzinfo:
    """The time zone called ``name``; UTC when the name is empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def organization_zone(organization_id: str) -> tzinfo:
    """The organization's time zone (UTC when it names none or an unknown one)."""
    if _zone_name_of is None:
        raise RuntimeError("the organization clock is not installed: create the app first")
    return zone_named(_zone_name_of(organization_id))


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The calendar day ``moment`` falls on in ``zone``."""
    return in_zone(moment, zone).date()


def local_today(zone: tzinfo, now: datetime | None = None) -> date:
    """Today's date in ``zone`` (at ``now``, default the current time)."""
    return local_date(now if now is not None else utcnow(), zone)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The first moment of ``day`` in ``zone`` (a timezone-aware datetime on that zone's clock)."""
    return datetime.combine(day, time(0), tzinfo=zone)


def day_window(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of ``day`` in ``zone``, in UTC (so that subtracting them gives the real length
    of the day: Python subtracts two times of one zone by their wall clocks)."""
    start = local_midnight(day, zone).astimezone(UTC)
    return start, local_midnight(day + timedelta(days=1), zone).astimezone(UTC)
