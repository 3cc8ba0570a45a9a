"""The written rules of docs/rules.md for a patient's figures, as pure functions: activity,
the 90-day window, attendance, the re-engagement risk and its reasons, and how long a recorded
contact keeps a patient off the worklist.

No database, no Flask: callers pass in the figures (see ``figures.compute`` and
``figures.engagement_columns``) and get back the words and numbers every page and API shows, so the
dashboard, the caseload pages, the worklist and the JSON API all say the same thing. The rules
about one appointment (recent, late cancellation, priority) are ``appointments.timing``'s.
Every boundary here is tested in tests/figures/test_rules.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from clinic_app.appointments.timing import HIGH, LOW, MEDIUM, half_up
from clinic_app.core.time import local_date, local_midnight

WINDOW_DAYS = 90  # attendance and misses are counted over the last 90 days

ACTIVE, RECENTLY_ACTIVE, UPCOMING_ONLY, INACTIVE = "active", "recently_active", "upcoming_only", "inactive"
ACTIVITY_STATUSES = (ACTIVE, RECENTLY_ACTIVE, UPCOMING_ONLY, INACTIVE)
RISK_LEVELS = (HIGH, MEDIUM, LOW)  # also the appointment priorities
RISK_ORDER = {LOW: 0, MEDIUM: 1, HIGH: 2}
# The day thresholds of the risk rule ("more than N days since the last contact").
HIGH_AFTER_DAYS, MEDIUM_AFTER_DAYS, QUIET_AFTER_DAYS = 90, 60, 30
# Each level keeps its score inside its band, so a score never contradicts its level.
SCORE_BANDS = {LOW: (0, 29), MEDIUM: (30, 64), HIGH: (65, 100)}
# Points of the score: days since the last contact (up to 50), each miss (up to 30), attendance
# shortfall (up to 20).
RECENCY_STEPS = ((180, 50), (90, 40), (60, 30), (30, 15))  # more than N days: points
DAY_THRESHOLDS = (30, 60, 90, 180)  # the days at which time alone changes the risk or score
POINTS_PER_MISS, MISS_POINTS_MAX = 10, 30
ATTENDANCE_POINTS = 20


# --- activity -----------------------------------------------------------------------------------


def activity_status(recent: int, upcoming: int) -> str:
    """``active`` (recent and upcoming), ``recently_active`` (recent only), ``upcoming_only`` or
    ``inactive``. ``recent`` and ``upcoming`` are counts of appointments."""
    if recent > 0 and upcoming > 0:
        return ACTIVE
    if recent > 0:
        return RECENTLY_ACTIVE
    if upcoming > 0:
        return UPCOMING_ONLY
    return INACTIVE


# --- figures shown to staff ---------------------------------------------------------------------


def percentage(part: int, whole: int) -> float:
    """``part`` / ``whole`` * 100 with one decimal; 0.0 when ``whole`` is 0."""
    return 0.0 if whole <= 0 else half_up(part * 100 / whole, 1)


def average(total: int | float, count: int) -> float:
    """``total`` ÷ ``count`` with two decimals; 0.0 when ``count`` is 0."""
    return 0.0 if count <= 0 else half_up(total / count, 2)


# --- days in the organization's time zone -------------------------------------------------------


def days_since(moment: datetime | None, now: datetime, tz: tzinfo) -> int | None:
    """Whole calendar days between ``moment`` and ``now`` in the organization's time zone
    (yesterday 23:59 is 1 day ago at 00:01 today); None when ``moment`` is None."""
    if moment is None:
        return None
    return (local_date(now, tz) - local_date(moment, tz)).days


def window_start(now: datetime, tz: tzinfo) -> datetime:
    """The start of the 90-day window: midnight, in the organization's time zone, 90 days before
    today. Appointments starting at or after it are "in the last 90 days"."""
    return local_midnight(local_date(now, tz) - timedelta(days=WINDOW_DAYS), tz)


# --- re-engagement risk -----------------------------------------------------------------------


def attendance_rate(attended: int, did_not_arrive: int, late_cancelled: int) -> float:
    """attended / (attended + did not arrive + late cancelled), 1.0 when there is none of them."""
    whole = attended + did_not_arrive + late_cancelled
    return 1.0 if whole == 0 else attended / whole


@dataclass(frozen=True)
class Risk:
    """A patient's re-engagement risk: level, 0-100 score, action priority (1 = act first) and
    the reasons that produced them, in words staff can check against the patient's record."""

    level: str
    score: int
    action_priority: int
    reasons: tuple[str, ...]


def _plural(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _since_words(days: int, never_attended: bool, on: date | None, threshold: int) -> str:
    # With the date, the words stay true until the next threshold (when figures are recomputed).
    if on is not None:
        if never_attended:
            return f"Never attended; registered {_day(on)} (more than {threshold} days ago)"
        return f"No visit since {_day(on)} (more than {threshold} days)"
    if never_attended:
        return f"No visit in the {_plural(days, 'day')} since registration (more than {threshold})"
    return f"No visit for {_plural(days, 'day')} (more than {threshold})"


def _quiet_words(days: int | None, never_attended: bool, on: date | None) -> str:
    if days is None:
        return "Nothing booked"
    if on is not None:
        seen = f"registered {_day(on)}, never attended" if never_attended else f"last visit {_day(on)}"
        return f"Nothing booked; {seen}"
    seen = "since registration" if never_attended else "since the last visit"
    return f"Nothing booked; {_plural(days, 'day')} {seen}"


def _recency_points(days: int | None) -> int:
    # Steps, not a slope: the score only moves when a threshold is crossed, so stored figures
    # stay true between those moments (see ``valid_until`` in docs/rules.md).
    for after, points in RECENCY_STEPS:
        if days is not None and days > after:
            return points
    return 0


def _score(days: int | None, missed: int, rate: float, counted: int) -> int:
    misses = min(POINTS_PER_MISS * missed, MISS_POINTS_MAX)
    shortfall = half_up(ATTENDANCE_POINTS * (1 - rate), 0) if counted else 0
    return int(_recency_points(days) + misses + shortfall)


def reengagement_risk(
    *,
    days_since_last_contact: int | None,
    has_history: bool,
    upcoming: int,
    attended_90: int,
    did_not_arrive_90: int,
    late_cancelled_90: int,
    appointments_90: int,
    never_attended: bool = False,
    last_contact_on: date | None = None,
    archived: bool = False,
) -> Risk:
    """The risk rule of docs/rules.md.

    ``days_since_last_contact`` counts calendar days since the last attended appointment, or,
    for a patient who never attended (``never_attended``), since registration; None when unknown
    (no time condition fires); ``last_contact_on`` is that visit's (or registration's) day in the
    organization's time zone, named in the reasons. ``has_history``: the patient has at least one counted appointment.
    ``appointments_90``: the appointments the attendance rate is computed over (attended + did
    not arrive + late cancelled in the 90-day window). An archived patient is never at risk.
    """
    if archived:
        return Risk(LOW, 0, 4, ("Archived patient: not followed up",))
    missed = did_not_arrive_90 + late_cancelled_90
    rate = attendance_rate(attended_90, did_not_arrive_90, late_cancelled_90)
    days = days_since_last_contact
    share = percentage(attended_90, appointments_90)
    attendance_words = f"Attended {attended_90} of {appointments_90} appointments in {WINDOW_DAYS} days ({share:g}%"
    missed_words = (
        f"Missed {_plural(missed, 'appointment')} in {WINDOW_DAYS} days "
        f"({did_not_arrive_90} did not arrive, {late_cancelled_90} cancelled late)"
    )
    score = _score(days, missed, rate, appointments_90)

    if upcoming > 0:
        reasons = [f"{_plural(upcoming, 'upcoming appointment')} booked"]
        level, action = LOW, 4
    else:
        high: list[str] = []
        if days is not None and days > HIGH_AFTER_DAYS and has_history:
            high.append(_since_words(days, never_attended, last_contact_on, HIGH_AFTER_DAYS))
        if rate < 0.5 and appointments_90 > 3:
            high.append(f"{attendance_words}, below 50%)")
        if missed >= 4:
            high.append(missed_words)
        medium: list[str] = []
        if days is not None and days > MEDIUM_AFTER_DAYS and has_history:
            medium.append(_since_words(days, never_attended, last_contact_on, MEDIUM_AFTER_DAYS))
        elif days is not None and days > QUIET_AFTER_DAYS:  # the stronger time reason alone
            words = _since_words(days, never_attended, last_contact_on, QUIET_AFTER_DAYS)
            medium.append(f"{words}, nothing booked")
        if rate < 0.7 and appointments_90 > 2:
            medium.append(f"{attendance_words}, below 70%)")
        if missed >= 2:
            medium.append(missed_words)
        if high:
            level, action, reasons = HIGH, 1, high
        elif medium:
            level, action, reasons = MEDIUM, 2, medium
        else:
            level, action = LOW, 3
            reasons = [_quiet_words(days, never_attended, last_contact_on)]
    low, top = SCORE_BANDS[level]
    return Risk(level, max(low, min(top, score)), action, tuple(reasons))


# --- contact outcomes -------------------------------------------------------------------------

REACHED_BOOKED = "reached_booked"
REACHED_DECLINED = "reached_declined"
LEFT_MESSAGE = "left_message"
NO_ANSWER = "no_answer"
WRONG_NUMBER = "wrong_number"
DO_NOT_CONTACT = "do_not_contact"
OUTCOMES = (REACHED_BOOKED, REACHED_DECLINED, LEFT_MESSAGE, NO_ANSWER, WRONG_NUMBER, DO_NOT_CONTACT)
# How long an outcome keeps the patient off the worklist at most; absent: until something changes.
HIDDEN_FOR = {
    REACHED_DECLINED: timedelta(days=90),
    LEFT_MESSAGE: timedelta(days=14),
    NO_ANSWER: timedelta(days=14),
}


def figures_key(*, total: int, attended: int, cancelled: int, did_not_arrive: int, upcoming: int) -> str:
    """The appointment counts a contact remembers: when any of them moves, "something changed"."""
    return f"{total}:{attended}:{cancelled}:{did_not_arrive}:{upcoming}"


def contact_hides(
    *,
    outcome: str,
    contacted_at: datetime,
    risk_level_then: str,
    figures_key_then: str,
    risk_level_now: str,
    figures_key_now: str,
    now: datetime,
) -> tuple[bool, datetime | None]:
    """Whether the patient's latest contact still keeps them off the worklist at ``now``, and
    until when at most (None: no time limit). They come back when their appointment counts
    change, when their risk level rises (except after ``do_not_contact``), or when the outcome's
    period ends (exactly at ``contacted_at + period``)."""
    if figures_key_now != figures_key_then:
        return False, None
    if outcome != DO_NOT_CONTACT and RISK_ORDER.get(risk_level_now, 0) > RISK_ORDER.get(risk_level_then, 0):
        return False, None
    period = HIDDEN_FOR.get(outcome)
    if period is None:
        return True, None
    until = contacted_at + period
    return (now < until), (until if now < until else None)
