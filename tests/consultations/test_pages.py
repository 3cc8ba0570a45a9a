"""The consultation pages: starting from the patient page and from the Today list, the session
page (stop with notes, cancel with confirmation, transcripts pasted and uploaded, the medication
plan), the history with pagination, the patient page's section, and what receptionists and
other organizations see."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import g, render_template_string

from clinic_app.appointments.models import Appointment
from clinic_app.auth.identity import Identity
from clinic_app.consultations import service
from clinic_app.core import audit
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from tests.consultations.conftest import PLAIN_TRANSCRIPT, SERVICE_SRT, TEAMS_VTT, events, start
from tests.factories import page_csrf

HTMX = {"HX-Request": "true"}


def _form(client, path, **data):
    return client.post(path, data={"csrf_token": page_csrf(client, "/account"), **data})


def _hx(client, path, **data):
    return client.post(path, data=data, headers={**HTMX, "X-CSRFToken": page_csrf(client, "/account")})


# --- starting ---------------------------------------------------------------------------------------


def test_a_clinician_starts_a_consultation_from_the_patient_page(app, tenants, clinician, patient_id):
    record = clinician.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert 'id="patient-consultations"' in record and "No consultations yet." in record
    assert f'href="/patients/{patient_id}/consultations/new"' in record
    page = clinician.get(f"/patients/{patient_id}/consultations/new").get_data(as_text=True)
    me = tenants.user("clinician")
    assert f'<option value="{me.id}" selected>' in page  # defaults to the signed-in clinician
    assert '<option selected value="new_patient">' in page
    assert tenants.user("receptionist").id not in page and tenants.user("admin").id not in page
    response = _form(
        clinician,
        f"/patients/{patient_id}/consultations/new",
        clinician_id=me.id,
        chief_complaint="Panic attacks on the train",
        session_type="new_patient",
    )
    assert response.status_code == 303
    session_id = response.headers["Location"].rsplit("/", 1)[1]
    assert session_id.startswith("con_")
    body = clinician.get(f"/consultations/{session_id}").get_data(as_text=True)
    assert "Panic attacks on the train" in body and "In progress" in body
    assert re.search(r"CS-\d{8}-[0-9A-Z]{8}", body)
    assert 'id="consultation-stop-form"' in body and 'id="transcript-form"' in body
    assert "Audio transcription is not configured" in body
    assert events(app, "consultation.started")[0].target_id == session_id
    assert events(app, "consultation.viewed")[-1].details == {"channel": "web", "clinical": True}


def test_the_start_form_lists_every_problem_and_starts_nothing(app, tenants, clinician, patient_id):
    response = _hx(
        clinician,
        f"/patients/{patient_id}/consultations/new",
        clinician_id=tenants.user("receptionist").id,
        chief_complaint="no",
        session_type="house_call",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert "Nothing has been started" in body
    assert "3 to 500 characters" in body and "Choose one of" in body and "a clinician or owner" in body
    assert events(app, "consultation.started") == []


def test_starting_twice_takes_you_to_the_session_in_progress(app, tenants, clinician, patient_id):
    session_id, code = start(app, tenants, patient_id)
    page = clinician.get(f"/patients/{patient_id}/consultations/new").get_data(as_text=True)
    assert "already in progress" in page and code in page
    response = _form(
        clinician,
        f"/patients/{patient_id}/consultations/new",
        clinician_id=tenants.user("clinician").id,
        chief_complaint="Another reason",
        session_type="consultation",
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/consultations/{session_id}")
    assert len(events(app, "consultation.started")) == 1


def _today_row(app, tenants, appointment, patient_id):
    """The Today list's cell for one appointment, as a signed-in clinician of A sees it."""
    with app.test_request_context():
        g.identity = Identity(
            kind="session", user=tenants.user("clinician"), organization_id=tenants.a.id, role="clinician"
        )
        return render_template_string(
            '{% include "consultations/_start_from_today.html" %}', appointment=appointment, patient_id=patient_id
        )


def test_starting_from_todays_appointment_links_it(app, tenants, clinician, patient_id):
    with app.app_context():
        appointment = Appointment(organization_id=tenants.a.id, patient_id=patient_id, starts_at=utcnow())
        db.session.add(appointment)
        db.session.commit()
        appointment_id = appointment.id
        row = _today_row(app, tenants, appointment, patient_id)
        assert f'action="/patients/{patient_id}/consultations/new"' in row
        assert f'name="appointment_id" value="{appointment_id}"' in row and "data-start-consultation" in row
        assert _today_row(app, tenants, appointment, None).strip() == ""  # a patient not yet synced
    page = clinician.get(f"/patients/{patient_id}/consultations/new?appointment_id={appointment_id}")
    assert f'value="{appointment_id}"' in page.get_data(as_text=True)
    response = _form(
        clinician,
        f"/patients/{patient_id}/consultations/new",
        clinician_id=tenants.user("clinician").id,
        chief_complaint="Booked review",
        session_type="follow_up",
        appointment_id=appointment_id,
    )
    assert response.status_code == 303
    session_id = response.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        assert service.get_session(tenants.a.id, session_id).appointment_id == appointment_id
        row = _today_row(app, tenants, db.session.get(Appointment, appointment_id), patient_id)
    assert f'href="/consultations/{session_id}"' in row and "Open consultation" in row
    assert "data-start-consultation" not in row


# --- the session page -------------------------------------------------------------------------------


def test_stopping_with_notes_shows_the_duration(app, tenants, clinician, patient_id):
    began = utcnow()
    headers = {**HTMX, "X-CSRFToken": page_csrf(clinician, "/account")}
    with time_machine.travel(began, tick=False):
        session_id, code = start(app, tenants, patient_id)
    with time_machine.travel(began + timedelta(minutes=12, seconds=5), tick=False):
        response = clinician.post(
            f"/consultations/{session_id}/stop", data={"notes": "Start CBT workbook."}, headers=headers
        )
        body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and 'id="consultation"' in body
    assert "Completed" in body and "12 min 05 s" in body and "Start CBT workbook." in body
    assert f"Consultation {code} stopped after 12 min 05 s." in body
    assert 'id="consultation-stop-form"' not in body
    assert _hx(clinician, f"/consultations/{session_id}/stop").status_code == 409


def test_long_notes_are_sent_back_and_the_session_keeps_running(app, tenants, clinician, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    response = _hx(clinician, f"/consultations/{session_id}/stop", notes="x" * 10_001)
    assert response.status_code == 422 and "under 10,000 characters" in response.get_data(as_text=True)
    with app.app_context():
        assert service.get_session(tenants.a.id, session_id).status == "in_progress"


def test_cancelling_asks_first(app, tenants, clinician, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    ask = _form(clinician, f"/consultations/{session_id}/cancel")
    assert ask.status_code == 200 and "Cancel consultation" in ask.get_data(as_text=True)
    with app.app_context():
        assert service.get_session(tenants.a.id, session_id).status == "in_progress"
    done = _form(clinician, f"/consultations/{session_id}/cancel", confirmed="yes")
    assert done.status_code == 303
    body = clinician.get(f"/consultations/{session_id}").get_data(as_text=True)
    assert "Cancelled" in body and 'id="transcript-form"' not in body and 'id="medication-plan-form"' not in body


def test_pasting_and_uploading_transcripts(app, tenants, clinician, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    pasted = _hx(clinician, f"/consultations/{session_id}/transcript", text=PLAIN_TRANSCRIPT)
    body = pasted.get_data(as_text=True)
    assert pasted.status_code == 200 and "<html" not in body and body.lstrip().startswith('<section id="transcript"')
    assert "Transcript added: 27 words in 4 passages." in body
    assert '<strong class="speaker">Dr Raman:</strong>' in body and ">04:10</time>" in body
    upload = clinician.post(
        f"/consultations/{session_id}/transcript",
        data={"csrf_token": page_csrf(clinician, "/account"), "file": (io.BytesIO(TEAMS_VTT.encode()), "room2.vtt")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 303 and upload.headers["Location"].endswith("#transcript")
    page = clinician.get(f"/consultations/{session_id}").get_data(as_text=True)
    assert "WebVTT file" in page and "(room2.vtt)" in page and ">01:03</time>" in page
    assert "Dr Priya Raman:" in page and "2 parts" in page
    own_page = clinician.get(f"/consultations/{session_id}/transcript").get_data(as_text=True)
    assert "How long has that been going on?" in own_page
    assert [e.details["source"] for e in events(app, "consultation.transcript_added")] == ["paste", "vtt"]
    assert events(app, "consultation.transcript_viewed")[0].target_id == session_id


def test_a_malformed_upload_is_explained_and_nothing_is_stored(app, tenants, clinician, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    broken = SERVICE_SRT.replace("00:00:03,900 --> 00:00:09,000", "00:00:03,900 to 00:00:09,000")
    response = clinician.post(
        f"/consultations/{session_id}/transcript",
        data={"file": (io.BytesIO(broken.encode()), "visit.srt")},
        headers={**HTMX, "X-CSRFToken": page_csrf(clinician, "/account")},
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "The transcript was not added." in body
    assert "Line 6: expected a cue timing" in body
    with app.app_context():
        assert service.transcript_segments(service.get_session(tenants.a.id, session_id)) == []


def test_the_medication_plan_editor(app, tenants, clinician, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    path = f"/consultations/{session_id}/medication-plan"
    more = _hx(clinician, path, action="add_row", drug_name="Sertraline", dosage="50 mg", frequency="", duration="")
    assert more.status_code == 200 and more.get_data(as_text=True).count("data-medication-row=") == 2
    with app.app_context():
        assert service.session_facts(service.get_session(tenants.a.id, session_id)).medication_plan == []
    bad = clinician.post(
        path,
        data={
            "action": "save",
            "drug_name": ["Sertraline", ""],
            "dosage": ["50 mg", "10 mg"],
            "frequency": ["", ""],
            "duration": ["", ""],
        },
        headers={**HTMX, "X-CSRFToken": page_csrf(clinician, "/account")},
    )
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="med-1-drug_name-error"' in body and "Name the drug." in body
    assert 'value="10 mg"' in body  # what was typed is kept
    good = _hx(
        clinician,
        path,
        action="save",
        drug_name="Sertraline",
        dosage="50 mg",
        frequency="Once daily",
        duration="3 months",
    )
    assert good.status_code == 200 and "Medication plan saved (1 medication)." in good.get_data(as_text=True)
    with app.app_context():
        plan = service.session_facts(service.get_session(tenants.a.id, session_id)).medication_plan
    assert plan == [{"drug_name": "Sertraline", "dosage": "50 mg", "frequency": "Once daily", "duration": "3 months"}]


# --- history and the patient page ------------------------------------------------------------------


def test_history_pages_newest_first(app, tenants, clinician, patient_id):
    codes = []
    for day in range(23):
        with time_machine.travel(datetime(2026, 10, 1, 9, tzinfo=UTC) + timedelta(days=day), tick=False):
            session_id, code = start(app, tenants, patient_id, chief_complaint=f"Visit number {day}")
            with app.app_context():
                service.stop_session(tenants.a.id, session_id, actor=audit.Actor())
                db.session.commit()
            codes.append(code)
    first = clinician.get(f"/patients/{patient_id}/consultations").get_data(as_text=True)
    assert "23 consultations in all" in first and "Visit number 22" in first and "Visit number 3" in first
    assert "Visit number 2<" not in first
    older = re.search(r'href="(/patients/[^"]+cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = clinician.get(older, headers=HTMX).get_data(as_text=True)
    assert "<html" not in second and "Visit number 2<" in second and "Visit number 0" in second
    assert "Visit number 3<" not in second and "Newest" in second and "data-older" not in second
    stale = clinician.get(f"/patients/{patient_id}/consultations?cursor=garbage")
    assert stale.status_code == 200 and "Visit number 22" in stale.get_data(as_text=True)
    section = clinician.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert section.count("data-consultation=") == 5 and "All 23 consultations" in section


# --- who sees what ----------------------------------------------------------------------------------


def test_a_receptionist_sees_that_consultations_happened_but_no_clinical_content(
    app, tenants, receptionist, patient_id
):
    session_id, code = start(app, tenants, patient_id, chief_complaint="SECRET complaint")
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        service.add_transcript(tenants.a.id, session, text="Patient: SECRET words\nDoctor: ok", actor=audit.Actor())
        service.set_medication_plan(tenants.a.id, session, [{"drug_name": "SECRET drug"}], actor=audit.Actor())
        db.session.commit()
    record = receptionist.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert code in record and "In progress" in record and "SECRET" not in record
    assert "Start a consultation" not in record
    page = receptionist.get(f"/consultations/{session_id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and code in body and "SECRET" not in body
    assert "visible to clinicians only" in body and 'id="consultation-stop-form"' not in body
    assert receptionist.get(f"/consultations/{session_id}/transcript").status_code == 404
    token = page_csrf(receptionist, "/account")
    assert (
        receptionist.post(
            f"/consultations/{session_id}/transcript", data={"csrf_token": token, "text": "x"}
        ).status_code
        == 404
    )
    assert (
        receptionist.post(f"/consultations/{session_id}/medication-plan", data={"csrf_token": token}).status_code == 404
    )
    assert receptionist.post(f"/consultations/{session_id}/stop", data={"csrf_token": token}).status_code == 403
    assert receptionist.get(f"/patients/{patient_id}/consultations/new").status_code == 403
    history = receptionist.get(f"/patients/{patient_id}/consultations").get_data(as_text=True)
    assert code in history and "SECRET" not in history
    assert events(app, "consultation.viewed")[-1].details == {"channel": "web", "clinical": False}


@pytest.mark.parametrize(
    "path",
    [
        "/consultations/{id}",
        "/consultations/{code}",
        "/consultations/{id}/transcript",
        "/patients/{patient}/consultations",
        "/patients/{patient}/consultations/new",
    ],
)
def test_another_organization_gets_404(app, tenants, login_as, patient_id, path):
    session_id, code = start(app, tenants, patient_id)
    outsider = login_as("outsider")
    response = outsider.get(path.format(id=session_id, code=code, patient=patient_id))
    assert response.status_code == 404 and code not in response.get_data(as_text=True)
    token = page_csrf(outsider, "/account")
    for action in ("stop", "cancel", "transcript", "medication-plan"):
        answer = outsider.post(f"/consultations/{session_id}/{action}", data={"csrf_token": token, "confirmed": "yes"})
        assert answer.status_code == 404
    with app.app_context():
        assert service.get_session(tenants.a.id, session_id).status == "in_progress"
