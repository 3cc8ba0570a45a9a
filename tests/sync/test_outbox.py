"""The Cliniko outbox against the sandbox over real HTTP: patients registered, edited and archived
here reach Cliniko once, with the id map the read-sync uses; lost answers, 422s, conflicts and an
unreachable Cliniko; and the shared limiter's "writes first" rule."""

import json
import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient
from clinic_app.sync import outbox, service
from clinic_app.sync.models import CONFLICT, NOT_SENT, PENDING, ClinikoLink, OutboxEntry, SyncRun
from clinic_app.sync.outbox_job import outbox_tick
from clinic_app.sync.ratelimit import SlidingWindowLimiter
from devtools.sandbox.server import SandboxServer


class NoJitter(random.Random):
    def uniform(self, a, b):
        return a


FAST = {
    "requests_per_minute": 100_000,
    "backoff_base": 0.005,
    "backoff_cap": 0.02,
    "timeout": 5.0,
    "max_retries": 8,
    "rng": NoJitter(),
}


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


def owner(tenants):
    return audit.Actor(user_id=tenants.user("owner").id)


def connect(tenants, server):
    service.connect(
        tenants.a.id, server.clinic.api_key, base_url_template=server.base_url_template, actor=owner(tenants)
    )
    db.session.commit()


def sync(tenants, mode="comprehensive"):
    run, started = service.start_sync(tenants.a.id, mode, actor=owner(tenants))
    assert started
    db.session.commit()
    return db.session.get(SyncRun, run.id, populate_existing=True)


def register(tenants, first="Ada", last="Outbox", **fields):
    raw = {"first_name": first, "last_name": last, "phones": [{"type": "mobile", "number": "0412 345 678"}]}
    data = patients.validate_for(tenants.a.id, {**raw, **fields})
    patient = patients.create_patient(tenants.a.id, data, actor=owner(tenants))
    db.session.commit()  # the eager worker sends it here
    return patient


def sandbox_patient(server, marker):
    found = [p for p in server.clinic.records("patients") if p["old_reference_id"] == marker]
    return found


def link_of(patient_id):
    return db.session.scalar(select(ClinikoLink).where(ClinikoLink.local_id == patient_id))


def entries():
    return db.session.scalars(select(OutboxEntry).execution_options(populate_existing=True)).all()


def test_a_patient_registered_here_is_created_in_cliniko_once_and_linked(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    patient = register(tenants, email="ada@example.com", date_of_birth="1980-02-03", sex="female")

    (remote,) = sandbox_patient(cliniko_sandbox, patient.id)
    assert (remote["first_name"], remote["last_name"], remote["email"]) == ("Ada", "Outbox", "ada@example.com")
    assert remote["date_of_birth"] == "1980-02-03" and remote["sex"] == "Female"
    assert remote["patient_phone_numbers"] == [{"phone_type": "Mobile", "number": "+61412345678"}]
    assert link_of(patient.id).cliniko_id == remote["id"]
    assert entries() == []
    assert outbox.record_status(tenants.a.id, "patients", patient.id).words == "in Cliniko"

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "cliniko.write_sent"))
    assert event.target_id == patient.id and "email" in event.details["fields"]
    assert "ada@example.com" not in json.dumps(event.details) and "Ada" not in json.dumps(event.details)

    # The next comprehensive read-sync sees the same record: no second patient on either side.
    before = cliniko_sandbox.clinic.counts()["patients"]["total"]
    run = sync(tenants)
    assert run.status == "completed"
    assert db.session.scalar(select(func.count()).select_from(Patient)) == before
    assert len(sandbox_patient(cliniko_sandbox, patient.id)) == 1
    assert db.session.scalar(select(func.count()).where(ClinikoLink.cliniko_id == remote["id"])) == 1


def test_edits_send_only_the_changed_fields_and_archiving_archives_there(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    patient = register(tenants, email="ada@example.com")
    cliniko_id = link_of(patient.id).cliniko_id
    # Cliniko's copy changes in a field we do not hold: newer, but no conflict with our edit.
    cliniko_sandbox.clinic.change_patient(cliniko_id, occupation="Pilot")

    changed = patients.update_patient(
        tenants.a.id, patient.id, patients.validate_for(tenants.a.id, {"email": "new@example.com"}, partial=True),
        actor=owner(tenants),
    )  # fmt: skip
    db.session.commit()
    assert changed == ["email"]
    remote = cliniko_sandbox.clinic.get("patients", cliniko_id)
    assert remote.email == "new@example.com" and remote.occupation == "Pilot" and remote.first_name == "Ada"
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "cliniko.write_sent").order_by(AuditEvent.seq.desc())
    ).first()
    assert event.details == {"action": "update", "fields": ["email"], "cliniko_id": cliniko_id}

    patients.archive_patient(tenants.a.id, patient.id, actor=owner(tenants))
    db.session.commit()
    assert cliniko_sandbox.clinic.get("patients", cliniko_id).archived_at is not None
    assert entries() == []


def test_a_clinic_without_cliniko_writes_nothing_to_the_outbox(app_context, tenants, cliniko_sandbox):
    patient = register(tenants)
    assert entries() == [] and outbox.record_status(tenants.a.id, "patients", patient.id) is None
    assert cliniko_sandbox.clinic.counts()["patients"]["total"] == 60


def test_a_create_whose_answer_was_lost_is_found_not_sent_again(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    cliniko_sandbox.clinic.set_faults(lost_write_answers=1)
    patient = register(tenants)
    assert len(sandbox_patient(cliniko_sandbox, patient.id)) == 1
    assert link_of(patient.id).cliniko_id == sandbox_patient(cliniko_sandbox, patient.id)[0]["id"]
    assert entries() == []
    assert cliniko_sandbox.clinic.stats.by_status.get("dropped") == 1


def test_an_edit_over_a_newer_change_in_cliniko_is_held_as_a_conflict(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    patient = register(tenants, email="ada@example.com")
    cliniko_id = link_of(patient.id).cliniko_id
    cliniko_sandbox.clinic.change_patient(cliniko_id, email="front.desk@example.com")

    patients.update_patient(
        tenants.a.id, patient.id, patients.validate_for(tenants.a.id, {"email": "mine@example.com"}, partial=True),
        actor=owner(tenants),
    )  # fmt: skip
    db.session.commit()

    assert cliniko_sandbox.clinic.get("patients", cliniko_id).email == "front.desk@example.com"
    (entry,) = entries()
    assert entry.status == CONFLICT
    assert outbox.record_status(tenants.a.id, "patients", patient.id).state == "conflict"


def test_with_cliniko_down_changes_wait_and_go_when_it_returns(app_context, tenants, make_cliniko_sandbox):
    from clinic_app.appointments import booking
    from clinic_app.appointments.models import Appointment

    server = make_cliniko_sandbox()
    connect(tenants, server)
    sync(tenants)
    practitioner, kind = synced_choice()
    starts = free_start(server, practitioner, kind, days=6)
    port = server._server.server_port
    server.stop()

    patient = register(tenants)
    (entry,) = entries()
    assert entry.status == PENDING and entry.next_attempt_at > utcnow() and entry.attempts == 1
    assert outbox.record_status(tenants.a.id, "patients", patient.id).words == "sending…"
    appointment = booking.book(  # Cliniko cannot say which times are free: the booking waits too
        tenants.a.id, patient_id=patient.id, practitioner_id=practitioner.id, appointment_type_id=kind.id,
        starts_at=starts, actor=owner(tenants),
    )  # fmt: skip
    db.session.commit()
    assert len(entries()) == 2

    back = SandboxServer(server.clinic, port=port).start()
    try:
        for waiting in entries():
            waiting.next_attempt_at = utcnow() - timedelta(seconds=1)  # the retry time has come
        db.session.commit()
        result = outbox_tick(utcnow())
        assert result == {"woken": 1}, [(e.status, e.next_attempt_at, e.last_error) for e in entries()]
        assert entries() == [], [(e.status, e.next_attempt_at, e.last_error, e.attempts) for e in entries()]
        assert len(sandbox_patient(back, patient.id)) == 1
        cliniko_id = db.session.get(Appointment, appointment.id, populate_existing=True).cliniko_id
        assert str(back.clinic.get("individual_appointments", cliniko_id).patient.id) == link_of(patient.id).cliniko_id
    finally:
        back.stop()


def test_a_write_waiting_for_the_limiter_goes_before_reads(app_context):
    clock = {"now": 0.0}
    gate = threading.Event()
    order = []

    def sleep(seconds):
        gate.wait(5)
        clock["now"] += max(seconds, 0.001)

    limiter = SlidingWindowLimiter(2, 60, clock=lambda: clock["now"], sleep=sleep)
    limiter.acquire()
    limiter.acquire()  # the window is full

    def take(kind):
        limiter.acquire(write=kind == "write")
        order.append(kind)

    reader = threading.Thread(target=take, args=("read",))
    reader.start()
    writer = threading.Thread(target=take, args=("write",))
    writer.start()
    while limiter._writers_waiting == 0:
        pass
    clock["now"] = 60.5  # one place frees... (both sends of the window leave it)
    gate.set()
    writer.join(5)
    reader.join(5)
    assert order[0] == "write"


def test_failed_entries_can_be_retried(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    patient = register(tenants)
    entry = outbox.record_change(tenants.a.id, "patients", patient.id, "update", ["email"])
    entry.status, entry.last_error = NOT_SENT, "Cliniko refused it"
    db.session.commit()
    assert outbox.record_status(tenants.a.id, "patients", patient.id).retryable
    outbox.retry(tenants.a.id, entry.id, actor=owner(tenants))
    db.session.commit()
    assert entries() == []


# --- appointments --------------------------------------------------------------------------------


def synced_choice():
    from clinic_app.appointments.models import AppointmentType, Practitioner

    practitioner = db.session.scalars(
        select(Practitioner).where(Practitioner.active.is_(True), Practitioner.cliniko_id.is_not(None))
    ).first()
    kind = db.session.scalars(
        select(AppointmentType).where(AppointmentType.archived_at.is_(None), AppointmentType.cliniko_id.is_not(None))
    ).first()
    return practitioner, kind


def free_starts(server, practitioner, kind, days=3, span=0):
    """Starts Cliniko calls free (its available_times), from ``days`` ahead for ``span`` more days."""
    import httpx

    from clinic_app.sync.mapping import parse_time

    first = (utcnow() + timedelta(days=days)).date()
    business = server.clinic.records("businesses")[0]["id"]
    path = f"/businesses/{business}/practitioners/{practitioner.cliniko_id}/appointment_types/{kind.cliniko_id}"
    params = {"from": first.isoformat(), "to": (first + timedelta(days=span)).isoformat()}
    with httpx.Client(base_url=server.base_url, auth=(server.clinic.api_key, ""), headers={"User-Agent": "t"}) as h:
        found = h.get(path + "/available_times", params=params).json()["available_times"]
    return [parse_time(item["appointment_start"]) for item in found]


def free_start(server, practitioner, kind, days=3):
    return free_starts(server, practitioner, kind, days)[0]


def test_a_booking_move_and_cancel_reach_cliniko_with_the_patient_created_first(app_context, tenants, cliniko_sandbox):
    from clinic_app.appointments import booking
    from clinic_app.appointments.models import Appointment

    connect(tenants, cliniko_sandbox)
    assert sync(tenants).status == "completed"
    practitioner, kind = synced_choice()
    cliniko_sandbox.clinic.set_faults(lost_write_answers=1)  # the patient's create loses its answer
    data = patients.validate_for(tenants.a.id, {"first_name": "Bo", "last_name": "Booked"})
    patient = patients.create_patient(tenants.a.id, data, actor=owner(tenants))
    starts = free_start(cliniko_sandbox, practitioner, kind)
    appointment = booking.book(
        tenants.a.id, patient_id=patient.id, practitioner_id=practitioner.id, appointment_type_id=kind.id,
        starts_at=starts, notes="Left knee", actor=owner(tenants),
    )  # fmt: skip
    db.session.commit()  # patient and booking go in one transaction; the sender sends the patient first

    appointment = db.session.get(Appointment, appointment.id, populate_existing=True)
    remote = cliniko_sandbox.clinic.get("individual_appointments", appointment.cliniko_id)
    (remote_patient,) = sandbox_patient(cliniko_sandbox, patient.id)
    assert str(remote.patient.id) == remote_patient["id"] and str(remote.practitioner.id) == practitioner.cliniko_id
    assert remote.notes == "Left knee" and remote.ends_at - remote.starts_at == kind.duration_minutes * 60_000
    assert entries() == []

    later = free_starts(cliniko_sandbox, practitioner, kind)[2]
    booking.reschedule(tenants.a.id, appointment.id, starts_at=later, actor=owner(tenants))
    db.session.commit()
    assert remote.starts_at == int(later.timestamp() * 1000)

    booking.cancel(tenants.a.id, appointment.id, reason="Sick", actor=owner(tenants))
    db.session.commit()
    assert remote.cancelled_at is not None and remote.cancellation_reason == 30
    assert entries() == []

    # A comprehensive read-sync afterwards creates nothing twice.
    totals = cliniko_sandbox.clinic.counts()
    assert sync(tenants).status == "completed"
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == totals["appointments"]["total"]
    assert db.session.scalar(select(func.count()).select_from(Patient)) == totals["patients"]["total"]


def test_a_booking_cliniko_refuses_says_why_on_the_record(app_context, tenants, cliniko_sandbox):
    from clinic_app.appointments import booking

    connect(tenants, cliniko_sandbox)
    sync(tenants)
    practitioner, kind = synced_choice()
    patient = register(tenants)
    starts = free_start(cliniko_sandbox, practitioner, kind, days=4)
    from clinic_app.sync import free_times

    free_times.forget(tenants.a.id)
    assert starts in free_times.free_starts(tenants.a.id, practitioner.cliniko_id, kind.cliniko_id, starts)
    # Someone books that slot in Cliniko within the minute our copy of its free times is kept.
    cliniko_sandbox.clinic.add_appointment(
        link_of(patient.id).cliniko_id, starts_at=starts, practitioner_id=practitioner.cliniko_id,
        appointment_type_id=kind.cliniko_id,
    )  # fmt: skip
    appointment = booking.book(
        tenants.a.id, patient_id=patient.id, practitioner_id=practitioner.id, appointment_type_id=kind.id,
        starts_at=starts, actor=owner(tenants),
    )  # fmt: skip
    db.session.commit()
    status = outbox.record_status(tenants.a.id, "individual_appointments", appointment.id)
    assert status.state == "failed" and "clashes with another appointment" in status.words
    assert status.entry.field_errors == [
        {"field": "starts_at", "message": "clashes with another appointment for this practitioner"}
    ]


def test_a_local_practitioner_cannot_be_booked_in_a_connected_clinic(app_context, tenants, cliniko_sandbox):
    from clinic_app.appointments import booking
    from clinic_app.appointments.models import Practitioner
    from clinic_app.core.errors import Invalid

    connect(tenants, cliniko_sandbox)
    sync(tenants)
    _, kind = synced_choice()
    local = Practitioner(organization_id=tenants.a.id, first_name="Lo", last_name="Cal")
    db.session.add(local)
    patient = register(tenants)
    with pytest.raises(Invalid) as refused:
        booking.book(
            tenants.a.id, patient_id=patient.id, practitioner_id=local.id, appointment_type_id=kind.id,
            starts_at=utcnow() + timedelta(days=2), actor=owner(tenants),
        )  # fmt: skip
    assert refused.value.errors[0].field == "practitioner_id"


def test_a_start_cliniko_has_no_free_time_for_is_refused_on_the_field(app_context, tenants, cliniko_sandbox):
    from clinic_app.appointments import booking
    from clinic_app.core.errors import Invalid

    connect(tenants, cliniko_sandbox)
    sync(tenants)
    practitioner, kind = synced_choice()
    patient = register(tenants)
    starts = free_start(cliniko_sandbox, practitioner, kind, days=5)
    with pytest.raises(Invalid) as refused:  # 03:00 at night: not one of Cliniko's free times
        booking.book(
            tenants.a.id, patient_id=patient.id, practitioner_id=practitioner.id, appointment_type_id=kind.id,
            starts_at=starts - timedelta(hours=5, minutes=7), actor=owner(tenants),
        )  # fmt: skip
    assert refused.value.errors[0].field == "starts_at" and "Cliniko" in refused.value.errors[0].message


def test_a_read_sync_links_a_patient_the_outbox_created_before_its_link_was_stored(
    app_context, tenants, cliniko_sandbox
):
    connect(tenants, cliniko_sandbox)
    with outbox.quiet():  # as if the outbox's POST went through and its answer (and link) were lost
        patient = register(tenants)
    cliniko_id = cliniko_sandbox.clinic.add_patient("Ada", "Outbox", old_reference_id=patient.id)
    assert entries() == [] and link_of(patient.id) is None

    assert sync(tenants).status == "completed"
    assert link_of(patient.id).cliniko_id == cliniko_id
    assert (
        db.session.scalar(select(func.count()).select_from(Patient))
        == cliniko_sandbox.clinic.counts()["patients"]["total"]
    )


def test_a_running_sync_sends_waiting_writes_between_its_pages(app_context, tenants, cliniko_sandbox):
    connect(tenants, cliniko_sandbox)
    with outbox.quiet():
        patient = register(tenants)
    # Waiting in the outbox with no sender of its own (as behind a long sync on a single worker).
    db.session.add(
        OutboxEntry(
            organization_id=tenants.a.id,
            resource="patients",
            local_id=patient.id,
            action="create",
            fields=[],
            field_errors=[],
            status=PENDING,
        )
    )
    db.session.commit()
    assert sandbox_patient(cliniko_sandbox, patient.id) == []

    assert sync(tenants, mode="patients-only").status == "completed"
    assert len(sandbox_patient(cliniko_sandbox, patient.id)) == 1
    assert entries() == [] and link_of(patient.id) is not None


def test_with_the_queue_down_a_registration_still_succeeds_and_its_change_waits(make_app, tenants, cliniko_sandbox):
    down = make_app(JOBS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:9/0", SYNC_CLIENT_OPTIONS=FAST)
    with down.app_context():
        connect(tenants, cliniko_sandbox)
        patient = register(tenants)
        (entry,) = entries()
        assert (entry.local_id, entry.action, entry.status) == (patient.id, "create", PENDING)
        assert sandbox_patient(cliniko_sandbox, patient.id) == []
