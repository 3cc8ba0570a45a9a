"""A report's life through the pages and the service: requested from a consultation, written in the
background (pending → generating → draft), edited section by section with autosave and optimistic
concurrency, compared with the generated draft, signed with the password again (a wrong one is
refused and recorded), read-only once signed (409 on the page), and amended as a new version that
leaves the signed original readable."""

from __future__ import annotations

import hashlib
import re

import pytest

from clinic_app.core import audit, jobs
from clinic_app.core.errors import Conflict
from clinic_app.extensions import db
from clinic_app.reports import service
from clinic_app.reports.content import canonical_content, read_sections
from clinic_app.reports.models import Report
from tests.factories import PASSWORD, page_csrf
from tests.reports.conftest import HTMX, events, report_row


def csrf(client, report_id):
    return page_csrf(client, f"/reports/{report_id}")


def save(client, report_id, section, text, revision, token):
    return client.post(
        f"/reports/{report_id}/sections",
        data={"section": section, "text": text, "revision": str(revision), "csrf_token": token},
        headers=HTMX,
    )


def test_a_draft_is_generated_from_the_consultation_page_and_shown_for_review(app, tenants, login_as, session_id):
    clinician = login_as("clinician")
    page = clinician.get(f"/consultations/{session_id}").get_data(as_text=True)
    assert "data-generate-report" in page
    token = page_csrf(clinician, f"/consultations/{session_id}")
    response = clinician.post("/reports/new", data={"session": session_id, "csrf_token": token})
    assert response.status_code == 303
    report_id = re.fullmatch(r"/reports/(rep_\w+)", response.headers["Location"]).group(1)
    with app.app_context():
        jobs.wait_for_local_jobs(app)
    row = report_row(app, report_id)
    assert (row.status, row.version, row.revision, row.generator) == ("draft", 1, 0, "offline")
    with app.app_context():
        job = db.session.get(jobs.Job, row.job_id)
        assert (job.kind, job.status, job.progress) == ("reports.generate", "succeeded", 100)
    html = clinician.get(f"/reports/{report_id}").get_data(as_text=True)
    # The transcript beside the draft, with timestamps; every section editable; the sign form.
    assert "[00:07]" in html and "I have not been sleeping well for months" in html
    assert html.count("data-section-form=") == 8
    assert 'id="sign-form"' in html and "Restructure at work in July" in html
    assert "Draft written by" in html and "offline-extractive-1" in html
    assert [e.action for e in events(app, "report.generated")] == ["report.generated"]


def test_while_the_draft_is_written_the_page_shows_progress(app, tenants, login_as, session_id):
    with app.app_context():
        report = service.start_generation(
            tenants.a.id, session_id, actor=audit.Actor(user_id=tenants.user("clinician").id)
        )
        db.session.flush()
        db.session.info.pop("jobs_to_dispatch", None)  # keep it pending: no worker picks it up
        db.session.commit()
        report_id = report.id
    clinician = login_as("clinician")
    html = clinician.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "data-report-progress" in html and 'hx-trigger="every 1s"' in html and "Waiting for a worker" in html
    fragment = clinician.get(f"/reports/{report_id}/progress", headers=HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    with app.app_context():
        jobs.run_job(report_row(app, report_id).job_id)
    ready = clinician.get(f"/reports/{report_id}/progress", headers=HTMX)
    assert ready.headers["HX-Refresh"] == "true"


def test_autosave_bumps_the_revision_and_updates_preview_and_diff(app, tenants, login_as, report_id):
    clinician = login_as("clinician")
    token = csrf(clinician, report_id)
    response = save(clinician, report_id, "mental_state", "Calm and *cooperative*; mood low.", 0, token)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'data-save-state="saved"' in body
    assert 'id="report-revision" name="revision" value="1"' in body and 'hx-swap-oob="true"' in body
    assert "<em>cooperative</em>" in body  # the rendered preview
    assert (
        '<del class="diff-del">Not recorded</del><ins class="diff-ins">Calm and *cooperative*; mood low</ins>.' in body
    )
    assert report_row(app, report_id).revision == 1
    (edited,) = events(app, "report.edited")
    assert edited.details == {"sections": ["mental_state"], "revision": 1}
    # Saving the same text again changes nothing.
    save(clinician, report_id, "mental_state", "Calm and *cooperative*; mood low.", 1, token)
    assert report_row(app, report_id).revision == 1


def test_a_stale_save_gets_a_clear_conflict_and_changes_nothing(app, tenants, login_as, report_id):
    clinician = login_as("clinician")
    token = csrf(clinician, report_id)
    assert save(clinician, report_id, "risk", "No risk identified.", 0, token).status_code == 200
    stale = save(clinician, report_id, "risk", "Overwritten by an old tab", 0, token)
    assert stale.status_code == 409
    text = stale.get_data(as_text=True)
    assert 'data-save-state="conflict"' in text and "changed elsewhere" in text
    with app.app_context():
        sections = read_sections(db.session.get(Report, report_id), "current_sections")
    assert sections["risk"] == "No risk identified."


def test_an_unknown_section_is_refused(app, login_as, report_id):
    clinician = login_as("clinician")
    response = save(clinician, report_id, "nonsense", "x", 0, csrf(clinician, report_id))
    assert response.status_code == 422 and "no such section" in response.get_data(as_text=True)


def test_the_diff_compares_with_the_generated_draft(app, login_as, report_id):
    clinician = login_as("clinician")
    token = csrf(clinician, report_id)
    save(clinician, report_id, "assessment", "Moderate depressive episode.", 0, token)
    save(clinician, report_id, "plan", "Therapy weekly.", 1, token)
    html = clinician.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "2 of 8 sections edited" in html
    assert '<ins class="diff-ins">Moderate depressive episode</ins>' in html
    fragment = clinician.get(f"/reports/{report_id}/diff", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and "Therapy weekly." in fragment


def test_signing_needs_the_password_and_records_signer_time_and_hash(app, tenants, login_as, report_id):
    clinician = login_as("clinician")
    token = csrf(clinician, report_id)
    wrong = clinician.post(
        f"/reports/{report_id}/sign", data={"password": "not my password", "csrf_token": token, "revision": "0"}
    )
    assert wrong.status_code == 422
    assert "That password is not correct." in wrong.get_data(as_text=True)
    assert report_row(app, report_id).status == "draft"
    (failed,) = events(app, "report.sign_failed")
    assert (failed.outcome, failed.actor_user_id, failed.target_id) == (
        "failure",
        tenants.user("clinician").id,
        report_id,
    )

    right = clinician.post(
        f"/reports/{report_id}/sign", data={"password": PASSWORD, "csrf_token": token, "revision": "0"}
    )
    assert right.status_code == 303
    row = report_row(app, report_id)
    assert (row.status, row.signed_by_id) == ("signed", tenants.user("clinician").id)
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert row.content_sha256 == hashlib.sha256(canonical_content(report)).hexdigest()
    html = clinician.get(f"/reports/{report_id}").get_data(as_text=True)
    assert row.content_sha256 in html and "The stored text matches its signature" in html
    assert "data-section-form" not in html and 'id="sign-form"' not in html
    (signed,) = events(app, "report.signed")
    assert signed.details["content_sha256"] == row.content_sha256


def test_too_many_wrong_signing_passwords_keep_the_form_with_the_reason(app, login_as, report_id):
    clinician = login_as("clinician")
    token = csrf(clinician, report_id)
    answers = [
        clinician.post(f"/reports/{report_id}/sign", data={"password": f"wrong {n}", "csrf_token": token})
        for n in range(6)
    ]
    assert [a.status_code for a in answers] == [422] * 5 + [429]
    html = answers[-1].get_data(as_text=True)
    assert 'id="sign-form"' in html and 'class="field-error"' in html
    assert report_row(app, report_id).status == "draft"


def test_a_signed_report_cannot_be_edited_through_the_page(app, login_as, signed_report_id):
    clinician = login_as("clinician")
    token = csrf(clinician, signed_report_id)
    response = save(clinician, signed_report_id, "plan", "Sneaky change", 0, token)
    assert response.status_code == 409
    assert "signed and can no longer be changed" in response.get_data(as_text=True)
    plain = clinician.post(
        f"/reports/{signed_report_id}/sections", data={"section": "plan", "text": "x", "csrf_token": token}
    )
    assert plain.status_code == 303  # back to the page, with the reason as a message
    again = clinician.post(f"/reports/{signed_report_id}/sign", data={"password": PASSWORD, "csrf_token": token})
    assert again.status_code == 303  # the page has no sign form any more: the reason comes as a message
    assert "signed and can no longer be changed" in clinician.get(again.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert "Sneaky" not in read_sections(db.session.get(Report, signed_report_id), "current_sections")["plan"]


def test_an_amendment_is_a_new_version_and_the_original_stays_readable(app, tenants, login_as, signed_report_id):
    original = report_row(app, signed_report_id)
    clinician = login_as("clinician")
    token = csrf(clinician, signed_report_id)
    response = clinician.post(f"/reports/{signed_report_id}/amend", data={"csrf_token": token})
    assert response.status_code == 303
    amendment_id = re.fullmatch(r"/reports/(rep_\w+)", response.headers["Location"]).group(1)
    amendment = report_row(app, amendment_id)
    assert (amendment.status, amendment.version, amendment.amends_report_id) == ("draft", 2, signed_report_id)
    save(clinician, amendment_id, "plan", "Corrected: review in one week.", 0, token)
    html = clinician.get(f"/reports/{amendment_id}").get_data(as_text=True)
    assert "Changes from the signed version 1" in html and "Corrected: review in one week." in html
    # The original: unchanged, still signed, still readable, and it points at its amendment.
    again = report_row(app, signed_report_id)
    assert (again.status, again.content_sha256, again.current_sections_enc) == (
        "signed",
        original.content_sha256,
        original.current_sections_enc,
    )
    page = clinician.get(f"/reports/{signed_report_id}")
    assert page.status_code == 200 and "data-amended-by" in page.get_data(as_text=True)
    # One amendment per signed version.
    second = clinician.post(f"/reports/{signed_report_id}/amend", data={"csrf_token": token})
    assert second.status_code == 303 and second.headers["Location"] == f"/reports/{amendment_id}"
    assert len(events(app, "report.amended")) == 1


def test_a_draft_is_not_amended_and_a_pending_report_is_not_edited(app, tenants, report_id, session_id):
    actor = audit.Actor(user_id=tenants.user("clinician").id)
    with app.app_context():
        with pytest.raises(Conflict, match="not signed yet"):
            service.amend_report(tenants.a.id, report_id, actor=actor)
        pending = service.start_generation(tenants.a.id, session_id, actor=actor)
        with pytest.raises(Conflict, match="still being generated"):
            service.save_sections(tenants.a.id, pending.id, {"plan": "x"}, expected_revision=None, actor=actor)
        db.session.rollback()


def test_generation_runs_once_even_if_the_job_runs_twice(app, tenants, report_id):
    row = report_row(app, report_id)
    with app.app_context():
        job = db.session.get(jobs.Job, row.job_id)
        job.status = jobs.QUEUED  # as if RQ ran it again after a crash
        db.session.commit()
        jobs.run_job(row.job_id)
        assert db.session.get(jobs.Job, row.job_id).result["skipped"]
    assert report_row(app, report_id).generated_sections_enc == row.generated_sections_enc
    assert len(events(app, "report.generated")) == 1


def test_a_failed_generation_can_be_tried_again(app, tenants, login_as, session_id, monkeypatch):
    from clinic_app.reports.generation import llm

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(llm, "generate_draft", broken)
    clinician = login_as("clinician")
    token = page_csrf(clinician, f"/consultations/{session_id}")
    location = clinician.post("/reports/new", data={"session": session_id, "csrf_token": token}).headers["Location"]
    report_id = location.rsplit("/", 1)[1]
    with app.app_context():
        jobs.wait_for_local_jobs(app)
    html = clinician.get(location).get_data(as_text=True)
    assert "data-generation-failed" in html and "disk on fire" in html and "data-retry" in html
    monkeypatch.undo()
    assert clinician.post(f"/reports/{report_id}/retry", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        jobs.wait_for_local_jobs(app)
    assert report_row(app, report_id).status == "draft"


def test_a_cancelled_consultation_is_not_reported_on(app, tenants, patient_id):
    from clinic_app.consultations import service as consultations
    from tests.reports.conftest import consultation

    session_id = consultation(app, tenants.a, tenants.user("clinician"), patient_id, stop=False)
    with app.app_context():
        consultations.cancel_session(tenants.a.id, session_id, actor=audit.Actor())
        db.session.commit()
        with pytest.raises(Conflict):
            service.start_generation(tenants.a.id, session_id, actor=audit.Actor())


def test_the_list_filters_by_status_and_patient_and_pages(
    app, tenants, login_as, session_id, report_id, signed_report_id
):
    clinician = login_as("clinician")
    html = clinician.get("/reports").get_data(as_text=True)
    assert f'data-report="{report_id}"' in html
    signed_only = clinician.get("/reports?status=signed").get_data(as_text=True)
    assert 'data-status="signed"' in signed_only and 'data-status="draft"' not in signed_only
    fragment = clinician.get("/reports?status=draft", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and "No reports match." in fragment
    # Two more reports: pages of 25 are plenty, so check the cursor through the service.
    from tests.reports.conftest import generate

    for _ in range(2):
        generate(app, tenants.a, tenants.user("clinician"), session_id)
    from clinic_app.reports import queries as reading

    with app.app_context():
        first = reading.list_reports(tenants.a.id, actor=audit.Actor(), limit=2)
        second = reading.list_reports(tenants.a.id, actor=audit.Actor(), limit=2, cursor=first.next_cursor)
        assert first.has_more and not second.has_more
        assert len({r.id for r in first.rows + second.rows}) == 3
        db.session.commit()
    patient_page = clinician.get(f"/reports?patient_id={report_row(app, report_id).patient_id}").get_data(as_text=True)
    assert "Mira Okafor" in patient_page


def test_the_patient_page_lists_reports_for_clinicians_only(app, tenants, login_as, report_id):
    patient_id = report_row(app, report_id).patient_id
    html = login_as("clinician").get(f"/patients/{patient_id}").get_data(as_text=True)
    assert f'data-report="{report_id}"' in html
    front_desk = login_as("receptionist").get(f"/patients/{patient_id}").get_data(as_text=True)
    assert report_id not in front_desk and "Reports are visible to clinicians." in front_desk


def test_the_generate_page_takes_a_template_and_notes(app, tenants, login_as, session_id):
    clinician = login_as("clinician")
    page = clinician.get(f"/reports/new?session={session_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Physiotherapy consultation" in html and "Additional notes" in html
    token = page_csrf(clinician, f"/reports/new?session={session_id}")
    with app.app_context():
        from clinic_app.reports import templates_service

        physio = templates_service.list_templates(tenants.a.id)[1].template.id
        db.session.commit()
    too_long = clinician.post(
        "/reports/new",
        data={"session": session_id, "template_id": physio, "additional_notes": "x" * 5001, "csrf_token": token},
    )
    assert too_long.status_code == 422 and "Keep it under 5,000 characters." in too_long.get_data(as_text=True)
    response = clinician.post(
        "/reports/new",
        data={"session": session_id, "template_id": physio, "patient_progress": "Walking further", "csrf_token": token},
    )
    report_id = response.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        jobs.wait_for_local_jobs(app)
        report = db.session.get(Report, report_id)
        sections = read_sections(report, "current_sections")
        assert "examination" in sections and "Walking further" in sections["assessment"]
