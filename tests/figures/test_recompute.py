"""The stored figures (docs/rules.md) computed by figures.service.recompute, at fixed clocks and
against hand-computed expectations, and kept current by refresh_stale (the periodic task's work)."""

import threading
from datetime import UTC, datetime, timedelta

import time_machine
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from clinic_app.appointments import timing
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients import service as patients
from tests.engagement.conftest import make_appointment, make_patient, make_practitioner, make_type
from tests.factories import make_org

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # 20:00 on 10 March in Sydney (UTC+11)
SECOND, HOUR, DAY = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
LONG_AGO = NOW - 400 * DAY


def stats_of(org, patient):
    db.session.expire_all()
    return figures.patient_stats(org, patient.id)


def test_the_models_match_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
        indexes = {index["name"]: index for index in inspect(connection).get_indexes("patient_appointment_stats")}
    ours = ("patient_appointment_stats", "engagement_contacts")
    # Alembic cannot compare a DESC column of a reflected index, so it reports the worklist index as
    # dropped and added again; that one is checked by hand below.
    worklist = "ix_patient_appointment_stats_worklist"
    found = [d for d in differences if any(name in repr(d) for name in ours) and worklist not in repr(d)]
    assert found == []
    assert worklist in indexes and "ix_patient_appointment_stats_org_active_next" in indexes


def test_late_cancellation_in_sql_agrees_with_the_rule_at_24_hours(app_context, tenants):
    org = tenants.a.id
    ada = make_patient(org, registered=LONG_AGO)
    starts = NOW - 2 * DAY
    gaps = {
        "48 h before": 48 * HOUR,
        "exactly 24 h before": 24 * HOUR,
        "24 h less a second": 24 * HOUR - SECOND,
        "24 h less a millisecond": 24 * HOUR - timedelta(milliseconds=1),
        "an hour before": HOUR,
        "after the start": -HOUR,
    }
    for gap in gaps.values():
        make_appointment(org, ada, starts, cancelled_at=starts - gap)
    expected = sum(timing.is_late_cancellation(starts, starts - gap) for gap in gaps.values())
    assert expected == 4
    figures.recompute(org, now=NOW)
    stats = stats_of(org, ada)
    assert (stats.cancelled, stats.late_cancelled_90, stats.did_not_arrive_90, stats.attended_90) == (6, 4, 0, 0)
    # Four late cancellations are four misses, and 0 attended of 4: high.
    assert (stats.risk_level, stats.action_priority) == ("high", 1)
    assert "Missed 4 appointments in 90 days (0 did not arrive, 4 cancelled late)" in stats.risk_reasons


def test_cancelled_did_not_arrive_and_attended_count_differently(app_context, tenants):
    org = tenants.a.id
    ada = make_patient(org, registered=LONG_AGO)
    make_appointment(org, ada, NOW - 20 * DAY)  # attended (its start passed)
    make_appointment(org, ada, NOW - 15 * DAY, patient_arrived=True)  # attended
    make_appointment(org, ada, NOW - 10 * DAY, did_not_arrive=True)  # a miss
    make_appointment(org, ada, NOW - 5 * DAY, cancelled_at=NOW - 9 * DAY)  # cancelled in time: no miss
    figures.recompute(org, now=NOW)
    stats = stats_of(org, ada)
    assert (stats.attended_90, stats.did_not_arrive_90, stats.late_cancelled_90) == (2, 1, 0)
    # 2 of 3 (66.7%) is below 70% over more than 2 appointments: medium; 15 days since the visit.
    assert (stats.risk_level, stats.risk_score, stats.action_priority) == ("medium", 30, 2)
    assert stats.risk_reasons == ["Attended 2 of 3 appointments in 90 days (66.7%, below 70%)"]
    assert stats.activity_status == "recently_active"


def test_the_90_day_window_follows_the_organization_midnight(app_context, tenants):
    org = tenants.a.id  # Australia/Sydney
    ada = make_patient(org, registered=LONG_AGO)
    window_start = datetime(2025, 12, 9, 13, 0, tzinfo=UTC)  # 00:00 on 10 December in Sydney
    make_appointment(org, ada, window_start, did_not_arrive=True)  # in: the window's first moment
    make_appointment(org, ada, window_start - SECOND, did_not_arrive=True)  # out
    make_appointment(org, ada, window_start + DAY)  # attended 11 December (Sydney)
    figures.recompute(org, now=NOW)
    stats = stats_of(org, ada)
    assert (stats.attended_90, stats.did_not_arrive_90) == (1, 1)
    # 89 days since 11 December: more than 60. 30 day points + 10 for the miss + 10 for 50%.
    assert (stats.risk_level, stats.risk_score) == ("medium", 50)
    assert stats.risk_reasons == ["No visit since 11 Dec 2025 (more than 60 days)"]
    # The no-show of 10 December leaves the window at midnight starting 11 March (Sydney).
    assert stats.valid_until == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)

    assert figures.refresh_stale(org, datetime(2026, 3, 10, 12, 59, tzinfo=UTC)) == 0
    assert figures.refresh_stale(org, datetime(2026, 3, 10, 13, 0, tzinfo=UTC)) == 1
    stats = stats_of(org, ada)
    assert (stats.attended_90, stats.did_not_arrive_90) == (1, 0)
    assert (stats.risk_level, stats.risk_score) == ("medium", 30)  # 90 days: not yet more than 90
    # The visit of 11 December passes 90 days at midnight starting 12 March (Sydney).
    assert stats.valid_until == datetime(2026, 3, 11, 13, 0, tzinfo=UTC)
    assert figures.refresh_stale(org, datetime(2026, 3, 11, 13, 0, tzinfo=UTC)) == 1
    stats = stats_of(org, ada)
    assert (stats.risk_level, stats.risk_score, stats.action_priority) == ("high", 65, 1)
    assert stats.risk_reasons == ["No visit since 11 Dec 2025 (more than 90 days)"]


def test_days_since_the_last_visit_turn_at_local_midnight(app_context, tenants):
    sydney = tenants.a.id
    utc_clinic = make_org("Greenwich Clinic", time_zone="UTC").id
    visit = datetime(2025, 12, 9, 12, 0, tzinfo=UTC)  # 23:00 on 9 December in Sydney, noon in UTC
    ada = make_patient(sydney, registered=LONG_AGO)
    bo = make_patient(utc_clinic, "Bo", "Diddley", registered=LONG_AGO)
    make_appointment(sydney, ada, visit)
    make_appointment(utc_clinic, bo, visit)
    sydney_midnight = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # 10 March 00:00 Sydney: 91 days
    utc_midnight = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)  # 10 March 00:00 UTC: 91 days

    for org in (sydney, utc_clinic):
        figures.recompute(org, now=sydney_midnight - SECOND)
    assert stats_of(sydney, ada).risk_level == "medium"  # 90 days
    assert stats_of(sydney, ada).valid_until == sydney_midnight
    assert stats_of(utc_clinic, bo).valid_until == utc_midnight

    figures.refresh_stale(sydney, sydney_midnight)
    figures.refresh_stale(utc_clinic, sydney_midnight)
    assert stats_of(sydney, ada).risk_level == "high"  # 91 days in Sydney
    assert stats_of(utc_clinic, bo).risk_level == "medium"  # still 9 March in UTC: 90 days
    figures.refresh_stale(utc_clinic, utc_midnight)
    assert stats_of(utc_clinic, bo).risk_level == "high"


def test_next_appointment_and_primary_type(app_context, tenants):
    org = tenants.a.id
    ada = make_patient(org, registered=LONG_AGO)
    bo = make_patient(org, "Bo", "Diddley", registered=LONG_AGO)
    physio, massage = make_type(org, "Physiotherapy"), make_type(org, "Massage")
    kim = make_practitioner(org, "Kim", "Lee")
    for days in (30, 20):
        make_appointment(org, ada, NOW - days * DAY, appointment_type_id=physio.id)
    for days in (3, 4, 6):  # cancelled: not counted for the primary type
        make_appointment(org, ada, NOW + days * DAY, appointment_type_id=massage.id, cancelled_at=NOW)
    soon = make_appointment(org, ada, NOW + 2 * DAY, appointment_type_id=massage.id, practitioner_id=kim.id)
    make_appointment(org, ada, NOW + 5 * DAY, appointment_type_id=physio.id)
    # Bo: one of each, massage the more recent: the tie goes to massage.
    make_appointment(org, bo, NOW - 10 * DAY, appointment_type_id=physio.id)
    make_appointment(org, bo, NOW - 5 * DAY, appointment_type_id=massage.id)
    figures.recompute(org, now=NOW)

    stats = stats_of(org, ada)
    assert (stats.next_appointment_id, stats.next_appointment_type_id, stats.next_practitioner_id) == (
        soon.id,
        massage.id,
        kim.id,
    )
    assert stats.next_appointment_at == NOW + 2 * DAY
    assert stats.primary_appointment_type_id == physio.id  # 3 physiotherapy against 1 massage
    assert stats.activity_status == "active"
    other = stats_of(org, bo)
    assert other.primary_appointment_type_id == massage.id
    assert other.next_appointment_id is None and other.next_practitioner_id is None


def test_a_patient_with_no_appointments_counts_from_registration(app_context, tenants):
    org = tenants.a.id
    registered = datetime(2026, 1, 29, 3, 0, tzinfo=UTC)  # 29 January in Sydney
    ada = make_patient(org, registered=registered)
    new = make_patient(org, "Bo", "Diddley", registered=NOW - 2 * DAY)
    figures.recompute(org, now=NOW)
    stats = stats_of(org, ada)
    assert (stats.total, stats.activity_status, stats.risk_level, stats.risk_score) == (0, "inactive", "medium", 30)
    assert stats.risk_reasons == ["Never attended; registered 29 Jan 2026 (more than 30 days ago), nothing booked"]
    # 40 days. Without history "more than 60/90 days" never applies, but the score steps at 60
    # days: 61 days after 29 January is 31 March, whose midnight in Sydney is 13:00 UTC on 30 March.
    assert stats.valid_until == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)
    fresh = stats_of(org, new)
    assert (fresh.risk_level, fresh.action_priority) == ("low", 3)
    assert fresh.risk_reasons == ["Nothing booked; registered 8 Mar 2026, never attended"]


def test_an_archived_patient_is_not_at_risk(app_context, tenants):
    org = tenants.a.id
    ada = make_patient(org, registered=LONG_AGO)
    for days in (10, 20, 30, 40):
        make_appointment(org, ada, NOW - days * DAY, did_not_arrive=True)
    patients.archive_patient(org, ada.id, actor=audit.Actor())
    figures.recompute(org, now=NOW)
    stats = stats_of(org, ada)
    assert stats.did_not_arrive_90 == 4  # the figures are kept
    assert (stats.risk_level, stats.risk_score, stats.action_priority) == ("low", 0, 4)
    assert (stats.activity_status, stats.is_active) == ("inactive", False)


def test_refresh_stale_uses_the_clock_and_is_cheap_when_nothing_is_stale(app_context, tenants):
    org = tenants.a.id
    ada = make_patient(org, registered=LONG_AGO)
    make_appointment(org, ada, NOW + HOUR)
    figures.recompute(org, now=NOW)
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):  # half an hour later
        assert figures.refresh_stale(org) == 0
    with time_machine.travel(NOW + 2 * HOUR, tick=False):  # the booking has started
        assert figures.refresh_stale(org) == 1
    stats = stats_of(org, ada)
    assert (stats.upcoming, stats.attended, stats.recent_attended) == (0, 1, 1)
    assert stats.computed_at == NOW + 2 * HOUR


def test_upcoming_keeps_the_risk_low_and_time_does_not_matter_meanwhile(app_context, tenants):
    org = tenants.a.id
    ada = make_patient(org, registered=LONG_AGO)
    make_appointment(org, ada, NOW - 200 * DAY)
    make_appointment(org, ada, NOW + 20 * DAY)
    figures.recompute(org, now=NOW)
    stats = stats_of(org, ada)
    assert (stats.risk_level, stats.action_priority, stats.activity_status) == ("low", 4, "upcoming_only")
    assert stats.valid_until == NOW + 20 * DAY  # no day thresholds while something is booked


def test_two_requests_bringing_the_same_figures_up_to_date_at_once(make_app, tenants):
    """A real race: while one transaction is recomputing the stale patients (uncommitted), a second
    one asks too. On PostgreSQL it does not wait for the statistics lock and reads the figures as
    they are; on SQLite it waits for the first writer. Either way nothing fails and each patient
    keeps exactly one row."""
    threaded = make_app()
    org, later = tenants.a.id, NOW + 2 * HOUR
    answers = {}
    with threaded.app_context():
        ada = make_patient(org, registered=LONG_AGO)
        make_appointment(org, ada, NOW + HOUR)
        figures.recompute(org, now=NOW)
        db.session.commit()

    def second_request():
        with threaded.app_context():
            try:
                answers["recomputed"] = figures.refresh_stale(org, later)
                db.session.commit()
            except Exception as error:
                answers["error"] = repr(error)

    with threaded.app_context():
        assert figures.refresh_stale(org, later) == 1  # holds the lock until it commits
        racer = threading.Thread(target=second_request)
        racer.start()
        if db.engine.dialect.name == "postgresql":
            racer.join(timeout=30)
            assert answers == {"recomputed": 0}  # it did not wait for this transaction
        db.session.commit()
        racer.join(timeout=30)
        assert not racer.is_alive() and "error" not in answers
        rows = db.session.scalars(select(PatientAppointmentStats).where(PatientAppointmentStats.patient_id == ada.id))
        assert [(row.upcoming, row.attended) for row in rows] == [(0, 1)]
