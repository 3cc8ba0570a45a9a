"""Submitting an intake: one patient with their intake record and symptoms; possible duplicates
shown before creating (open existing / create anyway); a double or concurrent submit creates one
patient; an incomplete draft is refused with the steps to fix."""

from __future__ import annotations

import threading

import pytest

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from tests.factories import sign_in
from tests.intake.conftest import (
    DEMOGRAPHICS,
    count,
    csrf,
    events,
    fill_draft,
    post_step,
    raw_rows,
    start_draft,
)


def register_existing(app, organization, **values):
    raw = {"first_name": "Someone", "last_name": "Else", **values}
    with app.app_context():
        data = patients.validate_for(organization.id, raw)
        patient = patients.create_patient(organization.id, data, actor=audit.Actor())
        db.session.commit()
        return patient.id


def submit(client, draft_id, *, create_anyway=False, htmx=False):
    data = {"csrf_token": csrf(client)}
    if create_anyway:
        data["create_anyway"] = "yes"
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/intake/{draft_id}/review", data=data, headers=headers)


def test_submitting_registers_the_patient_with_intake_record_and_symptoms(app, tenants, receptionist, catalogue):
    draft_id = fill_draft(receptionist, app)
    response = submit(receptionist, draft_id)
    assert response.status_code == 303
    patient_id = response.headers["Location"].rsplit("/", 1)[1]
    assert patient_id.startswith("pat_")

    html = receptionist.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "Ada Intake was registered." in html
    assert "Low mood since winter" in html and "3 months" in html and "Dr Who" in html and "Lost job in June" in html
    assert "The patient, Spouse or partner" in html and "Husband came along" in html
    assert ">work</li>" in html and ">loss</li>" in html
    assert "Depressed mood" in html and "MB24.5" in html and "Moderate" in html and "SENTINEL-SYMPTOM-NOTE" in html
    assert "Intake, Ada" in receptionist.get("/patients").get_data(as_text=True)

    [record] = raw_rows(app, "intake_records")
    assert record["patient_id"] == patient_id and record["draft_id"] == draft_id
    assert (record["illness_duration_value"], record["illness_duration_unit"]) == (3, "months")
    [symptom] = raw_rows(app, "patient_symptoms")
    assert (symptom["code"], symptom["severity"], symptom["frequency"], symptom["symptom_source"]) == (
        "MB24.5",
        "moderate",
        "daily",
        "master",
    )
    [draft] = raw_rows(app, "intake_drafts")
    assert draft["status"] == "submitted" and draft["submitted_patient_id"] == patient_id
    assert draft["payload_enc"] is None  # the patient record holds the answers now
    [submitted] = events(app, "intake.submitted")
    assert submitted.patient_id == patient_id and submitted.target_id == record["id"]
    [added] = events(app, "patient_symptom.added")
    assert added.patient_id == patient_id and added.target_id == symptom["id"]
    assert len(events(app, "patient.created")) == 1


def test_htmx_submit_redirects_with_hx_redirect(app, tenants, receptionist, catalogue):
    draft_id = fill_draft(receptionist, app)
    response = submit(receptionist, draft_id, htmx=True)
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/patients/pat_")


def test_a_double_submit_creates_one_patient(app, tenants, receptionist, catalogue):
    draft_id = fill_draft(receptionist, app)
    first = submit(receptionist, draft_id)
    second = submit(receptionist, draft_id)  # the second click, or a retry after a dropped connection
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(app, "patients") == count(app, "intake_records") == count(app, "patient_symptoms") == 1
    assert len(events(app, "intake.submitted")) == 1
    # The submitted draft's steps lead to the patient now.
    step = receptionist.get(f"/intake/{draft_id}/demographics")
    assert step.status_code == 303 and step.headers["Location"] == first.headers["Location"]
    late_save = post_step(receptionist, draft_id, "demographics", DEMOGRAPHICS)
    assert late_save.status_code == 303 and late_save.headers["Location"] == first.headers["Location"]


def test_two_submits_at_once_create_one_patient(app, tenants, login_as, catalogue):
    clients = [login_as("receptionist"), login_as("receptionist")]
    draft_id = fill_draft(clients[0], app)
    tokens = [csrf(client) for client in clients]
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def post(index: int) -> None:
        barrier.wait()
        answers[index] = clients[index].post(f"/intake/{draft_id}/review", data={"csrf_token": tokens[index]})

    threads = [threading.Thread(target=post, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [answer.status_code for answer in answers] == [303, 303], [a.get_data(as_text=True)[:300] for a in answers]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert count(app, "patients") == count(app, "intake_records") == count(app, "patient_symptoms") == 1


# --- possible duplicates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "reason"),
    [
        ({"first_name": "Ada", "last_name": "Intake", "date_of_birth": "1980-02-03"}, "name and date of birth"),
        ({"phones": [{"type": "mobile", "number": "+61412555111"}]}, "phone number"),
        ({"email": "ADA.intake@example.com"}, "e-mail address"),
    ],
)
def test_possible_duplicates_are_shown_before_creating(app, tenants, receptionist, catalogue, existing, reason):
    existing_id = register_existing(app, tenants.a, **existing)
    draft_id = fill_draft(receptionist, app)
    review = receptionist.get(f"/intake/{draft_id}/review").get_data(as_text=True)
    assert "data-duplicates" in review and f'data-duplicate-id="{existing_id}"' in review
    assert f"same {reason}" in review
    assert f'href="/patients/{existing_id}" data-open-existing' in review  # "Open existing"
    assert "data-create-anyway" in review and "data-submit-intake" not in review

    refused = submit(receptionist, draft_id)  # without "create anyway"
    assert refused.status_code == 409 and "data-duplicates" in refused.get_data(as_text=True)
    assert count(app, "patients") == 1 and count(app, "intake_records") == 0
    assert raw_rows(app, "intake_drafts")[0]["status"] == "draft"  # the claim was rolled back

    created = submit(receptionist, draft_id, create_anyway=True)
    assert created.status_code == 303
    new_id = created.headers["Location"].rsplit("/", 1)[1]
    assert new_id != existing_id and count(app, "patients") == 2 and count(app, "intake_records") == 1


def test_open_existing_leads_to_the_existing_patient(app, tenants, receptionist, catalogue):
    existing_id = register_existing(app, tenants.a, first_name="Ada", last_name="Intake", date_of_birth="1980-02-03")
    draft_id = fill_draft(receptionist, app)
    assert f'href="/patients/{existing_id}"' in receptionist.get(f"/intake/{draft_id}/review").get_data(as_text=True)
    page = receptionist.get(f"/patients/{existing_id}")
    assert page.status_code == 200 and "Someone" not in page.get_data(as_text=True)  # it is "Ada Intake"


def test_another_organizations_patients_are_not_duplicates(app, tenants, receptionist, catalogue):
    register_existing(app, tenants.b, first_name="Ada", last_name="Intake", date_of_birth="1980-02-03")
    draft_id = fill_draft(receptionist, app)
    assert "data-duplicates" not in receptionist.get(f"/intake/{draft_id}/review").get_data(as_text=True)
    assert submit(receptionist, draft_id).status_code == 303


# --- incomplete drafts -------------------------------------------------------------------------


def test_an_incomplete_draft_lists_what_to_fix_and_creates_nothing(app, tenants, receptionist):
    draft_id = start_draft(receptionist)
    review = receptionist.get(f"/intake/{draft_id}/review").get_data(as_text=True)
    assert "data-problems" in review and "Enter the first name." in review
    assert f'href="/intake/{draft_id}/demographics"' in review and "disabled" in review
    response = submit(receptionist, draft_id)
    assert response.status_code == 422 and "Enter the last name." in response.get_data(as_text=True)
    assert count(app, "patients") == 0 and raw_rows(app, "intake_drafts")[0]["status"] == "draft"


def test_an_answer_gone_stale_is_caught_at_submit(app, tenants, receptionist, catalogue):
    """A birth date checked yesterday is checked again today (here: made invalid behind the form's back)."""
    draft_id = fill_draft(receptionist, app)
    with app.app_context():
        from clinic_app.intake import drafts

        draft = drafts.get_draft(tenants.a.id, draft_id)
        answers = drafts.draft_answers(draft)
        answers.demographics["date_of_birth"] = "2999-01-01"
        drafts._store(draft, answers)
        db.session.commit()
    response = submit(receptionist, draft_id)
    assert response.status_code == 422 and "cannot be in the future" in response.get_data(as_text=True)
    assert count(app, "patients") == 0


def test_a_second_sign_in_of_the_same_receptionist_can_resume_and_submit(app, tenants, catalogue):
    first = app.test_client()
    sign_in(first, tenants.user("receptionist").email)
    draft_id = fill_draft(first, app)
    second = app.test_client()
    sign_in(second, tenants.user("receptionist").email)
    assert submit(second, draft_id).status_code == 303
