"""Who makes figures current: the appointments' and patients' signals recompute in the same
transaction and tell the dashboard once; time alone is the periodic task's (a read never writes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from clinic_app.appointments import booking
from clinic_app.appointments.signals import appointments_changed
from clinic_app.core import audit
from clinic_app.dashboard import service as dashboard
from clinic_app.engagement import worklist
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.figures.signals import figures_changed
from clinic_app.patients import service as patients
from tests.appointments.builders import ACTOR, at, book, make_clinic
from tests.engagement.conftest import make_appointment, make_patient

NOW = "2025-03-03 00:00"  # Monday 11:00 in Sydney
DAY = timedelta(days=1)


@pytest.fixture
def clinic(app, tenants):
    with time_machine.travel(at(NOW), tick=False), app.app_context():
        yield make_clinic(tenants.a.id)


@pytest.fixture
def told(monkeypatch):
    """Every organization the dashboard is told about, in order."""
    calls: list[str] = []
    monkeypatch.setattr(dashboard, "invalidate", calls.append)
    return calls


def test_a_booking_recomputes_the_patient_and_tells_the_dashboard_once(clinic, told):
    heard = []

    def listen(_sender, **facts):
        heard.append(facts)

    appointments_changed.connect(listen)
    try:
        with time_machine.travel(at(NOW), tick=False):
            appointment = book(clinic, "2025-03-04 00:00")
            assert told == [clinic.organization_id]  # one invalidation, not two
            booking.cancel(clinic.organization_id, appointment.id, reason="Unwell", actor=ACTOR)
    finally:
        appointments_changed.disconnect(listen)
    assert told == [clinic.organization_id] * 2
    assert heard == [
        {
            "organization_id": clinic.organization_id,
            "patient_ids": [clinic.patient],
            "appointment_id": appointment.id,
            "change": change,
        }
        for change in ("booked", "cancelled")
    ]
    stats = figures.patient_stats(clinic.organization_id, clinic.patient)
    assert (stats.upcoming, stats.cancelled) == (0, 1)


def test_a_registered_patient_gets_figures_at_once(app_context, tenants, told):
    data = patients.validate_for(tenants.a.id, {"first_name": "Ada", "last_name": "Lovelace"})
    ada = patients.create_patient(tenants.a.id, data, actor=audit.Actor())
    stats = figures.patient_stats(tenants.a.id, ada.id)
    assert stats is not None and (stats.total, stats.activity_status) == (0, "inactive")
    assert tenants.a.id in told


def test_a_registered_patients_row_is_what_a_full_recompute_gives(app_context, tenants):
    """Registration computes the new patient's row without reading appointments or contacts
    (there can be none): it must equal the full computation at the same moment, column by column."""
    from clinic_app.figures import compute

    heard = []

    def listen(_sender, **facts):
        heard.append(facts)

    figures_changed.connect(listen)
    try:
        with time_machine.travel(at(NOW), tick=False):
            data = patients.validate_for(tenants.a.id, {"first_name": "Grace", "last_name": "Hopper"})
            grace = patients.create_patient(tenants.a.id, data, actor=audit.Actor())
    finally:
        figures_changed.disconnect(listen)
    assert heard == [{"organization_id": tenants.a.id, "patient_ids": [grace.id]}]
    stored = db.session.scalars(
        select(PatientAppointmentStats).where(PatientAppointmentStats.patient_id == grace.id)
    ).one()
    (full,) = compute.rows(tenants.a.id, [grace.id], stored.computed_at)
    assert full["patient_id"] == grace.id
    assert {name: getattr(stored, name) for name in full} == full
    assert (stored.risk_level, stored.activity_status, stored.valid_until) == (
        full["risk_level"],
        "inactive",
        full["valid_until"],
    )
    assert stored.valid_until is not None  # time alone moves "days since last contact" on


def test_every_recompute_says_so(app_context, tenants):
    heard = []

    def listen(_sender, **facts):
        heard.append(facts)

    figures_changed.connect(listen)
    try:
        figures.recompute(tenants.a.id)
    finally:
        figures_changed.disconnect(listen)
    assert heard == [{"organization_id": tenants.a.id, "patient_ids": None}]


def test_a_read_never_writes_the_periodic_task_refreshes(app_context, tenants):
    org = tenants.b.id
    start = at(NOW)
    ada = make_patient(org, registered=start - 400 * DAY)
    make_appointment(org, ada, start + timedelta(hours=1))
    figures.recompute(org, now=start)
    db.session.commit()
    before = figures.patient_stats(org, ada.id)
    assert before.upcoming == 1 and before.valid_until == start + timedelta(hours=1)

    later = start + 2 * DAY
    worklist.worklist_page(org, risk="all", now=later)  # reads what is stored, stale or not
    figures.stats_for(org, ada.id, now=later)
    db.session.expire_all()
    assert figures.patient_stats(org, ada.id).computed_at == start

    assert figures.refresh_stale_figures(later) == {"organizations": 1, "patients": 1}
    db.session.expire_all()
    after = figures.patient_stats(org, ada.id)
    assert (after.upcoming, after.attended, after.computed_at) == (0, 1, later)
    assert figures.refresh_stale_figures(later) == {"organizations": 0, "patients": 0}


def test_figures_of_a_patient_never_computed_are_shown_without_storing_them(app_context, tenants):
    org = tenants.a.id
    ada = make_patient(org, registered=at(NOW) - 400 * DAY)
    make_appointment(org, ada, at(NOW) + DAY)
    db.session.execute(PatientAppointmentStats.__table__.delete())
    shown = figures.stats_for(org, ada.id, now=at(NOW))
    assert (shown.upcoming, shown.next_appointment_at) == (1, at(NOW) + DAY)
    assert db.session.scalar(select(func.count()).select_from(PatientAppointmentStats)) == 0
