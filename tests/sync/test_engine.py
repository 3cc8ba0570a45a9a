"""The sync engine against the sandbox Cliniko over real HTTP: exact counts, encryption, incremental
changes, faults, cancel and resume, a killed worker, and records that cannot be stored."""

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select, text

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.config import PROJECT_ROOT
from clinic_app.core import audit, crypto, jobs
from clinic_app.core.audit import AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient
from clinic_app.patients.validation import parse_phone
from clinic_app.sync import service
from clinic_app.sync.client import ClinikoClient
from clinic_app.sync.cliniko import ClinikoRequestError
from clinic_app.sync.models import STEPS, ClinikoLink, SyncRun
from devtools.sandbox import Faults


class NoJitter(random.Random):
    """Waits exactly as long as Cliniko asks (no random extra), so fault tests stay quick."""

    def uniform(self, a, b):
        return a


# Quick retries so injected faults cost milliseconds; no client-side pacing (the sandbox limits).
FAST = {
    "requests_per_minute": 100_000,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
    "timeout": 5.0,
    "max_retries": 10,
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


def sync(tenants, mode="comprehensive", actor=None):
    run, started = service.start_sync(tenants.a.id, mode, actor=actor or owner(tenants))
    assert started
    db.session.commit()  # the eager worker runs the job here
    return db.session.get(SyncRun, run.id, populate_existing=True)


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def ours(org):
    """What we hold, in the sandbox's categories (archived/deleted apart from attendance)."""
    live = (Appointment.organization_id == org, Appointment.archived_at.is_(None), Appointment.deleted_at.is_(None))
    return {
        "patients": {
            "total": count(Patient, Patient.organization_id == org),
            "archived": count(Patient, Patient.organization_id == org, Patient.archived.is_(True)),
        },
        "appointments": {
            "total": count(Appointment, Appointment.organization_id == org),
            "archived": count(
                Appointment,
                Appointment.organization_id == org,
                Appointment.archived_at.is_not(None),
                Appointment.deleted_at.is_(None),
            ),
            "deleted": count(Appointment, Appointment.organization_id == org, Appointment.deleted_at.is_not(None)),
            "live": count(Appointment, *live),
            **appointments.status_counts(org, now=utcnow()),
        },
        "practitioners": {
            "active": count(Practitioner, Practitioner.organization_id == org, Practitioner.active.is_(True)),
            "inactive": count(Practitioner, Practitioner.organization_id == org, Practitioner.active.is_(False)),
        },
        "appointment_types": {
            "active": count(
                AppointmentType, AppointmentType.organization_id == org, AppointmentType.archived_at.is_(None)
            ),
            "archived": count(
                AppointmentType, AppointmentType.organization_id == org, AppointmentType.archived_at.is_not(None)
            ),
        },
    }


def theirs(clinic):
    """The sandbox's own counts, in our categories: a past appointment nobody marked is attended."""
    counts = clinic.counts()
    visits = counts["appointments"]
    return {
        "patients": {
            "total": counts["patients"]["total"],
            "archived": counts["patients"]["archived"] + counts["patients"]["deleted"],
        },
        "appointments": {
            "total": visits["total"],
            "archived": visits["archived"],
            "deleted": visits["deleted"],
            "live": visits["total"] - visits["archived"] - visits["deleted"],
            "booked": visits["booked_future"],
            "attended": visits["attended"] + visits["unmarked_past"],
            "cancelled": visits["cancelled"],
            "did_not_arrive": visits["did_not_arrive"],
        },
        "practitioners": {k: counts["practitioners"][k] for k in ("active", "inactive")},
        "appointment_types": {k: counts["appointment_types"][k] for k in ("active", "archived")},
    }


def test_comprehensive_sync_stores_exactly_what_cliniko_has(app_context, tenants, cliniko_sandbox):
    clinic, org = cliniko_sandbox.clinic, tenants.a.id
    clinic.add_appointment(clinic.records("patients")[0]["id"])  # one future booking at least
    connect(tenants, cliniko_sandbox)
    run = sync(tenants)

    assert run.status == "completed", run.error_detail
    assert ours(org) == theirs(clinic)
    assert run.failed == 0 and run.failures == [] and run.error_detail is None
    assert run.counts["patients"]["created"] == 60 and run.counts["appointments"]["created"] == 151
    assert run.percentage == 100.0 and run.cursor is None and run.finished_at >= run.started_at
    # Appointments are their own id map (and keep their hash); everything else has a link.
    assert count(Appointment, Appointment.organization_id == org, Appointment.content_hash.is_not(None)) == 151
    assert count(ClinikoLink, ClinikoLink.organization_id == org, ClinikoLink.resource == "patients") == 60

    # Phones: every number Cliniko gave is counted; the ones no parser can read are left out.
    given = [p["number"] for r in clinic.records("patients") for p in r["patient_phone_numbers"] if p["number"]]
    readable = [number for number in given if parse_phone(number, "AU") is not None]
    assert (run.phones_total, run.phones_normalised) == (len(given), len(readable))
    assert run.phones_normalised < run.phones_total

    # Statistics for every patient, by the one rule.
    assert count(PatientAppointmentStats, PatientAppointmentStats.organization_id == org) == 60
    booked = db.session.scalar(select(func.sum(PatientAppointmentStats.upcoming)))
    assert booked == ours(org)["appointments"]["booked"] >= 1

    connection = service.connection_status(org)
    assert connection["last_sync"] == run.finished_at and connection["total_patients"] == 60


def test_synced_phi_is_encrypted_and_reads_back(app_context, tenants, cliniko_sandbox):
    clinic, org = cliniko_sandbox.clinic, tenants.a.id
    connect(tenants, cliniko_sandbox)
    assert sync(tenants).status == "completed"

    raw_patients = json.dumps(
        [dict(r) for r in db.session.execute(text("SELECT * FROM patients")).mappings()], default=str
    )
    raw_visits = json.dumps(
        [dict(r) for r in db.session.execute(text("SELECT * FROM appointments")).mappings()], default=str
    )
    records = clinic.records("patients")
    for record in records:
        for value in (record["email"], record["date_of_birth"], record["address_1"], record["notes"]):
            if value:
                assert value.lower() not in raw_patients.lower()
    for record in clinic.records("individual_appointments"):
        for value in (record["notes"], record["cancellation_note"]):
            if value:
                assert value not in raw_visits
    assert '"notes_enc": "v1:' in raw_visits

    record = next(r for r in records if r["email"] and r["patient_phone_numbers"] and r["date_of_birth"])
    found = patients.find_by_external_id(org, "cliniko", record["id"])
    view = patients.view_patient(org, found.id, actor=audit.Actor(), record_view=False)
    assert (view.first_name, view.last_name) == (record["first_name"], record["last_name"])
    assert view.email.lower() == record["email"].lower()
    assert view.date_of_birth.isoformat() == record["date_of_birth"]
    assert view.external_ids == {"cliniko": record["id"]}
    assert all(phone.number.startswith("+61") for phone in view.phones)

    # One audit event per page, with ids and counts only.
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patients.synced")).all()
    assert len(events) == 1 and events[0].details["created"] and events[0].actor_user_id == tenants.user("owner").id
    assert record["last_name"] not in json.dumps([e.details for e in events])
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.organization_id == org)))
    assert {"sync.started", "sync.completed", "cliniko.connected"} <= actions


def test_running_again_changes_nothing_and_duplicates_nothing(app_context, tenants, cliniko_sandbox):
    org = tenants.a.id
    connect(tenants, cliniko_sandbox)
    sync(tenants)
    before = ours(org)
    again = sync(tenants)
    assert again.status == "completed"
    assert (again.created, again.updated, again.failed) == (0, 0, 0)
    assert again.counts["patients"]["unchanged"] == 60 and again.counts["appointments"]["unchanged"] == 150
    assert ours(org) == before
    assert count(ClinikoLink, ClinikoLink.organization_id == org) == 60 + 6 + 8
    assert db.session.scalar(select(func.count(func.distinct(Appointment.cliniko_id)))) == 150
    # Nothing about a patient was written, so nothing was audited as synced the second time.
    assert count(AuditEvent, AuditEvent.action == "patients.synced") == 1


def _plain(records, **extra):
    """Records nobody archived, deleted or cancelled (and matching ``extra``)."""
    keep = [r for r in records if not (r.get("archived_at") or r.get("deleted_at") or r.get("cancelled_at"))]
    return [r for r in keep if all(r.get(k) == v for k, v in extra.items())]


def test_incremental_picks_up_exactly_the_changes(app_context, tenants, cliniko_sandbox):
    clinic, org = cliniko_sandbox.clinic, tenants.a.id
    connect(tenants, cliniko_sandbox)
    first = sync(tenants)
    before = ours(org)
    renamed, archived = _plain(clinic.records("patients"))[:2]
    cancelled, no_show = _plain(clinic.records("individual_appointments"), did_not_arrive=False)[:2]
    clinic.change_patient(renamed["id"], first_name="Renamed")
    clinic.archive_patient(archived["id"])
    clinic.cancel_appointment(cancelled["id"], "Sick")
    clinic.mark_did_not_arrive(no_show["id"])

    admin = tenants.user("admin")
    run = sync(tenants, "incremental", actor=audit.Actor(user_id=admin.id))
    assert run.status == "completed", run.error_detail
    assert run.updated_since == first.started_at - timedelta(minutes=5)
    assert run.counts["patients"]["updated"] == 2 and run.counts["appointments"]["updated"] == 2
    assert run.created == 0 and run.failed == 0 and run.updated == 4

    changed = patients.find_by_external_id(org, "cliniko", renamed["id"])
    assert changed.first_name == "Renamed" and changed.first_name_key == "renamed"
    assert (changed.created_by_id, changed.updated_by_id) == (tenants.user("owner").id, admin.id)
    assert patients.find_by_external_id(org, "cliniko", archived["id"]).archived is True
    vault = crypto.vault_for(org)
    gone = db.session.scalar(select(Appointment).where(Appointment.cliniko_id == cancelled["id"]))
    assert gone.status == "cancelled" and gone.cancelled_at is not None
    assert vault.decrypt("appointments.cancellation_reason", gone.cancellation_reason_enc) == "Sick"
    missed = db.session.scalar(select(Appointment).where(Appointment.cliniko_id == no_show["id"]))
    assert missed.status == "did_not_arrive"

    after = ours(org)
    assert after["patients"]["total"] == before["patients"]["total"]  # nothing deleted
    assert after["patients"]["archived"] == before["patients"]["archived"] + 1
    assert after["appointments"]["total"] == before["appointments"]["total"]
    assert after == theirs(clinic)
    stats = figures.patient_stats(org, gone.patient_id)
    assert stats.cancelled >= 1 and stats.computed_at >= run.started_at


def test_rate_limits_are_waited_out_and_the_result_is_exact(app_context, tenants, make_cliniko_sandbox):
    # Three a second: the first four requests come back to back, so one 429 at least.
    faults = Faults(rate_limit_per_minute=3, rate_limit_window_seconds=1.0)
    server = make_cliniko_sandbox(patients=20, appointments=40, faults=faults)
    connect(tenants, server)
    run = sync(tenants)
    assert run.status == "completed", run.error_detail
    assert ours(tenants.a.id) == theirs(server.clinic)
    assert server.clinic.stats.to_json()["by_status"].get("429", 0) > 0


def test_errors_drops_and_slowness_are_retried_and_the_result_is_exact(app_context, tenants, make_cliniko_sandbox):
    faults = Faults(error_rate=0.15, slow_seconds=0.05, slow_rate=0.2, drop_rate=0.15)
    server = make_cliniko_sandbox(patients=150, appointments=600, faults=faults)
    connect(tenants, server)
    run = sync(tenants)
    assert run.status == "completed", run.error_detail
    assert ours(tenants.a.id) == theirs(server.clinic)
    seen = server.clinic.stats.to_json()["by_status"]
    assert sum(seen.get(code, 0) for code in ("502", "503", "504")) > 0 and seen.get("dropped", 0) > 0
    again = sync(tenants)
    assert (again.status, again.created, again.updated, again.failed) == ("completed", 0, 0, 0)


def test_a_record_that_cannot_be_mapped_is_counted_and_named(app_context, tenants, cliniko_sandbox):
    clinic = cliniko_sandbox.clinic
    broken = clinic.records("individual_appointments")[5]["id"]
    clinic.change_appointment(broken, starts_at=None, ends_at=None)
    connect(tenants, cliniko_sandbox)
    run = sync(tenants)
    assert run.status == "completed"
    assert run.counts["appointments"] == {"created": 149, "updated": 0, "unchanged": 0, "failed": 1}
    assert run.failures == [
        {"resource": "appointments", "cliniko_id": broken, "reason": "the appointment has no start time"}
    ]
    assert count(Appointment, Appointment.organization_id == tenants.a.id) == 149


def _resume_at_appointments(tenants):
    """A failed run whose cursor says the patients step was done: its resumption reads only
    appointments, as a run killed after the patients step would."""
    failed = SyncRun(
        organization_id=tenants.a.id,
        mode="comprehensive",
        status="failed",
        steps=list(STEPS["comprehensive"]),
        counts={},
        failures=[],
        warnings=[],
        cursor={"step": "appointments", "source": 0, "next_url": None},
    )
    db.session.add(failed)
    db.session.commit()
    run, _ = service.resume_sync(tenants.a.id, failed.id, actor=owner(tenants))
    db.session.commit()
    return db.session.get(SyncRun, run.id, populate_existing=True)


def test_an_appointment_of_a_patient_not_yet_synced_fetches_that_patient(app_context, tenants, cliniko_sandbox):
    clinic, org = cliniko_sandbox.clinic, tenants.a.id
    connect(tenants, cliniko_sandbox)
    sync(tenants)
    newcomer = clinic.add_patient("Nova", "Latecomer")
    booking = clinic.add_appointment(newcomer)
    run = _resume_at_appointments(tenants)
    assert run.status == "completed" and run.steps[run.step_index] == "statistics"
    assert run.counts["patients"]["created"] == 1 and run.counts["appointments"]["created"] == 1
    patient = patients.find_by_external_id(org, "cliniko", newcomer)
    stored = db.session.scalar(select(Appointment).where(Appointment.cliniko_id == booking))
    assert stored.patient_id == patient.id and patient.first_name == "Nova"


def test_an_appointment_whose_patient_cliniko_does_not_know_is_kept_and_counted(
    app_context, tenants, cliniko_sandbox, monkeypatch
):
    clinic = cliniko_sandbox.clinic
    connect(tenants, cliniko_sandbox)
    sync(tenants)
    booking = clinic.add_appointment(clinic.add_patient("Ghost", "Patient"))
    original = ClinikoClient.get

    def patient_gone(self, path_or_url, params=None):
        if path_or_url.startswith("patients/"):
            raise ClinikoRequestError("Cliniko refused the request (HTTP 404).", status_code=404)
        return original(self, path_or_url, params)

    monkeypatch.setattr(ClinikoClient, "get", patient_gone)
    for _ in range(2):  # not "unchanged" the second time: it is looked at again until it resolves
        run = _resume_at_appointments(tenants)
        assert run.status == "completed"
        assert run.counts["appointments"]["failed"] == 1
        assert run.failures[0]["cliniko_id"] == booking and "not known to Cliniko" in run.failures[0]["reason"]
    stored = db.session.scalar(select(Appointment).where(Appointment.cliniko_id == booking))
    assert stored.patient_id is None and stored.patient_cliniko_id is not None and stored.content_hash is None


def test_a_short_list_is_reported_not_hidden(app_context, tenants, cliniko_sandbox, monkeypatch):
    original = ClinikoClient.iter_pages

    def lossy(self, resource, **options):
        for page in original(self, resource, **options):
            yield dataclasses.replace(page, items=page.items[1:]) if resource == "patients" else page

    monkeypatch.setattr(ClinikoClient, "iter_pages", lossy)
    connect(tenants, cliniko_sandbox)
    run = sync(tenants)
    assert run.status == "completed"
    assert run.warnings == ["Cliniko said there were 60 patients, but only 59 arrived."]
    assert "Warning: Cliniko said there were 60 patients" in run.error_detail


def test_a_record_served_twice_is_stored_once(app_context, tenants, cliniko_sandbox, monkeypatch):
    """Records inserted before the reading position push later ones onto the next page, so a
    record can arrive twice, even in a first sync."""
    original = ClinikoClient.iter_pages

    def repeating(self, resource, **options):
        previous = None
        for page in original(self, resource, **options):
            items = ([previous] if previous else []) + page.items
            previous = page.items[-1] if page.items else None
            yield dataclasses.replace(page, items=items)

    monkeypatch.setattr(ClinikoClient, "iter_pages", repeating)
    connect(tenants, cliniko_sandbox)
    run = sync(tenants)
    assert run.status == "completed", run.error_detail
    assert run.counts["appointments"] == {"created": 150, "updated": 0, "unchanged": 1, "failed": 0}
    assert ours(tenants.a.id) == theirs(cliniko_sandbox.clinic)


def test_a_refused_key_fails_the_run_in_words(app_context, tenants, cliniko_sandbox, caplog):
    connect(tenants, cliniko_sandbox)
    key = cliniko_sandbox.clinic.api_key
    cliniko_sandbox.clinic.api_key = "another-key-entirely-au1"  # revoked in Cliniko
    run = sync(tenants)
    assert run.status == "failed"
    assert "the API key was refused" in run.error_detail and key not in run.error_detail
    job = db.session.get(jobs.Job, run.job_id, populate_existing=True)
    assert job.status == jobs.FAILED and "API key was refused" in job.error
    assert count(AuditEvent, AuditEvent.action == "sync.failed") == 1
    assert key not in caplog.text


def _wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.rollback()
        db.session.expire_all()
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def _run(run_id):
    return db.session.get(SyncRun, run_id, populate_existing=True)


# Pages before the appointments: 2 of practitioners, 1 of types, 3 of patients.
INTO_APPOINTMENTS = 8


def test_cancel_mid_run_then_resume_ends_exact(make_app, tenants, make_cliniko_sandbox):
    server = make_cliniko_sandbox(patients=300, appointments=1500, faults=Faults(slow_seconds=0.15))
    threaded = make_app(JOBS_BACKEND="thread", SYNC_CLIENT_OPTIONS=FAST)
    with threaded.app_context():
        connect(tenants, server)
        run, _ = service.start_sync(tenants.a.id, "comprehensive", actor=owner(tenants))
        db.session.commit()
        _wait_for(lambda: _run(run.id).pages >= INTO_APPOINTMENTS)
        service.cancel_sync(tenants.a.id, run.id, actor=owner(tenants))
        db.session.commit()
        jobs.wait_for_local_jobs(threaded)
        cancelled = _run(run.id)
        assert cancelled.status == "cancelled" and cancelled.cursor["step"] == "appointments"
        assert 0 < count(Appointment) < 1500
        assert db.session.get(jobs.Job, run.job_id).status == jobs.CANCELLED

        server.clinic.set_faults(Faults())  # no need to be slow any more
        resumed, started = service.resume_sync(tenants.a.id, run.id, actor=owner(tenants))
        db.session.commit()
        jobs.wait_for_local_jobs(threaded)
        resumed = _run(resumed.id)
        assert started and resumed.status == "completed" and resumed.resumed_from_id == run.id
        assert resumed.pages + cancelled.pages == 21  # it continued where it stopped
        assert ours(tenants.a.id) == theirs(server.clinic)
        assert db.session.scalar(select(func.count(func.distinct(Appointment.cliniko_id)))) == 1500


CLI = """
import sys
from clinic_app import create_app
app = create_app({"SYNC_CLIENT_OPTIONS": {"requests_per_minute": 100000}})
result = app.test_cli_runner().invoke(args=sys.argv[1:])
print(result.output)
sys.exit(result.exit_code)
"""


def test_a_killed_worker_is_noticed_and_a_rerun_ends_exact(app_context, base_config, tenants, make_cliniko_sandbox):
    server = make_cliniko_sandbox(patients=300, appointments=1500, faults=Faults(slow_seconds=0.15))
    connect(tenants, server)
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": base_config["DATABASE_URL"],
        "FIELD_ENCRYPTION_KEYS": base_config["FIELD_ENCRYPTION_KEYS"],
        "SECRET_KEY": base_config["SECRET_KEY"],
        "INSTANCE_PATH": base_config["INSTANCE_PATH"],
        "JOBS_BACKEND": "thread",
        "REDIS_URL": "",
    }
    args = ["sync", "run", "--org", tenants.a.id, "--mode", "comprehensive", "--wait"]
    worker = subprocess.Popen([sys.executable, "-c", CLI, *args], env=env, cwd=PROJECT_ROOT)
    try:
        _wait_for(lambda: (service.running_run(tenants.a.id) or SyncRun(pages=0)).pages >= INTO_APPOINTMENTS, 60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    run = service.running_run(tenants.a.id)
    assert run is not None and run.status == "running" and 0 < count(Appointment) < 1500

    assert service.fail_stale_runs() == 0  # its heartbeat is fresh
    with time_machine.travel(utcnow() + timedelta(minutes=16)):
        assert service.fail_stale_runs() == 1
        db.session.commit()
    failed = _run(run.id)
    assert failed.status == "failed" and "stopped responding" in failed.error_detail
    assert db.session.get(jobs.Job, failed.job_id, populate_existing=True).status == jobs.FAILED

    server.clinic.set_faults(Faults())
    again = sync(tenants)  # from scratch: upserts, so nothing is duplicated
    assert again.status == "completed"
    assert again.counts["appointments"]["unchanged"] > 0 and again.counts["appointments"]["created"] < 1500
    assert ours(tenants.a.id) == theirs(server.clinic)
