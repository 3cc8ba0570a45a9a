"""The patient pages: who may open them, the record, registering (with the duplicate check),
editing without losing what the form cannot show, archiving with confirmation, and who viewed."""

from __future__ import annotations

import re

import pytest

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import service
from tests.factories import page_csrf
from tests.patients.conftest import corrupt, events, raw_rows, register


def csrf(client, path="/patients/new"):
    return page_csrf(client, path)


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/patients", "/patients/new", "/patients/{id}", "/patients/{id}/edit"])
def test_anonymous_visitors_are_sent_to_sign_in(app, tenants, client, path):
    patient_id = register(app, tenants.a)
    response = client.get(path.format(id=patient_id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", ["/patients/{id}", "/patients/{id}/edit"])
def test_another_organization_gets_404_for_a_patient(app, tenants, login_as, path):
    patient_id = register(app, tenants.a, first_name="Private", last_name="Person")
    outsider = login_as("outsider")
    response = outsider.get(path.format(id=patient_id))
    assert response.status_code == 404 and "Private" not in response.get_data(as_text=True)
    token = page_csrf(outsider, "/account")
    for action in ("archive", "unarchive"):
        assert (
            outsider.post(
                f"/patients/{patient_id}/{action}", data={"csrf_token": token, "confirmed": "yes"}
            ).status_code
            == 404
        )
    assert "Private" not in outsider.get("/patients?q=private").get_data(as_text=True)
    assert events(app, "patient.viewed") == [] and events(app, "patient.archived") == []


def test_a_receptionist_registers_and_reads_a_patient(app, tenants, receptionist):
    form = receptionist.get("/patients/new")
    assert form.status_code == 200 and 'id="patient-form"' in form.get_data(as_text=True)
    response = receptionist.post(
        "/patients/new",
        data={
            "first_name": "Rita",
            "last_name": "Reception",
            "date_of_birth": "1990-07-08",
            "mobile_phone": "0412 111 222",
            "other_phone": "+44 20 7946 0958",
            "email": "rita@example.com",
            "csrf_token": csrf(receptionist),
        },
    )
    assert response.status_code == 303
    patient_id = response.headers["Location"].rsplit("/", 1)[1]
    page = receptionist.get(f"/patients/{patient_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert (
        "Rita Reception" in html and "08 Jul 1990" in html and "+61 412 111 222" in html and "+44 20 7946 0958" in html
    )
    assert "rita@example.com" in html and "was registered" in html
    for section in ("Intake", "Symptoms", "Appointments", "Reports"):
        assert f">{section}</h2>" in html
    assert "data-viewers" not in html  # only admins see who viewed the record
    [created] = events(app, "patient.created")
    assert created.patient_id == patient_id and created.actor_user_id == tenants.user("receptionist").id
    fragment = receptionist.get(f"/patients/{patient_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="patient-record"' in fragment


def test_htmx_registration_redirects_with_hx_redirect(app, tenants, receptionist):
    response = receptionist.post(
        "/patients/new",
        data={"first_name": "Hana", "last_name": "Htmx"},
        headers={"HX-Request": "true", "X-CSRFToken": csrf(receptionist)},
    )
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/patients/pat_")


def test_a_possible_duplicate_is_shown_before_registering_again(app, tenants, receptionist):
    existing = register(app, tenants.a, first_name="Dana", last_name="Double", date_of_birth="1980-01-02")
    data = {
        "first_name": "dana",
        "last_name": "DOUBLE",
        "date_of_birth": "1980-01-02",
        "csrf_token": csrf(receptionist),
    }
    response = receptionist.post("/patients/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "data-duplicates" in html
    assert f"/patients/{existing}" in html and "same name and date of birth" in html
    assert len(raw_rows(app, "patients")) == 1
    again = receptionist.post("/patients/new", data={**data, "register_anyway": "yes"})
    assert again.status_code == 303 and len(raw_rows(app, "patients")) == 2


def test_a_clinician_edits_and_only_changed_field_names_are_audited(app, tenants, clinician):
    patient_id = register(
        app,
        tenants.a,
        first_name="Eddie",
        last_name="Edit",
        email="eddie@example.com",
        phones=[{"type": "mobile", "number": "0412 000 001"}, {"type": "mobile", "number": "0412 000 002"}],
        external_ids={"cliniko": "111", "halaxy": "H-9"},
    )
    form = clinician.get(f"/patients/{patient_id}/edit").get_data(as_text=True)
    assert 'value="eddie@example.com"' in form and 'value="+61412000001"' in form
    assert "data-kept-phones" in form and "+61 412 000 002" in form  # the second mobile has no box but is kept
    fields = dict(re.findall(r'<input[^>]*name="([a-z_0-9]+)"[^>]*value="([^"]*)"', form))
    fields.update(
        notes="New note", email="eddie.new@example.com", csrf_token=csrf(clinician, f"/patients/{patient_id}/edit")
    )
    response = clinician.post(f"/patients/{patient_id}/edit", data=fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        view = service.view_patient(tenants.a.id, patient_id, actor=audit.Actor(), record_view=False)
    assert view.email == "eddie.new@example.com" and view.notes == "New note"
    assert [p.number for p in view.phones] == ["+61412000001", "+61412000002"]
    assert view.external_ids == {"cliniko": "111", "halaxy": "H-9"}
    [updated] = events(app, "patient.updated")
    assert updated.details == {"fields": ["email", "notes"]} and updated.patient_id == patient_id


def test_saving_the_form_keeps_a_value_that_could_not_be_decrypted(app, tenants, clinician):
    patient_id = register(
        app, tenants.a, first_name="Una", last_name="Readable", email="una@example.com", notes="kept?"
    )
    corrupt(app, patient_id, "email_enc")
    with app.app_context():
        broken = db.session.execute(
            db.text("SELECT email_enc FROM patients WHERE id = :id"), {"id": patient_id}
        ).scalar()
    page = clinician.get(f"/patients/{patient_id}/edit").get_data(as_text=True)
    assert "data-unreadable-warning" in page and "email" in page
    data = {
        "first_name": "Una",
        "last_name": "Readable",
        "email": "",
        "notes": "kept?",
        "csrf_token": csrf(clinician, f"/patients/{patient_id}/edit"),
    }
    assert clinician.post(f"/patients/{patient_id}/edit", data=data).status_code == 303
    [row] = raw_rows(app, "patients")
    assert row["email_enc"] == broken  # left as it was, for someone to recover
    data["email"] = "una.new@example.com"
    assert clinician.post(f"/patients/{patient_id}/edit", data=data).status_code == 303
    with app.app_context():
        assert (
            service.view_patient(tenants.a.id, patient_id, actor=audit.Actor(), record_view=False).email
            == "una.new@example.com"
        )


def test_archive_asks_first_then_archives_and_restores(app, tenants, clinician):
    patient_id = register(app, tenants.a, first_name="Archie", last_name="Vist")
    token = csrf(clinician, f"/patients/{patient_id}")
    confirm = clinician.post(f"/patients/{patient_id}/archive", data={"csrf_token": token})
    assert confirm.status_code == 200 and "Archive Archie Vist?" in confirm.get_data(as_text=True)
    assert events(app, "patient.archived") == []

    done = clinician.post(f"/patients/{patient_id}/archive", data={"csrf_token": token, "confirmed": "yes"})
    assert done.status_code == 303
    assert "data-patient-archived" in clinician.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "Archie" not in clinician.get("/patients").get_data(as_text=True)

    restored = clinician.post(
        f"/patients/{patient_id}/unarchive",
        data={"confirmed": "yes"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    html = restored.get_data(as_text=True)
    assert restored.status_code == 200 and "<html" not in html and 'id="patient-status"' in html
    assert "is active again" in html and "patient-changed" in restored.headers["HX-Trigger"]
    assert "Archie" in clinician.get("/patients").get_data(as_text=True)
    assert [e.patient_id for e in events(app, "patient.archived")] == [patient_id]
    assert [e.patient_id for e in events(app, "patient.unarchived")] == [patient_id]


def test_admins_see_who_viewed_the_record(app, tenants, clinician, admin):
    patient_id = register(app, tenants.a, first_name="Viewed", last_name="Often")
    clinician.get(f"/patients/{patient_id}")
    html = admin.get(f"/patients/{patient_id}").get_data(as_text=True)
    section = html.split("data-viewers")[1]
    assert "Who viewed this record" in section and "Clinician" in section and "Admin" in section
    with app.app_context():
        names = [v.name for v in service.patient_viewers(tenants.a.id, patient_id)]
    assert names == ["Admin", "Clinician"]


def test_pages_send_vary_and_no_store(app, tenants, clinician):
    patient_id = register(app, tenants.a)
    for path in ("/patients", f"/patients/{patient_id}"):
        response = clinician.get(path)
        assert "HX-Request" in response.headers["Vary"] and response.headers["Cache-Control"] == "no-store"
