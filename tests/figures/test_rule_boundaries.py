"""Each threshold of docs/rules.md at the value before it, at it and after it.

tests/figures/test_rules.py checks the rules' main cases; this file walks every number written in
docs/rules.md (days 29/30/31, 59/60/61, 89/90/91, 179/180/181; attendance just under, at and over
50 % and 70 %; 0/1/2 appointments; 1/2/3/4 misses; the score bands' edges; denominators of 1),
so that a comparison turned from < into <=, a constant moved by one, or a reason left out fails
here. Expectations are computed by hand from docs/rules.md, in the comments.
"""

from datetime import UTC, date, datetime, timedelta

import pytest

from clinic_app.appointments import timing
from clinic_app.extensions import db
from clinic_app.figures import engagement_columns, rules
from clinic_app.figures import service as figures
from tests.engagement.conftest import make_appointment, make_patient

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SECOND, HOUR, DAY = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)


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


# --- activity: 0, 1 and 2 appointments ----------------------------------------------------------


@pytest.mark.parametrize(
    ("recent", "upcoming", "expected"),
    [
        (0, 0, "inactive"),
        (1, 0, "recently_active"),  # exactly one recent, nothing booked
        (0, 1, "upcoming_only"),
        (1, 1, "active"),
        (2, 2, "active"),
        (0, 2, "upcoming_only"),
    ],
)
def test_activity_status_at_zero_one_and_two(recent, upcoming, expected):
    assert rules.activity_status(recent, upcoming) == expected


# --- percentages and averages: denominators of 0, 1 and 2, and half-up rounding ------------------


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(1, 1, 100.0), (0, 1, 0.0), (1, 2, 50.0), (3, 0, 0.0), (1, 16, 6.3), (1, 2000, 0.1), (1, 3000, 0.0)],
)
def test_percentage_edges(part, whole, expected):
    # 1/16 = 6.25 % -> 6.3 (half up); 1/2000 = 0.05 % -> 0.1; 1/3000 = 0.033 % -> 0.0
    assert rules.percentage(part, whole) == expected


@pytest.mark.parametrize(
    ("total", "count", "expected"), [(3, 1, 3.0), (0, 1, 0.0), (1, 2, 0.5), (4, 0, 0.0), (1, 200, 0.01), (1, 300, 0.0)]
)
def test_average_edges(total, count, expected):
    # 1/200 = 0.005 -> 0.01 (half up); 1/300 = 0.0033 -> 0.0
    assert rules.average(total, count) == expected


@pytest.mark.parametrize(
    ("attended", "did_not_arrive", "late", "expected"),
    [(1, 0, 0, 1.0), (0, 0, 1, 0.0), (0, 1, 0, 0.0), (1, 1, 1, 1 / 3), (3, 1, 0, 0.75), (3, 0, 1, 0.75)],
)
def test_attendance_rate_counts_both_kinds_of_miss(attended, did_not_arrive, late, expected):
    assert rules.attendance_rate(attended, did_not_arrive, late) == pytest.approx(expected)


# --- days since the last contact: every step of the level and of the score -----------------------
# Three missed of 30 (27 attended): 30 miss points and 20 x (1 - 0.9) = 2 shortfall points, medium
# by the misses alone; so the level and the score show what the days add (15/30/40/50 points).


@pytest.mark.parametrize(
    ("days", "level", "score", "reason"),
    [
        (0, "medium", 32, None),
        (29, "medium", 32, None),
        (30, "medium", 32, None),  # exactly 30: no day points, no day reason
        (31, "medium", 47, "No visit for 31 days (more than 30), nothing booked"),  # 15 points
        (59, "medium", 47, "No visit for 59 days (more than 30), nothing booked"),
        (60, "medium", 47, "No visit for 60 days (more than 30), nothing booked"),  # exactly 60: still "30"
        (61, "medium", 62, "No visit for 61 days (more than 60)"),  # 30 points
        (89, "medium", 62, "No visit for 89 days (more than 60)"),
        (90, "medium", 62, "No visit for 90 days (more than 60)"),  # exactly 90: not yet high
        (91, "high", 72, "No visit for 91 days (more than 90)"),  # 40 points
        (179, "high", 72, "No visit for 179 days (more than 90)"),
        (180, "high", 72, "No visit for 180 days (more than 90)"),  # exactly 180: still 40
        (181, "high", 82, "No visit for 181 days (more than 90)"),  # 50 points
        (400, "high", 82, "No visit for 400 days (more than 90)"),
    ],
)
def test_each_day_threshold_before_at_and_after(days, level, score, reason):
    result = risk(days_since_last_contact=days, attended_90=27, did_not_arrive_90=3)
    missed = "Missed 3 appointments in 90 days (3 did not arrive, 0 cancelled late)"
    expected_reasons = (reason,) if level == "high" else ((reason, missed) if reason else (missed,))
    assert (result.level, result.score, result.action_priority) == (level, score, 1 if level == "high" else 2)
    assert result.reasons == expected_reasons


@pytest.mark.parametrize(("days", "level"), [(30, "low"), (31, "medium"), (60, "medium"), (90, "medium")])
def test_without_history_only_more_than_30_days_counts(days, level):
    # Never attended, never booked: days > 30 is medium, but days > 60 or > 90 needs history.
    result = risk(days_since_last_contact=days, has_history=False, never_attended=True)
    assert result.level == level
    if level == "medium":
        assert result.reasons == (f"No visit in the {days} days since registration (more than 30), nothing booked",)


def test_no_known_day_adds_nothing():
    result = risk(days_since_last_contact=None, attended_90=27, did_not_arrive_90=3)
    assert (result.level, result.score) == ("medium", 32)


# --- attendance: 50 % and 70 % at their edges, over 2, 3 and 4 appointments ---------------------


@pytest.mark.parametrize(
    ("attended", "missed", "level", "score", "below"),
    [
        # 6 of 9 = 66.7 %: below 70 % over more than 2 -> medium; 30 + round(6.67) = 37
        (6, 3, "medium", 37, "70"),
        # 7 of 10 = exactly 70 %: not below; medium by the 3 misses only; 30 + 6 = 36
        (7, 3, "medium", 36, None),
        # 8 of 11 = 72.7 %: 30 + round(5.45) = 35
        (8, 3, "medium", 35, None),
        # 3 of 6 = exactly 50 %: not below 50 %, below 70 %; 30 + 10 = 40
        (3, 3, "medium", 40, "70"),
        # 2 of 5 = 40 %: below 50 % over more than 3 -> high; 30 + 12 = 42 -> raised to 65
        (2, 3, "high", 65, "50"),
    ],
)
def test_attendance_percent_edges(attended, missed, level, score, below):
    result = risk(attended_90=attended, did_not_arrive_90=missed)
    assert (result.level, result.score) == (level, score)
    attendance = [reason for reason in result.reasons if reason.startswith("Attended")]
    if below is None:
        assert attendance == [], result.reasons  # exactly 70 % is not "below 70 %"
    else:
        share = rules.percentage(attended, attended + missed)
        whole = attended + missed
        assert attendance == [f"Attended {attended} of {whole} appointments in 90 days ({share:g}%, below {below}%)"]


@pytest.mark.parametrize(
    ("attended", "late", "appointments", "level"),
    [
        (1, 1, 2, "low"),  # 50 % over 2: too few for either rule; one miss
        (1, 2, 3, "medium"),  # 33 % over 3: below 70 % (more than 2), not yet the 50 % rule (more than 3)
        (1, 3, 4, "high"),  # 25 % over 4: below 50 % over more than 3
    ],
)
def test_attendance_rules_need_more_than_two_and_more_than_three(attended, late, appointments, level):
    assert risk(attended_90=attended, late_cancelled_90=late, appointments_90=appointments).level == level


# --- misses: 1, 2, 3, 4 and 5 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missed", "attended", "level", "score"),
    [
        # 181 days (50 points), so the score shows the miss points; shortfall in brackets
        (0, 20, "high", 65),  # 50 + 0 + 0 = 50 -> raised to the high floor
        (1, 19, "high", 65),  # 50 + 10 + round(1) = 61 -> 65
        (2, 18, "high", 72),  # 50 + 20 + round(2) = 72
        (3, 27, "high", 82),  # 50 + 30 + round(2) = 82
        (4, 36, "high", 82),  # 50 + 30 (at most 30 for misses) + round(2) = 82
        (5, 45, "high", 82),
        (3, 0, "high", 100),  # 50 + 30 + 20 = 100, the most there is
    ],
)
def test_miss_points_and_their_cap(missed, attended, level, score):
    result = risk(days_since_last_contact=181, attended_90=attended, did_not_arrive_90=missed)
    assert (result.level, result.score) == (level, score)


@pytest.mark.parametrize(("missed", "level"), [(1, "low"), (2, "medium"), (3, "medium"), (4, "high"), (5, "high")])
def test_missed_levels_at_one_two_three_and_four(missed, level):
    # enough attended that the rate is at least 70 %: only the misses decide
    result = risk(attended_90=3 * missed, late_cancelled_90=missed)
    assert result.level == level
    plural = "s" if missed != 1 else ""
    words = f"Missed {missed} appointment{plural} in 90 days (0 did not arrive, {missed} cancelled late)"
    assert (words in result.reasons) is (missed >= 2)


# --- the score's bands --------------------------------------------------------------------------


def test_the_medium_band_stops_at_64():
    # 61 days (30) + 3 misses (30) + 50 % of 6 (10) = 70: medium (not below 50 %, 3 misses) -> 64
    result = risk(days_since_last_contact=61, attended_90=3, did_not_arrive_90=3)
    assert (result.level, result.score) == ("medium", 64)


def test_the_low_band_stops_at_29_and_the_medium_band_starts_at_30():
    low = risk(days_since_last_contact=30, attended_90=1, did_not_arrive_90=1, upcoming=1)  # 0 + 10 + 10 = 20
    assert (low.level, low.score) == ("low", 20)
    capped = risk(days_since_last_contact=181, attended_90=2, did_not_arrive_90=1, upcoming=1)  # 50 + 10 + 7
    assert (capped.level, capped.score) == ("low", 29)
    floor = risk(attended_90=3, did_not_arrive_90=2)  # 20 + round(8) = 28 -> 30
    assert (floor.level, floor.score) == ("medium", 30)


def test_upcoming_counts_from_one_and_is_named():
    assert risk(days_since_last_contact=200, upcoming=1).reasons == ("1 upcoming appointment booked",)
    two = risk(days_since_last_contact=200, upcoming=2)
    assert (two.level, two.action_priority, two.reasons) == ("low", 4, ("2 upcoming appointments booked",))
    none = risk(days_since_last_contact=200, upcoming=0)
    assert (none.level, none.action_priority) == ("high", 1)


# --- reasons: every wording -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "never", "on", "expected"),
    [
        (None, False, None, "Nothing booked"),
        (None, True, date(2026, 3, 1), "Nothing booked"),
        (1, False, None, "Nothing booked; 1 day since the last visit"),
        (5, False, None, "Nothing booked; 5 days since the last visit"),
        (1, True, None, "Nothing booked; 1 day since registration"),
        (0, True, None, "Nothing booked; 0 days since registration"),
        (5, False, date(2026, 3, 5), "Nothing booked; last visit 5 Mar 2026"),
        (5, True, date(2026, 3, 5), "Nothing booked; registered 5 Mar 2026, never attended"),
    ],
)
def test_low_risk_reasons(days, never, on, expected):
    result = risk(days_since_last_contact=days, has_history=not never, never_attended=never, last_contact_on=on)
    assert (result.level, result.action_priority, result.reasons) == ("low", 3, (expected,))


@pytest.mark.parametrize(
    ("days", "history", "never", "on", "expected"),
    [
        (91, True, False, date(2025, 12, 9), "No visit since 9 Dec 2025 (more than 90 days)"),
        (91, True, True, date(2025, 12, 9), "Never attended; registered 9 Dec 2025 (more than 90 days ago)"),
        (91, True, True, None, "No visit in the 91 days since registration (more than 90)"),
        (61, True, True, date(2026, 1, 8), "Never attended; registered 8 Jan 2026 (more than 60 days ago)"),
        (31, True, False, date(2026, 2, 7), "No visit since 7 Feb 2026 (more than 30 days), nothing booked"),
    ],
)
def test_day_reasons_with_and_without_a_date(days, history, never, on, expected):
    result = risk(days_since_last_contact=days, has_history=history, never_attended=never, last_contact_on=on)
    assert result.reasons == (expected,)


def test_high_lists_every_high_condition_in_order_and_no_medium_one():
    # 95 days, 1 of 5 attended (20 %, below 50 %), 4 missed: all three high conditions
    result = risk(days_since_last_contact=95, attended_90=1, did_not_arrive_90=3, late_cancelled_90=1)
    assert result.reasons == (
        "No visit for 95 days (more than 90)",
        "Attended 1 of 5 appointments in 90 days (20%, below 50%)",
        "Missed 4 appointments in 90 days (3 did not arrive, 1 cancelled late)",
    )
    assert (result.level, result.score, result.action_priority) == ("high", 86, 1)  # 40 + 30 + round(16)


def test_archived_wins_over_everything():
    result = risk(days_since_last_contact=400, did_not_arrive_90=6, upcoming=2, archived=True)
    assert result == rules.Risk("low", 0, 4, ("Archived patient: not followed up",))


# --- a contact: rising from low, equal, falling, and the periods' last moment --------------------


def hides(**facts):
    arguments = {
        "outcome": "no_answer",
        "contacted_at": NOW,
        "risk_level_then": "low",
        "figures_key_then": "1:1:0:0:0",
        "risk_level_now": "low",
        "figures_key_now": "1:1:0:0:0",
        "now": NOW + DAY,
        **facts,
    }
    return rules.contact_hides(**arguments)


@pytest.mark.parametrize(
    ("then", "now", "hidden"),
    [
        ("low", "low", True),
        ("low", "medium", False),  # a rise from low to medium brings them back
        ("low", "high", False),
        ("medium", "medium", True),
        ("medium", "low", True),
        ("high", "medium", True),
        ("high", "high", True),
        (None, "low", True),  # a contact recorded without a level: low is no rise
        (None, "medium", False),
    ],
)
def test_a_rise_is_measured_from_the_level_at_the_contact(then, now, hidden):
    assert hides(risk_level_then=then, risk_level_now=now)[0] is hidden
    assert hides(outcome="do_not_contact", risk_level_then=then, risk_level_now=now) == (True, None)


@pytest.mark.parametrize(
    ("outcome", "period"),
    [("left_message", 14 * DAY), ("no_answer", 14 * DAY), ("reached_declined", 90 * DAY)],
)
def test_each_period_ends_exactly_on_time(outcome, period):
    assert hides(outcome=outcome, now=NOW) == (True, NOW + period)
    assert hides(outcome=outcome, now=NOW + period - MICROSECOND) == (True, NOW + period)
    assert hides(outcome=outcome, now=NOW + period) == (False, None)
    assert hides(outcome=outcome, now=NOW + period + MICROSECOND) == (False, None)


def test_a_changed_count_ends_every_outcome():
    for outcome in rules.OUTCOMES:
        assert hides(outcome=outcome, figures_key_now="1:1:0:0:1") == (False, None)
        assert hides(outcome=outcome)[0] is True


# --- when stored figures expire: the day thresholds 30, 60, 90 and 180 ---------------------------


@pytest.mark.parametrize(
    ("days", "changes_after"),
    [
        (0, 31),
        (29, 31),
        (30, 31),
        (31, 61),
        (60, 61),
        (61, 91),
        (90, 91),
        (91, 181),
        (179, 181),
        (180, 181),
        (181, None),
    ],
)
def test_figures_expire_at_the_midnight_a_day_threshold_is_passed(days, changes_after):
    contact_day = date(2026, 1, 10)
    moment = engagement_columns._next_day_moment(contact_day, days, UTC)
    expected = (
        None if changes_after is None else datetime.combine(contact_day + changes_after * DAY, datetime.min.time(), UTC)
    )
    assert moment == expected


# --- the next appointment's hours and days, also once it has started ----------------------------


@pytest.mark.parametrize(
    ("ahead", "hours", "days", "priority"),
    [
        (timedelta(0), 0.0, 0.0, "high"),
        (-2 * HOUR, -2.0, -0.1, "high"),  # started two hours ago: -2.0 h, -0.083 days -> -0.1
        (-timedelta(hours=18, minutes=30), -18.5, -0.8, "high"),
        (-timedelta(hours=1, minutes=3), -1.1, -0.0, "high"),  # -1.05 h rounds away from zero
        (-3 * DAY, -72.0, -3.0, "high"),
    ],
)
def test_hours_and_days_until_an_appointment_that_has_started(ahead, hours, days, priority):
    assert timing.hours_until(NOW + ahead, NOW) == hours
    assert timing.days_until(NOW + ahead, NOW) == days
    assert timing.priority(NOW + ahead, NOW) == priority


# --- "recent" is 30 days, its first moment included --------------------------------------------


@pytest.mark.parametrize(
    ("age", "recent"),
    [(29 * DAY, 1), (30 * DAY - MICROSECOND, 1), (30 * DAY, 1), (30 * DAY + MICROSECOND, 0), (31 * DAY, 0)],
)
def test_the_recent_window_at_30_and_31_days(app_context, tenants, age, recent):
    org = tenants.a.id
    patient = make_patient(org, registered=NOW - 400 * DAY)
    make_appointment(org, patient, NOW - age, status="attended")
    figures.recompute(org, now=NOW)
    db.session.expire_all()
    stats = figures.patient_stats(org, patient.id)
    assert (stats.attended, stats.recent_attended) == (1, recent)
    assert stats.activity_status == ("recently_active" if recent else "inactive")
