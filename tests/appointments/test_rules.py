"""The one rule for appointment status and patient activity (docs/rules.md), at fixed clocks."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import Appointment
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients import service as patients

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"starts_at": NOW + DAY}, "booked"),
        ({"starts_at": NOW - DAY}, "attended"),  # past, nobody cancelled it or marked it DNA
        ({"starts_at": NOW}, "attended"),  # it has started
        ({"starts_at": NOW + HOUR, "patient_arrived": True}, "attended"),  # arrived early
        ({"starts_at": NOW - DAY, "did_not_arrive": True}, "did_not_arrive"),
        ({"starts_at": NOW - DAY, "did_not_arrive": True, "patient_arrived": True}, "did_not_arrive"),
        ({"starts_at": NOW + DAY, "cancelled_at": NOW - DAY}, "cancelled"),
        ({"starts_at": NOW - DAY, "cancelled_at": NOW - 2 * DAY, "did_not_arrive": True}, "cancelled"),
        ({"starts_at": NOW - DAY, "cancelled_at": NOW - 2 * DAY, "patient_arrived": True}, "cancelled"),
    ],
)
def test_appointment_status_rule(facts, expected):
    arguments = {"cancelled_at": None, "did_not_arrive": False, "patient_arrived": False, **facts}
    assert appointments.appointment_status(now=NOW, **arguments) == expected


def _patient(organization_id, first="Ada", last="Lovelace"):
    data = patients.validate_for(organization_id, {"first_name": first, "last_name": last})
    return patients.create_patient(organization_id, data, actor=audit.Actor())


def _appointment(organization_id, patient, starts_at, **facts):
    row = Appointment(organization_id=organization_id, patient_id=patient.id, starts_at=starts_at, **facts)
    db.session.add(row)
    db.session.flush()
    return row


def test_sql_rule_agrees_with_the_python_rule(app_context, tenants):
    org = tenants.a.id
    patient = _patient(org)
    cases = [
        {"starts_at": NOW + DAY},
        {"starts_at": NOW - DAY},
        {"starts_at": NOW},
        {"starts_at": NOW + HOUR, "patient_arrived": True},
        {"starts_at": NOW - DAY, "did_not_arrive": True},
        {"starts_at": NOW + DAY, "cancelled_at": NOW - DAY},
        {"starts_at": NOW - DAY, "cancelled_at": NOW - DAY, "did_not_arrive": True},
    ]
    rows = [_appointment(org, patient, **case) for case in cases]  # stored as "booked" (the default)
    expected = {
        row.id: appointments.appointment_status(
            starts_at=row.starts_at,
            cancelled_at=row.cancelled_at,
            did_not_arrive=row.did_not_arrive,
            patient_arrived=row.patient_arrived,
            now=NOW,
        )
        for row in rows
    }
    assert appointments.refresh_statuses(org, now=NOW) == sum(status != "booked" for status in expected.values())
    db.session.expire_all()
    assert {row.id: db.session.get(Appointment, row.id).status for row in rows} == expected
    assert appointments.refresh_statuses(org, now=NOW) == 0  # nothing left to change


def test_a_booking_becomes_attended_once_its_start_passes(app_context, tenants):
    org = tenants.a.id
    row = _appointment(org, _patient(org), NOW + HOUR)
    appointments.refresh_statuses(org, now=NOW)
    assert db.session.get(Appointment, row.id, populate_existing=True).status == "booked"
    appointments.refresh_statuses(org, now=NOW + 2 * HOUR)
    assert db.session.get(Appointment, row.id, populate_existing=True).status == "attended"


def test_statistics_follow_the_rule(app_context, tenants):
    org = tenants.a.id
    ada, bo = _patient(org), _patient(org, "Bo", "Diddley")
    first = _appointment(org, ada, NOW - 200 * DAY)  # attended, long ago
    _appointment(org, ada, NOW - 10 * DAY)  # attended, recent
    _appointment(org, ada, NOW - 5 * DAY, did_not_arrive=True)
    _appointment(org, ada, NOW + 3 * DAY, cancelled_at=NOW - DAY)  # cancelled: not upcoming
    _appointment(org, ada, NOW + 7 * DAY)  # upcoming
    _appointment(org, ada, NOW + 14 * DAY)  # upcoming
    _appointment(org, ada, NOW + 1 * DAY, archived_at=NOW - DAY)  # archived: counts nowhere
    _appointment(org, ada, NOW - 2 * DAY, deleted_at=NOW - DAY)  # deleted: counts nowhere
    _appointment(org, bo, NOW - 40 * DAY)  # attended, but not recent

    assert figures.recompute(org, now=NOW) == 2
    stats = figures.patient_stats(org, ada.id)
    assert (stats.total, stats.attended, stats.cancelled, stats.did_not_arrive) == (6, 2, 1, 1)
    assert (stats.upcoming, stats.recent_attended) == (2, 1)
    assert stats.first_appointment_at == first.starts_at
    assert stats.last_attended_at == NOW - 10 * DAY
    assert stats.next_appointment_at == NOW + 7 * DAY
    assert stats.is_active is True
    # The first moment time changes a figure: the next booking starts (before the recent one ages out).
    assert stats.valid_until == NOW + 7 * DAY
    assert stats.computed_at == NOW

    other = figures.patient_stats(org, bo.id)
    assert (other.total, other.attended, other.recent_attended, other.upcoming) == (1, 1, 0, 0)
    assert other.is_active is False
    # Bo's risk changes by time alone: his last visit (29 Jan, Sydney) passes 60 days at local
    # midnight starting 31 March, which is 13:00 UTC on 30 March.
    assert other.valid_until == datetime(2026, 3, 30, 13, 0, tzinfo=UTC)
    assert (other.activity_status, other.risk_level, other.action_priority) == ("inactive", "medium", 2)
    assert (stats.activity_status, stats.risk_level, stats.action_priority) == ("active", "low", 4)
    # In the 90-day window: the visit 10 days ago and the no-show; the cancellation 4 days ahead of
    # its start was in time, so it is not a late one.
    assert (stats.attended_90, stats.did_not_arrive_90, stats.late_cancelled_90) == (1, 1, 0)

    assert appointments.status_counts(org, now=NOW) == {
        "booked": 2,
        "attended": 3,
        "cancelled": 1,
        "did_not_arrive": 1,
    }
    summary = figures.activity_summary(org)
    assert summary["active_patients"] == 1 and summary["patients"] == 2
    assert summary["total_upcoming_appointments"] == 2


def test_recent_means_attended_in_the_last_30_days(app_context, tenants):
    org = tenants.a.id
    ada = _patient(org)
    _appointment(org, ada, NOW - 29 * DAY)
    figures.recompute(org, now=NOW)
    stats = figures.patient_stats(org, ada.id)
    assert stats.recent_attended == 1 and stats.is_active
    # It leaves the window just after it is 30 days old (exactly 30 days ago still counts).
    assert stats.valid_until == NOW + DAY + timedelta(microseconds=1)
    assert figures.stale_patient_ids(org, now=NOW) == []
    assert figures.stale_patient_ids(org, now=NOW + DAY) == []
    figures.recompute(org, [ada.id], now=NOW + DAY)
    stats = figures.patient_stats(org, ada.id)
    assert stats.recent_attended == 1 and stats.is_active
    assert figures.stale_patient_ids(org, now=NOW + DAY) == []  # not stale once computed
    assert figures.stale_patient_ids(org, now=NOW + 2 * DAY) == [ada.id]
    figures.recompute(org, [ada.id], now=NOW + 2 * DAY)
    stats = figures.patient_stats(org, ada.id)
    assert stats.recent_attended == 0 and not stats.is_active


def test_an_archived_patient_is_never_active(app_context, tenants):
    org = tenants.a.id
    ada = _patient(org)
    _appointment(org, ada, NOW + DAY)
    patients.archive_patient(org, ada.id, actor=audit.Actor())
    figures.recompute(org, now=NOW)
    stats = figures.patient_stats(org, ada.id)
    assert stats.upcoming == 1 and stats.is_active is False


def test_patients_without_appointments_get_zeros_and_recompute_replaces_rows(app_context, tenants):
    org = tenants.a.id
    ada = _patient(org)
    figures.recompute(org, now=NOW)
    figures.recompute(org, [ada.id], now=NOW)
    rows = db.session.scalars(select(PatientAppointmentStats).where(PatientAppointmentStats.patient_id == ada.id)).all()
    assert len(rows) == 1 and rows[0].total == 0 and rows[0].first_appointment_at is None


def test_upcoming_and_recent_lists(app_context, tenants):
    org = tenants.a.id
    ada = _patient(org)
    soon, later = _appointment(org, ada, NOW + DAY), _appointment(org, ada, NOW + 3 * DAY)
    _appointment(org, ada, NOW + 2 * DAY, cancelled_at=NOW)
    recent = _appointment(org, ada, NOW - DAY)
    _appointment(org, ada, NOW - 45 * DAY)
    upcoming = appointments.patient_appointments(org, ada.id, upcoming=True, now=NOW)
    assert [row.id for row in upcoming] == [soon.id, later.id]
    past = appointments.patient_appointments(org, ada.id, upcoming=False, now=NOW)
    assert [row.id for row in past] == [recent.id]


def test_figures_are_per_organization(app_context, tenants):
    ada = _patient(tenants.a.id)
    _appointment(tenants.a.id, ada, NOW + DAY)
    assert figures.recompute(tenants.b.id, now=NOW) == 0
    assert appointments.status_counts(tenants.b.id, now=NOW)["booked"] == 0
    assert figures.patient_stats(tenants.b.id, ada.id) is None
