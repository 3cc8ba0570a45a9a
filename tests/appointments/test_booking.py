"""Booking in the app (clinic_app/appointments/booking.py): book, reschedule, cancel, attendance,
no double booking (also under a real race), the organization's own records only, Cliniko's
appointments read-only, figures recomputed and every change audited with ids only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from clinic_app.appointments import booking
from clinic_app.appointments import practitioners as setup
from clinic_app.appointments.models import Appointment
from clinic_app.core.errors import Conflict, Invalid, NotFound
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from tests.appointments.builders import (
    ACTOR,
    at,
    book,
    connect_cliniko,
    events,
    make_clinic,
    make_patient,
    make_practitioner,
    make_type,
    raw_appointment,
)

NOW = "2025-03-03 00:00"  # Monday 11:00 in Sydney


@pytest.fixture
def clinic(app, tenants):
    with time_machine.travel(at(NOW), tick=False), app.app_context():
        yield make_clinic(tenants.a.id)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(at(NOW), tick=False):
        yield


def test_a_booking_takes_the_type_length_stores_notes_encrypted_and_updates_the_figures(clinic):
    appointment = book(clinic, "2025-03-04 00:00", notes="SENTINEL-NOTE knee pain", appointment_type_id=clinic.initial)
    assert appointment.ends_at == at("2025-03-04 01:00")  # the type's 60 minutes
    assert appointment.status == "booked" and appointment.cliniko_id is None
    raw = raw_appointment(appointment.id)
    assert "SENTINEL" not in str(raw["notes_enc"]) and str(raw["notes_enc"]).startswith("v1:")
    stats = figures.patient_stats(clinic.organization_id, clinic.patient)
    assert stats.upcoming == 1 and stats.next_appointment_at == at("2025-03-04 00:00") and stats.is_active
    [event] = events("appointment.booked")
    assert event.target_id == appointment.id and event.patient_id == clinic.patient
    assert event.details == {"practitioner_id": clinic.practitioner, "appointment_type_id": clinic.initial}
    assert "SENTINEL" not in str(event.details)


def test_an_explicit_end_wins_and_must_come_after_the_start(clinic):
    appointment = book(clinic, "2025-03-04 00:00", ends_at=at("2025-03-04 00:45"))
    assert appointment.ends_at == at("2025-03-04 00:45")
    with pytest.raises(Invalid) as error:
        book(clinic, "2025-03-05 00:00", ends_at=at("2025-03-05 00:00"))
    assert [e.field for e in error.value.errors] == ["ends_at"]
    with pytest.raises(Invalid) as error:
        book(clinic, "2025-03-05 00:00", ends_at=at("2025-03-05 13:00"))
    assert "12 hours" in error.value.errors[0].message
    with pytest.raises(Invalid) as error:
        book(clinic, "2025-03-05 00:00", starts_at=at("2025-03-05 00:00").replace(tzinfo=None))
    assert error.value.errors[0].field == "starts_at"


def test_overlapping_bookings_of_one_practitioner_are_refused(clinic):
    first = book(clinic, "2025-03-04 00:00")  # 00:00-00:30
    for start in ("2025-03-04 00:00", "2025-03-04 00:15", "2025-03-03 23:45"):
        with pytest.raises(booking.DoubleBooked) as error:
            book(clinic, start, patient_id=clinic.other_patient)
        assert error.value.status == 409 and error.value.extra["conflicting_appointment_id"] == first.id
        assert "Dr Priya Kapoor already has an appointment Tue 04 Mar 2025 11:00 to 11:30" in error.value.detail
        db.session.rollback()
    # Touching is not overlapping; another practitioner is free at the same time.
    assert book(clinic, "2025-03-04 00:30").starts_at == at("2025-03-04 00:30")
    assert book(clinic, "2025-03-03 23:30", patient_id=clinic.other_patient).ends_at == at("2025-03-04 00:00")
    same_time = book(clinic, "2025-03-04 00:00", practitioner_id=clinic.other_practitioner)
    assert same_time.practitioner_id == clinic.other_practitioner
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 4


def test_a_cancelled_or_deleted_appointment_frees_its_slot_and_a_synced_one_without_end_blocks_30_minutes(clinic):
    first = book(clinic, "2025-03-04 00:00")
    booking.cancel(clinic.organization_id, first.id, reason="Unwell", actor=ACTOR)
    db.session.commit()
    second = book(clinic, "2025-03-04 00:00", patient_id=clinic.other_patient)
    second.deleted_at = at(NOW)
    synced = Appointment(
        organization_id=clinic.organization_id,
        cliniko_id="77",
        patient_id=clinic.patient,
        practitioner_id=clinic.practitioner,
        starts_at=at("2025-03-05 00:00"),
        ends_at=None,
    )
    db.session.add(synced)
    db.session.commit()
    assert book(clinic, "2025-03-04 00:00").status == "booked"
    with pytest.raises(booking.DoubleBooked):
        book(clinic, "2025-03-05 00:20")
    db.session.rollback()
    assert book(clinic, "2025-03-05 00:30").starts_at == at("2025-03-05 00:30")


def test_only_the_organizations_own_active_records_can_be_booked(clinic, tenants):
    theirs_patient = make_patient(tenants.b.id, "Other", "Clinic")
    theirs_practitioner = make_practitioner(tenants.b.id)
    theirs_type = make_type(tenants.b.id)
    archived = make_patient(clinic.organization_id, "Archie", "Ved", archived=True)
    db.session.commit()
    for change in (
        {"patient_id": theirs_patient},
        {"practitioner_id": theirs_practitioner},
        {"appointment_type_id": theirs_type},
        {"patient_id": "pat_nope"},
    ):
        with pytest.raises(NotFound):
            book(clinic, "2025-03-04 00:00", **change)
        db.session.rollback()
    with pytest.raises(Invalid) as error:
        book(clinic, "2025-03-04 00:00", patient_id=archived)
    assert error.value.errors[0].field == "patient_id" and "archived" in error.value.errors[0].message
    db.session.rollback()
    setup.set_practitioner_archived(clinic.organization_id, clinic.other_practitioner, True, actor=ACTOR)
    setup.set_type_archived(clinic.organization_id, clinic.initial, True, actor=ACTOR)
    with pytest.raises(Invalid) as error:
        book(clinic, "2025-03-04 00:00", practitioner_id=clinic.other_practitioner, appointment_type_id=clinic.initial)
    assert {e.field for e in error.value.errors} == {"practitioner_id", "appointment_type_id"}
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 0


def test_reschedule_keeps_the_length_checks_clashes_and_is_audited(clinic):
    moving = book(clinic, "2025-03-04 00:00", ends_at=at("2025-03-04 00:45"))
    blocker = book(clinic, "2025-03-04 02:00", patient_id=clinic.other_patient)
    with pytest.raises(booking.DoubleBooked):
        booking.reschedule(clinic.organization_id, moving.id, starts_at=at("2025-03-04 01:30"), actor=ACTOR)
    db.session.rollback()
    # Moving within its own old slot is no clash with itself.
    moved = booking.reschedule(clinic.organization_id, moving.id, starts_at=at("2025-03-04 00:15"), actor=ACTOR)
    assert (moved.starts_at, moved.ends_at) == (at("2025-03-04 00:15"), at("2025-03-04 01:00"))
    # A new type brings its own length; another practitioner is locked and checked.
    moved = booking.reschedule(
        clinic.organization_id,
        moving.id,
        starts_at=at("2025-03-04 02:00"),
        practitioner_id=clinic.other_practitioner,
        appointment_type_id=clinic.initial,
        actor=ACTOR,
    )
    db.session.commit()
    assert moved.ends_at == at("2025-03-04 03:00") and moved.practitioner_id == clinic.other_practitioner
    [first, second] = events("appointment.rescheduled")
    assert first.details["changed"] == ["starts_at", "ends_at"]
    assert second.details["previous_practitioner_id"] == clinic.practitioner
    assert figures.patient_stats(clinic.organization_id, clinic.patient).next_appointment_at == at("2025-03-04 02:00")
    assert blocker.starts_at == at("2025-03-04 02:00")


def test_moving_a_booking_that_has_no_practitioner_asks_for_one(clinic):
    # A booking with nobody assigned (as Cliniko can send, kept after the clinic disconnected).
    orphan = book(clinic, "2025-03-04 00:00")
    orphan.practitioner_id = None
    db.session.commit()
    with pytest.raises(Invalid) as refused:
        booking.reschedule(clinic.organization_id, orphan.id, starts_at=at("2025-03-05 00:00"), actor=ACTOR)
    assert [error.field for error in refused.value.errors] == ["practitioner_id"]
    db.session.rollback()
    moved = booking.reschedule(
        clinic.organization_id,
        orphan.id,
        starts_at=at("2025-03-05 00:00"),
        practitioner_id=clinic.practitioner,
        actor=ACTOR,
    )
    assert moved.practitioner_id == clinic.practitioner and moved.starts_at == at("2025-03-05 00:00")


def test_a_started_or_cancelled_appointment_cannot_be_moved_or_cancelled(clinic):
    past = book(clinic, "2025-03-02 23:00")  # an hour ago: it has happened
    with pytest.raises(Conflict, match="has started"):
        booking.reschedule(clinic.organization_id, past.id, starts_at=at("2025-03-05 00:00"), actor=ACTOR)
    with pytest.raises(Conflict, match="has started"):
        booking.cancel(clinic.organization_id, past.id, reason="Too late", actor=ACTOR)
    future = book(clinic, "2025-03-05 00:00")
    with pytest.raises(Invalid) as error:
        booking.cancel(clinic.organization_id, future.id, reason="   ", actor=ACTOR)
    assert error.value.errors[0].field == "reason"
    booking.cancel(clinic.organization_id, future.id, reason="Unwell", actor=ACTOR)
    with pytest.raises(Conflict, match="cancelled"):
        booking.cancel(clinic.organization_id, future.id, reason="Again", actor=ACTOR)
    with pytest.raises(Conflict, match="cancelled"):
        booking.mark_arrived(clinic.organization_id, future.id, actor=ACTOR)


def test_cancelling_stores_the_reason_encrypted_and_counts_it(clinic):
    appointment = book(clinic, "2025-03-03 12:00")  # 12 hours ahead: a late cancellation
    booking.cancel(clinic.organization_id, appointment.id, reason="SENTINEL-REASON flu", actor=ACTOR)
    db.session.commit()
    raw = raw_appointment(appointment.id)
    assert raw["status"] == "cancelled" and "SENTINEL" not in str(raw["cancellation_reason_enc"])
    view = booking.view_appointment(clinic.organization_id, appointment.id, actor=ACTOR)
    assert view.cancellation_reason == "SENTINEL-REASON flu" and view.status == "cancelled"
    [event] = events("appointment.cancelled")
    assert event.details == {"hours_before_start": 12.0} and "SENTINEL" not in str(event.details)
    stats = figures.patient_stats(clinic.organization_id, clinic.patient)
    assert (stats.upcoming, stats.cancelled, stats.is_active) == (0, 1, False)


def test_attendance_marks(clinic):
    future = book(clinic, "2025-03-04 00:00")
    with pytest.raises(Conflict, match="not started"):
        booking.mark_did_not_arrive(clinic.organization_id, future.id, actor=ACTOR)
    early = booking.mark_arrived(clinic.organization_id, future.id, actor=ACTOR)
    assert early.status == "attended"  # arrived early: it has happened
    past = book(clinic, "2025-03-02 22:00", patient_id=clinic.other_patient)
    booking.mark_did_not_arrive(clinic.organization_id, past.id, actor=ACTOR)
    db.session.commit()
    assert past.status == "did_not_arrive" and not past.patient_arrived
    stats = figures.patient_stats(clinic.organization_id, clinic.other_patient)
    assert (stats.did_not_arrive, stats.attended) == (1, 0)
    booking.mark_arrived(clinic.organization_id, past.id, actor=ACTOR)
    db.session.commit()
    assert past.status == "attended" and not past.did_not_arrive
    assert [e.target_id for e in events("appointment.did_not_arrive")] == [past.id]
    assert len(events("appointment.arrived")) == 2


def test_notes_change_and_reading_them_is_audited(clinic):
    appointment = book(clinic, "2025-03-04 00:00", notes="first")
    booking.change_notes(clinic.organization_id, appointment.id, notes="second", actor=ACTOR)
    booking.change_notes(clinic.organization_id, appointment.id, notes="second", actor=ACTOR)  # no change
    db.session.commit()
    assert len(events("appointment.notes_changed")) == 1
    view = booking.view_appointment(clinic.organization_id, appointment.id, actor=ACTOR, channel="api")
    db.session.commit()
    assert view.notes == "second"
    [event] = events("appointment.viewed")
    assert event.details == {"channel": "api"} and event.patient_id == clinic.patient
    with pytest.raises(Invalid):
        booking.change_notes(clinic.organization_id, appointment.id, notes="x" * 2001, actor=ACTOR)


def test_another_organizations_appointment_is_not_found(clinic, tenants):
    appointment = book(clinic, "2025-03-04 00:00")
    for call in (
        lambda: booking.view_appointment(tenants.b.id, appointment.id, actor=ACTOR),
        lambda: booking.cancel(tenants.b.id, appointment.id, reason="x", actor=ACTOR),
        lambda: booking.reschedule(tenants.b.id, appointment.id, starts_at=at("2025-03-05 00:00"), actor=ACTOR),
        lambda: booking.mark_arrived(tenants.b.id, appointment.id, actor=ACTOR),
    ):
        with pytest.raises(NotFound):
            call()


def test_with_cliniko_connected_bookings_need_clinikos_practitioner_and_arrivals_stay_clinikos(clinic):
    mine = book(clinic, "2025-03-04 00:00")
    synced = Appointment(
        organization_id=clinic.organization_id,
        cliniko_id="123",
        patient_id=clinic.patient,
        practitioner_id=clinic.practitioner,
        starts_at=at("2025-03-06 00:00"),
        ends_at=at("2025-03-06 00:30"),
    )
    db.session.add(synced)
    db.session.commit()
    connect_cliniko(clinic.organization_id)
    # Bookings go to Cliniko (issue 18): the clinic's own practitioner is not one of Cliniko's.
    with pytest.raises(Invalid) as refused:
        book(clinic, "2025-03-05 00:00")
    assert refused.value.errors[0].field == "practitioner_id"
    # Arrivals of Cliniko's appointments are Cliniko's to record (moves and cancels go to Cliniko).
    with pytest.raises(Conflict, match="comes from Cliniko"):
        booking.mark_arrived(clinic.organization_id, synced.id, actor=ACTOR)
    assert booking.view_appointment(clinic.organization_id, synced.id, actor=ACTOR).read_only
    # One booked here before connecting stays the clinic's to change.
    assert not booking.view_appointment(clinic.organization_id, mine.id, actor=ACTOR).read_only
    booking.cancel(clinic.organization_id, mine.id, reason="Moved to Cliniko", actor=ACTOR)


def test_the_dashboard_is_told_after_a_change(clinic, monkeypatch):
    told = []
    from clinic_app.dashboard import service as dashboard

    monkeypatch.setattr(dashboard, "invalidate", told.append)
    appointment = book(clinic, "2025-03-04 00:00")
    after_booking = len(told)
    booking.cancel(clinic.organization_id, appointment.id, reason="Unwell", actor=ACTOR)
    assert after_booking >= 1 and len(told) > after_booking and set(told) == {clinic.organization_id}


def test_two_bookings_of_the_same_slot_at_the_same_moment_make_one_appointment(app, clinic):
    """A real race: the first booking holds its transaction open while the second starts. With the
    practitioner's row locked the second waits, then sees the first and is refused."""
    first_booked, second_started = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def first() -> None:
        with app.app_context():
            try:
                book_uncommitted(clinic, clinic.patient)
                first_booked.set()
                second_started.wait(10)
                threading.Event().wait(0.3)  # let the second reach its check before this commits
                db.session.commit()
                outcomes["first"] = "booked"
            except Exception as error:  # reported below
                outcomes["first"] = error
                first_booked.set()
            finally:
                db.session.remove()

    def second() -> None:
        with app.app_context():
            first_booked.wait(10)
            second_started.set()
            try:
                book_uncommitted(clinic, clinic.other_patient)
                db.session.commit()
                outcomes["second"] = "booked"
            except Exception as error:  # reported below
                outcomes["second"] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes["first"] == "booked"
    if db.engine.dialect.name == "postgresql":
        assert isinstance(outcomes["second"], booking.DoubleBooked), outcomes
    else:  # SQLite lets one writer at a time: the second fails rather than double-booking
        assert isinstance(outcomes["second"], booking.DoubleBooked | OperationalError), outcomes
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1


def book_uncommitted(clinic, patient_id: str) -> None:
    booking.book(
        clinic.organization_id,
        patient_id=patient_id,
        practitioner_id=clinic.practitioner,
        appointment_type_id=clinic.standard,
        starts_at=at("2025-03-04 00:00"),
        actor=ACTOR,
    )


def test_status_times_follow_the_clock(clinic):
    appointment = book(clinic, "2025-03-03 00:30")
    with time_machine.travel(at(NOW) + timedelta(hours=1), tick=False):
        view = booking.view_appointment(clinic.organization_id, appointment.id, actor=ACTOR)
        assert view.status == "attended"  # its start has passed, nobody marked it


def test_the_booking_columns_and_indexes_match_the_migrated_schema(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    ours = ("practitioners", "appointments'", "ix_appointments_org_practitioner_starts", "user_id")
    assert [d for d in differences if any(name in repr(d) for name in ours)] == []
