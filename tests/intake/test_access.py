"""Who may use intake: drafts belong to their organization (another one's is a 404 everywhere),
anonymous visitors sign in first; and the patient page shows what intake recorded to the clinic's
clinicians, with "unreadable" for a value that cannot be decrypted."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from clinic_app.extensions import db
from tests.factories import page_csrf
from tests.intake.conftest import DEMOGRAPHICS, events, fill_draft, post_step, start_draft, submit_draft


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/intake/{id}/demographics"),
        ("GET", "/intake/{id}/review"),
        ("POST", "/intake/{id}/demographics"),
        ("POST", "/intake/{id}/review"),
        ("POST", "/intake/{id}/presenting-problem/autosave"),
        ("GET", "/intake/{id}/symptoms/search?q=mood"),
        ("POST", "/intake/{id}/symptoms/add"),
        ("POST", "/intake/{id}/symptoms/remove"),
        ("POST", "/intake/{id}/discard"),
    ],
)
def test_another_organization_gets_404_for_a_draft(app, tenants, receptionist, login_as, method, path):
    draft_id = start_draft(receptionist)
    post_step(receptionist, draft_id, "demographics", DEMOGRAPHICS)
    outsider = login_as("outsider")
    data = {**DEMOGRAPHICS, "csrf_token": page_csrf(outsider, "/intake")} if method == "POST" else None
    response = outsider.open(path.format(id=draft_id), method=method, data=data)
    assert response.status_code == 404
    assert "Ada" not in response.get_data(as_text=True)
    assert 'value="Ada"' in receptionist.get(f"/intake/{draft_id}/demographics").get_data(as_text=True)
    assert draft_id not in outsider.get("/intake").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(app, tenants, client):
    for path in ("/intake", "/intake/itk_x/demographics"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_every_role_of_the_clinic_may_run_intake(app, tenants, login_as):
    for role in ("owner", "admin", "clinician", "receptionist"):
        assert login_as(role).get("/intake").status_code == 200


def test_a_clinician_sees_the_intake_summary_on_the_patient_page(app, tenants, receptionist, login_as, catalogue):
    draft_id = fill_draft(receptionist, app)
    patient_id = receptionist.post(
        f"/intake/{draft_id}/review", data={"csrf_token": page_csrf(receptionist, "/intake")}
    )
    patient_id = patient_id.headers["Location"].rsplit("/", 1)[1]
    clinician = login_as("clinician")
    page = clinician.get(f"/patients/{patient_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    intake = html.split('id="patient-intake"', 1)[1].split("</section>", 1)[0]
    for expected in ("Low mood since winter", "3 months", "Dr Who", "Lost job in June", ">work</li>"):
        assert expected in intake, expected
    symptoms = html.split('id="patient-symptoms"', 1)[1].split("</section>", 1)[0]
    assert "Depressed mood" in symptoms and "<code" in symptoms and "MB24.5" in symptoms and "Moderate" in symptoms
    fragment = clinician.get(f"/patients/{patient_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Low mood since winter" in fragment

    outsider = login_as("outsider")
    assert outsider.get(f"/patients/{patient_id}").status_code == 404


def test_a_patient_registered_without_intake_says_so(app, tenants, login_as):
    from tests.patients.conftest import register

    patient_id = register(app, tenants.a)
    html = login_as("clinician").get(f"/patients/{patient_id}").get_data(as_text=True)
    assert 'data-placeholder="intake">No intake recorded.' in html
    assert 'data-placeholder="symptoms">No symptoms recorded.' in html


@pytest.mark.parametrize(
    ("table", "column", "field"),
    [
        ("intake_records", "referred_by_enc", "intake_records.referred_by"),
        ("intake_records", "precipitating_tags_enc", "intake_records.precipitating_tags"),
        ("patient_symptoms", "notes_enc", "patient_symptoms.notes"),
    ],
)
def test_an_undecryptable_value_shows_unreadable_with_an_alarm(
    app, tenants, receptionist, login_as, catalogue, table, column, field
):
    draft_id = fill_draft(receptionist, app)
    patient_id = submit_draft(receptionist, draft_id)
    with app.app_context():
        stored = db.session.scalar(text(f"SELECT {column} FROM {table}"))  # noqa: S608
        tampered = stored[:-6] + ("AAAAAA" if not stored.endswith("AAAAAA") else "BBBBBB")
        db.session.execute(text(f"UPDATE {table} SET {column} = :value"), {"value": tampered})  # noqa: S608
        db.session.commit()
    page = login_as("clinician").get(f"/patients/{patient_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "data-unreadable" in html and ">unreadable</span>" in html
    assert "Low mood since winter" in html  # the rest of the record is unaffected
    alarms = events(app, "crypto.decryption_failed")
    assert alarms and alarms[-1].details["field"] == field
