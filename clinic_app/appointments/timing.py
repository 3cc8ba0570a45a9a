"""The appointment-time rules of docs/rules.md, as pure functions (no database, no Flask).

"Recent" (attended within the last 30 days), a late cancellation (less than 24 hours before the
start) and the priority of an upcoming appointment (within 24 or 72 hours) are words about
appointments, so they live here; the patient figures (``clinic_app.figures``) build on them.
Every boundary here is tested in tests/figures/test_rules.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta

RECENT_DAYS = 30  # "recent": attended within the last 30 days
LATE_CANCELLATION = timedelta(hours=24)  # cancelled less than this before the start: late
HIGH_WITHIN = timedelta(hours=24)
MEDIUM_WITHIN = timedelta(hours=72)
HIGH, MEDIUM, LOW = "high", "medium", "low"


def half_up(value: float, places: int) -> float:
    """``value`` rounded to ``places`` decimals, half up (away from zero), as figures shown to
    staff round; ``round()`` is banker's rounding on binary floats."""
    step = 10**places
    return float(int(abs(value) * step + 0.5 + 1e-9)) / step * (1 if value >= 0 else -1)


def priority(next_at: datetime | None, now: datetime) -> str | None:
    """The priority of the next appointment: ``high`` when it starts within 24 hours (exactly 24 h
    included, and one that has already started), ``medium`` within 72 hours (exactly 72 h
    included), else ``low``; None when nothing is booked."""
    if next_at is None:
        return None
    ahead = next_at - now
    if ahead <= HIGH_WITHIN:
        return HIGH
    if ahead <= MEDIUM_WITHIN:
        return MEDIUM
    return LOW


def hours_until(next_at: datetime | None, now: datetime) -> float | None:
    """Hours from ``now`` to ``next_at``, one decimal (half up); None when nothing is booked."""
    if next_at is None:
        return None
    return half_up((next_at - now).total_seconds() / 3600, 1)


def days_until(next_at: datetime | None, now: datetime) -> float | None:
    """``hours_until`` / 24, one decimal (18.5 hours is 0.8 days); None when nothing is booked."""
    hours = hours_until(next_at, now)
    return None if hours is None else half_up(hours / 24, 1)


def is_late_cancellation(starts_at: datetime, cancelled_at: datetime | None) -> bool:
    """Cancelled less than 24 hours before the start (or after it). Exactly 24 h is not late."""
    return cancelled_at is not None and starts_at - cancelled_at < LATE_CANCELLATION
