"""Erasing a patient clears their appointments' notes and cancellation reasons
(``appointments.erasure``); the bookings stay; another patient's notes stay."""

from __future__ import annotations

from datetime import timedelta

from clinic_app.appointments import booking
from clinic_app.appointments.models import Appointment
from clinic_app.core import audit
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients import erasure
from tests.health_data.conftest import register_patient
from tests.patients.test_erasure import _catalogue, erase_now


def test_erasure_clears_appointment_notes_and_reasons_and_keeps_the_bookings(app, tenants):
    erased = register_patient(app, tenants.a, first_name="Una", last_name="Gone")
    kept = register_patient(app, tenants.a, first_name="Vera", last_name="Stays")
    actor = audit.Actor(user_id=tenants.user("receptionist").id)
    start = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    with app.app_context():
        practitioner_id, type_id = _catalogue(tenants.a.id)
        ids = {}
        for number, patient_id in enumerate((erased, kept)):
            made = booking.book(
                tenants.a.id, patient_id=patient_id, practitioner_id=practitioner_id, appointment_type_id=type_id,
                starts_at=start + timedelta(hours=number), notes="Needs the ramp", actor=actor,
            )  # fmt: skip
            ids[patient_id] = made.id
        cancelled = booking.book(
            tenants.a.id, patient_id=erased, practitioner_id=practitioner_id, appointment_type_id=type_id,
            starts_at=start + timedelta(hours=5), actor=actor,
        )  # fmt: skip
        booking.cancel(tenants.a.id, cancelled.id, reason="Moving away", actor=actor)
        db.session.commit()
        lines = {
            line.what: line.count
            for line in erasure.inventory(tenants.a.id, erased).lines
            if line.feature == "appointments"
        }
        assert lines["Appointment notes and cancellation reasons"] == 2
    erase_now(app, tenants, erased)
    with app.app_context():
        for appointment_id in (ids[erased], cancelled.id):
            row = db.session.get(Appointment, appointment_id)
            assert row.patient_id == erased and row.notes_enc is None and row.cancellation_reason_enc is None
        assert db.session.get(Appointment, ids[kept]).notes_enc is not None
