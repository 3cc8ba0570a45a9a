"""The outbox as people see it: a patient registered with the form reaches Cliniko and their page says
so; a conflict shows both versions and the choice is what both sides hold; the Sync page lists
what waits and what failed; retry; another organization's record is 404."""

import pytest
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from clinic_app.patients.models import Patient
from clinic_app.sync import outbox, service
from clinic_app.sync.models import CONFLICT, NOT_SENT, ClinikoLink, OutboxEntry
from tests.factories import page_csrf

FAST = {"requests_per_minute": 100_000, "backoff_base": 0.005, "backoff_cap": 0.02, "timeout": 5.0, "max_retries": 4}
HTMX = {"HX-Request": "true"}


@pytest.fixture
def app(make_app):
    return make_app(SYNC_CLIENT_OPTIONS=FAST)


@pytest.fixture
def connected(app, tenants, cliniko_sandbox):
    with app.app_context():
        service.connect(
            tenants.a.id,
            cliniko_sandbox.clinic.api_key,
            base_url_template=cliniko_sandbox.base_url_template,
            actor=audit.Actor(user_id=tenants.user("owner").id),
        )
        db.session.commit()
    return cliniko_sandbox


def html(response):
    return response.get_data(as_text=True)


def register_with_the_form(client):
    token = page_csrf(client, "/patients/new")
    data = {"csrf_token": token, "first_name": "Cleo", "last_name": "Formsby", "email": "cleo@example.com",
            "phone_type": "mobile", "phone": "0412 345 678"}  # fmt: skip
    response = client.post("/patients/new", data=data)
    assert response.status_code in (302, 303), html(response)[:2000]
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]


def test_a_patient_registered_with_the_form_is_in_cliniko_and_the_page_says_so(app, tenants, connected, login_as):
    client = login_as("receptionist")
    patient_id = register_with_the_form(client)
    remote = [p for p in connected.clinic.records("patients") if p["old_reference_id"] == patient_id]
    assert len(remote) == 1 and remote[0]["email"] == "cleo@example.com"

    page = html(client.get(f"/patients/{patient_id}"))
    assert f"/sync/records/patients/{patient_id}/status" in page
    badge = html(client.get(f"/sync/records/patients/{patient_id}/status", headers=HTMX))
    assert 'data-cliniko-status="in_cliniko"' in badge and "In Cliniko" in badge
    assert login_as("outsider").get(f"/sync/records/patients/{patient_id}/status").status_code == 404


def test_a_conflict_shows_both_versions_and_the_choice_is_what_both_sides_hold(app, tenants, connected, login_as):
    client = login_as("receptionist")
    patient_id = register_with_the_form(client)
    with app.app_context():
        cliniko_id = db.session.scalar(select(ClinikoLink.cliniko_id).where(ClinikoLink.local_id == patient_id))
    connected.clinic.change_patient(cliniko_id, email="changed.in.cliniko@example.com")

    with app.app_context():  # a local edit of the same field after Cliniko's change
        data = patients.validate_for(tenants.a.id, {"email": "changed.here@example.com"}, partial=True)
        patients.update_patient(tenants.a.id, patient_id, data, actor=audit.Actor(user_id=tenants.user("owner").id))
        db.session.commit()
        (entry,) = db.session.scalars(select(OutboxEntry)).all()
        assert entry.status == CONFLICT
    assert connected.clinic.get("patients", cliniko_id).email == "changed.in.cliniko@example.com"

    badge = html(client.get(f"/sync/records/patients/{patient_id}/status", headers=HTMX))
    assert 'data-cliniko-status="conflict"' in badge and f"/sync/outbox/{entry.id}/conflict" in badge
    page = html(client.get(f"/sync/outbox/{entry.id}/conflict"))
    assert "changed.here@example.com" in page and "changed.in.cliniko@example.com" in page

    token = page_csrf(client, f"/sync/outbox/{entry.id}/conflict")
    response = client.post(f"/sync/outbox/{entry.id}/conflict", data={"csrf_token": token, "choice": "ours"})
    assert response.status_code in (302, 303)
    assert connected.clinic.get("patients", cliniko_id).email == "changed.here@example.com"
    with app.app_context():
        assert db.session.scalars(select(OutboxEntry)).all() == []
        assert patients.view_patient(tenants.a.id, patient_id, actor=audit.Actor(), record_view=False).email == (
            "changed.here@example.com"
        )


def test_taking_clinikos_version_writes_it_here_and_sends_nothing(app, tenants, connected, login_as):
    client = login_as("receptionist")
    patient_id = register_with_the_form(client)
    with app.app_context():
        cliniko_id = db.session.scalar(select(ClinikoLink.cliniko_id).where(ClinikoLink.local_id == patient_id))
    connected.clinic.change_patient(cliniko_id, email="theirs@example.com")
    with app.app_context():
        data = patients.validate_for(tenants.a.id, {"email": "ours@example.com"}, partial=True)
        patients.update_patient(tenants.a.id, patient_id, data, actor=audit.Actor(user_id=tenants.user("owner").id))
        db.session.commit()
        entry_id = db.session.scalar(select(OutboxEntry.id))
    requests_before = connected.clinic.stats.requests

    token = page_csrf(client, f"/sync/outbox/{entry_id}/conflict")
    client.post(f"/sync/outbox/{entry_id}/conflict", data={"csrf_token": token, "choice": "theirs"})
    with app.app_context():
        assert db.session.scalars(select(OutboxEntry)).all() == []
        view = patients.view_patient(tenants.a.id, patient_id, actor=audit.Actor(), record_view=False)
        assert view.email == "theirs@example.com"
    assert connected.clinic.get("patients", cliniko_id).email == "theirs@example.com"
    # Two reads (the comparison page, then the choice) and no write.
    assert connected.clinic.stats.requests == requests_before + 2


def test_the_sync_page_lists_failed_changes_and_retry_sends_them(app, tenants, connected, login_as):
    client = login_as("owner")
    patient_id = register_with_the_form(client)
    with app.app_context():
        entry = outbox.record_change(tenants.a.id, "patients", patient_id, "update", ["email"])
        db.session.flush()
        entry.status, entry.last_error = NOT_SENT, "Cliniko refused it (email is invalid)"
        db.session.commit()
        entry_id = entry.id
    listing = html(client.get("/sync/outbox", headers=HTMX))
    assert f'data-outbox-entry="{entry_id}"' in listing and "not sent: Cliniko refused it" in listing
    assert 'data-outbox-failed="1"' in listing

    token = page_csrf(client, f"/patients/{patient_id}")
    answer = client.post(f"/sync/outbox/{entry_id}/retry", data={"csrf_token": token}, headers=HTMX)
    assert answer.status_code == 200 and 'data-cliniko-status="sending"' in html(answer)  # sent after the commit
    badge = html(client.get(f"/sync/records/patients/{patient_id}/status", headers=HTMX))
    assert 'data-cliniko-status="in_cliniko"' in badge
    assert "data-outbox-empty" in html(client.get("/sync/outbox", headers=HTMX))


def test_a_clinic_without_cliniko_shows_no_badge(app, tenants, login_as):
    client = login_as("receptionist")
    patient_id = register_with_the_form(client)
    assert html(client.get(f"/sync/records/patients/{patient_id}/status", headers=HTMX)).strip() == ""
    with app.app_context():
        assert db.session.get(Patient, patient_id) is not None


def test_after_a_sync_patients_waiting_to_be_sent_are_not_partial_and_no_tile_without_cliniko(
    app, tenants, make_cliniko_sandbox, login_as
):
    from clinic_app.dashboard import service as dashboard
    from clinic_app.sync.models import SyncRun

    server = make_cliniko_sandbox(patients=12, appointments=30)
    with app.app_context():
        service.connect(
            tenants.a.id, server.clinic.api_key, base_url_template=server.base_url_template,
            actor=audit.Actor(user_id=tenants.user("owner").id),
        )  # fmt: skip
        db.session.commit()
        run, _ = service.start_sync(tenants.a.id, "comprehensive", actor=audit.Actor(user_id=tenants.user("owner").id))
        db.session.commit()
        assert db.session.get(SyncRun, run.id, populate_existing=True).status == "completed"
    server.stop()  # Cliniko unreachable: the patient registered now waits in the outbox
    register_with_the_form(login_as("receptionist"))

    with app.app_context():
        summary = dashboard.figures_for(tenants.a.id)["summary"]
        assert summary["integration_status"] == "Connected"
        assert summary["synced_patients"] == summary["total_patients"] - 1
    page = html(login_as("admin").get("/dashboard"))
    assert 'data-card-link="sync_status"' in page and 'title="Open Sync">Connected<' in page
    assert "1 patient registered here waiting to be sent" in page

    outsider = html(login_as("outsider").get("/dashboard"))  # organization B: no Cliniko
    assert 'data-card="sync_status"' not in outsider

    # Cliniko refuses the create: that patient is no longer on its way but missing, so "Partial".
    from clinic_app.sync.models import NOT_SENT, OutboxEntry

    with app.app_context():
        db.session.execute(
            OutboxEntry.__table__.update().where(OutboxEntry.organization_id == tenants.a.id).values(status=NOT_SENT)
        )
        db.session.commit()
        dashboard.invalidate(tenants.a.id)
        db.session.commit()
        summary = dashboard.figures_for(tenants.a.id)["summary"]
        assert summary["integration_status"] == "Partial"
        assert summary["synced_patients"] == summary["total_patients"] - 1


def test_notes_go_to_cliniko_only_when_the_clinic_says_so(app, tenants, connected, login_as):
    def register_with_notes(client, last):
        token = page_csrf(client, "/patients/new")
        data = {"csrf_token": token, "first_name": "Nell", "last_name": last, "notes": "Prefers mornings"}
        response = client.post("/patients/new", data=data)
        assert response.status_code in (302, 303), html(response)[:500]
        patient_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        (remote,) = [p for p in connected.clinic.records("patients") if p["old_reference_id"] == patient_id]
        return remote

    receptionist = login_as("receptionist")
    assert register_with_notes(receptionist, "Quiet")["notes"] is None  # off by default

    admin = login_as("admin")
    assert "data-send-notes" in html(admin.get("/integrations/cliniko-writes", headers=HTMX))
    token = page_csrf(admin, "/integrations")
    saved = admin.post(
        "/integrations/cliniko-writes", data={"csrf_token": token, "send_patient_notes": "yes"}, headers=HTMX
    )
    assert saved.status_code == 200 and "data-saved" in html(saved) and " checked" in html(saved)
    other = page_csrf(receptionist, "/patients")
    assert receptionist.post("/integrations/cliniko-writes", data={"csrf_token": other}).status_code == 403
    assert register_with_notes(receptionist, "Noted")["notes"] == "Prefers mornings"
    with app.app_context():
        from clinic_app.core.audit import AuditEvent

        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "cliniko.settings_changed"))
        assert event.details == {"send_patient_notes": True}
