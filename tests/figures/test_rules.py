"""The engagement and re-engagement rules of docs/rules.md (``figures.rules``, ``appointments.timing``
and the dashboard's words), at their boundaries, against hand-computed expectations (pure
functions: no database)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from clinic_app.appointments import timing
from clinic_app.core.time import zone_named
from clinic_app.dashboard import figures as dashboard_figures
from clinic_app.figures import rules

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SECOND, HOUR, DAY = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
SYDNEY = ZoneInfo("Australia/Sydney")  # UTC+11 in March 2026 (daylight saving until 5 April)


@pytest.mark.parametrize(
    ("recent", "upcoming", "expected"),
    [(1, 1, "active"), (2, 0, "recently_active"), (0, 3, "upcoming_only"), (0, 0, "inactive")],
)
def test_activity_status(recent, upcoming, expected):
    assert rules.activity_status(recent, upcoming) == expected


@pytest.mark.parametrize(
    ("ahead", "expected"),
    [
        (None, None),
        (-HOUR, "high"),  # started but still the stored next one
        (HOUR, "high"),
        (24 * HOUR, "high"),  # exactly 24 h is high
        (24 * HOUR + SECOND, "medium"),
        (72 * HOUR, "medium"),  # exactly 72 h is medium
        (72 * HOUR + SECOND, "low"),
        (30 * DAY, "low"),
    ],
)
def test_priority_boundaries(ahead, expected):
    assert timing.priority(None if ahead is None else NOW + ahead, NOW) == expected


@pytest.mark.parametrize(
    ("ahead", "hours", "days"),
    [
        (timedelta(hours=18, minutes=30), 18.5, 0.8),  # the seed's own example
        (24 * HOUR, 24.0, 1.0),
        (timedelta(hours=1, minutes=3), 1.1, 0.0),  # 1.05 h rounds half up; 1.1 / 24 = 0.046
        (timedelta(hours=35, minutes=57), 36.0, 1.5),  # 35.95 h -> 36.0 h -> 1.5 days
        (72 * HOUR, 72.0, 3.0),
    ],
)
def test_hours_and_days_until(ahead, hours, days):
    assert timing.hours_until(NOW + ahead, NOW) == hours
    assert timing.days_until(NOW + ahead, NOW) == days


def test_nothing_booked_has_no_hours_or_days():
    assert timing.hours_until(None, NOW) is None
    assert timing.days_until(None, NOW) is None


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(1, 3, 33.3), (2, 3, 66.7), (1, 8, 12.5), (37, 650, 5.7), (0, 0, 0.0), (5, 5, 100.0)],
)
def test_percentage(part, whole, expected):
    assert rules.percentage(part, whole) == expected


@pytest.mark.parametrize(
    ("total", "count", "expected"), [(5, 4, 1.25), (1, 3, 0.33), (2, 3, 0.67), (1, 8, 0.13), (7, 0, 0.0)]
)
def test_average(total, count, expected):
    assert rules.average(total, count) == expected


@pytest.mark.parametrize(
    ("connected", "synced", "total", "ok", "expected"),
    [
        (False, 10, 10, True, "Not Connected"),
        (True, 10, 10, True, "Connected"),
        (True, 0, 0, True, "Connected"),
        (True, 9, 10, True, "Partial"),  # one patient created here, not in Cliniko
        (True, 10, 10, False, "Partial"),  # last sync failed (or none yet)
    ],
)
def test_integration_status(connected, synced, total, ok, expected):
    assert dashboard_figures.integration_status(connected, synced, total, ok) == expected


def test_dashboard_activity_status():
    assert dashboard_figures.activity_status(1) == "Active"
    assert dashboard_figures.activity_status(0) == "Inactive"


def test_attendance_rate():
    assert rules.attendance_rate(0, 0, 0) == 1.0  # none counted
    assert rules.attendance_rate(2, 2, 1) == 0.4
    assert rules.attendance_rate(3, 0, 0) == 1.0
    assert rules.attendance_rate(0, 1, 0) == 0.0


@pytest.mark.parametrize(
    ("before_start", "late"),
    [
        (48 * HOUR, False),
        (24 * HOUR, False),  # exactly 24 h before: in time
        (24 * HOUR - SECOND, True),
        (HOUR, True),
        (-HOUR, True),  # cancelled after the start
    ],
)
def test_late_cancellation(before_start, late):
    starts_at = NOW + 5 * DAY
    assert timing.is_late_cancellation(starts_at, starts_at - before_start) is late


def test_not_cancelled_is_not_late():
    assert timing.is_late_cancellation(NOW, None) is False


def test_days_since_counts_calendar_days_in_the_organization_time_zone():
    # 23:59 on 9 March in Sydney, and 00:01 on 10 March in Sydney: one calendar day apart there.
    visit = datetime(2026, 3, 9, 12, 59, tzinfo=UTC)
    now = datetime(2026, 3, 9, 13, 1, tzinfo=UTC)
    assert rules.days_since(visit, now, SYDNEY) == 1
    assert rules.days_since(visit, now, UTC) == 0  # the same moments in a UTC clinic: same day
    assert rules.days_since(None, now, SYDNEY) is None
    # 00:10 today and 23:50 today (Sydney): 0 days.
    assert (
        rules.days_since(datetime(2026, 3, 9, 13, 10, tzinfo=UTC), datetime(2026, 3, 10, 12, 50, tzinfo=UTC), SYDNEY)
        == 0
    )


def test_the_90_day_window_starts_at_local_midnight_90_days_before_today():
    assert rules.window_start(NOW, UTC) == datetime(2025, 12, 10, 0, 0, tzinfo=UTC)
    # 20:00 on 10 March in Sydney; 10 December 2025 00:00 there is 9 December 13:00 UTC.
    assert rules.window_start(NOW, SYDNEY) == datetime(2025, 12, 9, 13, 0, tzinfo=UTC)
    # Just after local midnight the window moves on by a day; just before, it does not.
    midnight = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 00:00 on 11 March in Sydney
    assert rules.window_start(midnight - SECOND, SYDNEY) == datetime(2025, 12, 9, 13, 0, tzinfo=UTC)
    assert rules.window_start(midnight, SYDNEY) == datetime(2025, 12, 10, 13, 0, tzinfo=UTC)


def test_unknown_time_zone_falls_back_to_utc():
    assert zone_named("Not/AZone") == ZoneInfo("UTC")
    assert zone_named(None) == ZoneInfo("UTC")


def risk(**facts):
    arguments = {
        "days_since_last_contact": 5,
        "has_history": True,
        "upcoming": 0,
        "attended_90": 0,
        "did_not_arrive_90": 0,
        "late_cancelled_90": 0,
        **facts,
    }
    arguments.setdefault(
        "appointments_90", arguments["attended_90"] + arguments["did_not_arrive_90"] + arguments["late_cancelled_90"]
    )
    return rules.reengagement_risk(**arguments)


@pytest.mark.parametrize(
    ("days", "history", "level", "score", "priority"),
    [
        (0, True, "low", 0, 3),
        (30, True, "low", 0, 3),  # exactly 30 days: not yet
        (31, True, "medium", 30, 2),  # 15 day points, raised to the medium floor
        (60, True, "medium", 30, 2),
        (61, True, "medium", 30, 2),  # 30 day points
        (90, True, "medium", 30, 2),  # exactly 90: not yet high
        (91, True, "high", 65, 1),  # 40 day points, raised to the high floor
        (181, True, "high", 65, 1),  # 50 points
        (91, False, "medium", 40, 2),  # no history: only "more than 30 days, nothing booked"
        (31, False, "medium", 30, 2),
        (30, False, "low", 0, 3),
    ],
)
def test_risk_by_days_since_last_contact(days, history, level, score, priority):
    result = risk(days_since_last_contact=days, has_history=history, never_attended=not history)
    assert (result.level, result.score, result.action_priority) == (level, score, priority)


def test_anything_upcoming_is_low_risk_whatever_else():
    result = risk(days_since_last_contact=200, upcoming=1, attended_90=1, did_not_arrive_90=5)
    assert (result.level, result.action_priority) == ("low", 4)
    assert result.score == 29  # 50 + 30 + 17 points, lowered to the low ceiling
    assert result.reasons == ("1 upcoming appointment booked",)


@pytest.mark.parametrize(
    ("attended", "dna", "late", "level", "score"),
    [
        (1, 3, 0, "high", 65),  # 25% over 4: below 50% over more than 3 (30 + 15 points)
        (1, 2, 1, "high", 65),  # a late cancellation misses like a no-show
        (2, 2, 0, "medium", 30),  # exactly 50%: not below; 2 missed (20 + 10 points)
        (1, 2, 0, "medium", 33),  # 33% over 3 is not "more than 3"; below 70% over more than 2 (20 + 13)
        (2, 1, 0, "medium", 30),  # 67% over 3 is below 70% (10 + 7 points, raised to the floor)
        (1, 1, 0, "low", 20),  # 50% over only 2 does not count; 1 miss is not 2 (10 + 10 points)
        (1, 0, 1, "low", 20),
        (2, 1, 1, "medium", 30),  # 2 missed (one of them late): 20 + 10 points
        (7, 1, 0, "low", 13),  # 1 miss, 87.5%: 10 + 3 points (2.5 rounds half up)
        (6, 4, 0, "high", 65),  # 60% but 4 missed
        (0, 0, 0, "low", 0),
    ],
)
def test_risk_by_attendance_and_misses(attended, dna, late, level, score):
    result = risk(attended_90=attended, did_not_arrive_90=dna, late_cancelled_90=late)
    assert (result.level, result.score) == (level, score)


def test_reasons_name_the_conditions_with_their_numbers():
    result = risk(
        days_since_last_contact=94,
        attended_90=2,
        did_not_arrive_90=2,
        late_cancelled_90=1,
        last_contact_on=date(2025, 12, 6),
    )
    # 40 day points + 30 for three misses + 12 for a 60% shortfall.
    assert (result.level, result.score, result.action_priority) == ("high", 82, 1)
    assert result.reasons == (
        "No visit since 6 Dec 2025 (more than 90 days)",
        "Attended 2 of 5 appointments in 90 days (40%, below 50%)",
    )


def test_reasons_without_a_date_count_the_days():
    assert risk(days_since_last_contact=94).reasons == ("No visit for 94 days (more than 90)",)
    assert risk(days_since_last_contact=45, has_history=False, never_attended=True).reasons == (
        "No visit in the 45 days since registration (more than 30), nothing booked",
    )


def test_medium_reasons_list_only_the_stronger_day_condition_and_the_misses():
    result = risk(days_since_last_contact=65, attended_90=1, late_cancelled_90=2, last_contact_on=date(2026, 1, 4))
    assert result.reasons == (
        "No visit since 4 Jan 2026 (more than 60 days)",
        "Attended 1 of 3 appointments in 90 days (33.3%, below 70%)",
        "Missed 2 appointments in 90 days (0 did not arrive, 2 cancelled late)",
    )


def test_never_attended_patient_reasons_say_so():
    result = risk(days_since_last_contact=40, has_history=False, never_attended=True, last_contact_on=date(2026, 1, 29))
    assert result.reasons == ("Never attended; registered 29 Jan 2026 (more than 30 days ago), nothing booked",)
    quiet = risk(days_since_last_contact=3, never_attended=True, last_contact_on=date(2026, 3, 7))
    assert quiet.reasons == ("Nothing booked; registered 7 Mar 2026, never attended",)


def test_archived_patient_is_never_at_risk():
    result = risk(days_since_last_contact=400, did_not_arrive_90=6, archived=True)
    assert (result.level, result.score, result.action_priority) == ("low", 0, 4)


def test_no_appointments_and_no_date_is_low():
    result = risk(days_since_last_contact=None, has_history=False)
    assert (result.level, result.score, result.action_priority, result.reasons) == ("low", 0, 3, ("Nothing booked",))


def test_score_stays_inside_the_level_band():
    for days in (0, 31, 61, 91, 181):
        for dna in range(7):
            result = risk(days_since_last_contact=days, attended_90=1, did_not_arrive_90=dna)
            low, high = rules.SCORE_BANDS[result.level]
            assert low <= result.score <= high


def hides(**facts):
    arguments = {
        "outcome": "left_message",
        "contacted_at": NOW,
        "risk_level_then": "medium",
        "figures_key_then": "3:2:0:1:0",
        "risk_level_now": "medium",
        "figures_key_now": "3:2:0:1:0",
        "now": NOW + DAY,
        **facts,
    }
    return rules.contact_hides(**arguments)


def test_a_message_hides_the_patient_for_exactly_14_days():
    assert hides() == (True, NOW + 14 * DAY)
    assert hides(now=NOW + 14 * DAY - SECOND) == (True, NOW + 14 * DAY)
    assert hides(now=NOW + 14 * DAY) == (False, None)
    assert hides(outcome="no_answer", now=NOW + 13 * DAY) == (True, NOW + 14 * DAY)
    assert hides(outcome="reached_declined", now=NOW + 89 * DAY) == (True, NOW + 90 * DAY)


def test_other_outcomes_hide_until_something_changes():
    for outcome in ("reached_booked", "wrong_number", "do_not_contact"):
        assert hides(outcome=outcome, now=NOW + 400 * DAY) == (True, None)


def test_a_change_in_appointments_brings_the_patient_back():
    assert hides(figures_key_now="4:2:0:1:1") == (False, None)
    assert hides(outcome="do_not_contact", figures_key_now="3:2:0:2:0") == (False, None)


def test_a_rising_risk_brings_the_patient_back_except_after_do_not_contact():
    assert hides(risk_level_now="high") == (False, None)
    assert hides(risk_level_now="low") == (True, NOW + 14 * DAY)  # falling risk: still hidden
    assert hides(outcome="do_not_contact", risk_level_now="high") == (True, None)


def test_figures_key():
    assert rules.figures_key(total=3, attended=2, cancelled=0, did_not_arrive=1, upcoming=0) == "3:2:0:1:0"
