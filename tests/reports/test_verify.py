"""PDF export and verification: a download is recorded and audited; the exported PDF verifies and a
modified copy does not (and says which report it claims to be); hashes are checked within the
caller's organization only; who may download and who may verify; a missing PDF renderer answers
503 and writes nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from clinic_app.accounts.models import User
from clinic_app.consultations import service as consultations
from clinic_app.core import audit, jobs
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.reports import pdf
from clinic_app.reports import service as reports
from clinic_app.reports.models import Report
from clinic_app.reports.verify import ReportExport
from tests.factories import PASSWORD, access_token_for, page_csrf
from tests.patients.conftest import register

HTMX = {"HX-Request": "true"}
TRANSCRIPT = (
    "Clinician: What brings you in today?\n"
    "Patient: My right knee has been sore since netball on Saturday, worse on stairs.\n"
    "Clinician: We will start quadriceps strengthening and review in two weeks.\n"
)


def make_report(app: Any, organization: Any, clinician: Any, *, sign: bool = True) -> str:
    """A report of ``organization`` made through the services: session, transcript, offline draft,
    and (by default) signed by ``clinician`` with their password."""
    patient_id = register(app, organization, first_name="Matilda", last_name="Quokka")
    actor = audit.Actor(user_id=clinician.id)
    with app.app_context():
        session = consultations.start_session(
            organization.id,
            patient_id=patient_id,
            clinician_id=clinician.id,
            chief_complaint="Right knee pain after netball",
            session_type="new_patient",
            actor=actor,
        )
        consultations.add_transcript(organization.id, session, text=TRANSCRIPT, source="paste", actor=actor)
        report = reports.start_generation(organization.id, session.id, actor=actor)
        report_id = report.id
        db.session.commit()
    with app.app_context():
        jobs.wait_for_local_jobs(app)
        assert db.session.get(Report, report_id).status == "draft"
        if sign:
            signer = db.session.get(User, clinician.id)
            reports.sign_report(organization.id, report_id, password=PASSWORD, signer=signer, actor=actor)
            db.session.commit()
    return report_id


@pytest.fixture
def report_id(app, tenants):
    return make_report(app, tenants.a, tenants.user("clinician"))


def download(client: Any, report_id: str) -> bytes:
    response = client.get(f"/reports/{report_id}/pdf")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.data


def submit(client: Any, *, pdf_bytes: bytes | None = None, sha256: str = "", htmx: bool = False) -> Any:
    data: dict[str, Any] = {"csrf_token": page_csrf(client, "/reports/verify"), "sha256": sha256}
    if pdf_bytes is not None:
        data["file"] = FileStorage(io.BytesIO(pdf_bytes), filename="report.pdf", content_type="application/pdf")
    # Encoded here, in memory: the test client would spool a large body to a temporary file it never closes.
    boundary, body = encode_multipart(data)
    return client.post(
        "/reports/verify",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=HTMX if htmx else {},
    )


def result_of(response: Any) -> str:
    match = re.search(r'data-verify-result="(\w+)"', response.get_data(as_text=True))
    return match.group(1) if match else "none"


def page_text(response: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def modify_content_stream(content: bytes) -> bytes:
    """The same PDF with one byte of its first page's content stream changed (the metadata, in
    another object, still reads)."""
    reader = PdfReader(io.BytesIO(content))
    number = reader.pages[0]["/Contents"].indirect_reference.idnum
    start = re.search(rb"(?:^|[\r\n])%d 0 obj" % number, content).end()
    data_at = content.index(b"stream", start) + len(b"stream\n") + 20
    changed = bytearray(content)
    changed[data_at] ^= 0xFF
    return bytes(changed)


# --- download ------------------------------------------------------------------------------------


def test_a_clinician_downloads_the_pdf_and_the_export_is_recorded_and_audited(app, login_as, report_id):
    client = login_as("clinician")
    response = client.get(f"/reports/{report_id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert f'filename="report-{report_id}-v1.pdf"' in response.headers["Content-Disposition"]
    digest = hashlib.sha256(response.data).hexdigest()
    assert response.headers["X-Content-SHA256"] == digest
    with app.app_context():
        report = db.session.get(Report, report_id)
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
        assert "Matilda Quokka" in text
        assert report.content_sha256 in "".join(text.split())
        export = db.session.scalars(select(ReportExport)).one()
        assert (export.report_id, export.pdf_sha256, export.content_sha256) == (
            report_id,
            digest,
            report.content_sha256,
        )
        assert export.exported_by_id == report.signed_by_id
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "report.exported")).one()
        assert (event.target_id, event.patient_id, event.organization_id) == (
            report_id,
            report.patient_id,
            report.organization_id,
        )
        assert event.details["pdf_sha256"] == digest and event.details["signed"] is True
        assert "Matilda" not in repr(event.details)


def test_the_api_downloads_the_same_pdf_for_a_bearer_token(app, tenants, report_id, login_as):
    token = access_token_for(app, tenants.user("owner"))
    response = app.test_client().get(f"/api/v1/reports/{report_id}/pdf", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == download(login_as("clinician"), report_id)  # deterministic: same bytes twice
    with app.app_context():
        assert len(db.session.scalars(select(ReportExport)).all()) == 2


@pytest.mark.parametrize("role", ["receptionist", "admin"])
def test_roles_without_export_get_404_for_the_pdf(app, tenants, login_as, report_id, role):
    client = login_as(role)
    assert client.get(f"/reports/{report_id}/pdf").status_code == 404
    token = access_token_for(app, tenants.user(role))
    api = app.test_client().get(f"/api/v1/reports/{report_id}/pdf", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
    with app.app_context():
        assert db.session.scalars(select(ReportExport)).all() == []


def test_another_organization_gets_404_for_the_pdf(app, tenants, login_as, report_id):
    assert login_as("outsider").get(f"/reports/{report_id}/pdf").status_code == 404
    assert login_as("clinician").get("/reports/rep_DoesNotExist0000000000/pdf").status_code == 404


def test_a_draft_exports_with_its_banner_but_never_verifies(app, tenants, login_as):
    clinician = tenants.user("clinician")
    draft_id = make_report(app, tenants.a, clinician, sign=False)
    client = login_as("clinician")
    response = client.get(f"/reports/{draft_id}/pdf")
    assert response.status_code == 200
    assert f"report-{draft_id}-v1-draft.pdf" in response.headers["Content-Disposition"]
    draft_pdf = response.data
    assert "Draft — not signed" in " ".join(PdfReader(io.BytesIO(draft_pdf)).pages[0].extract_text().split())
    rejected = submit(client, pdf_bytes=draft_pdf)
    assert result_of(rejected) == "rejected"
    assert f"claims to be report {draft_id}, which is not signed" in page_text(rejected)

    # Signed later, the report still does not vouch for the draft printed before.
    with app.app_context():
        signer = db.session.get(User, clinician.id)
        reports.sign_report(
            tenants.a.id, draft_id, password=PASSWORD, signer=signer, actor=audit.Actor(user_id=clinician.id)
        )
        db.session.commit()
    assert result_of(submit(client, pdf_bytes=draft_pdf)) == "rejected"
    assert result_of(submit(client, sha256=hashlib.sha256(draft_pdf).hexdigest())) == "rejected"
    assert result_of(submit(client, pdf_bytes=download(client, draft_id))) == "verified"


# --- verification -----------------------------------------------------------------------------------


def test_the_exported_pdf_verifies_and_a_modified_copy_does_not(app, login_as, report_id):
    client = login_as("clinician")
    exported = download(client, report_id)

    accepted = submit(client, pdf_bytes=exported)
    assert accepted.status_code == 200
    assert result_of(accepted) == "verified"
    assert report_id in page_text(accepted) and "unmodified copy of a signed report" in page_text(accepted)

    for tampered in (modify_content_stream(exported), exported + b"\n% appended after signing\n"):
        assert tampered != exported
        rejected = submit(client, pdf_bytes=tampered)
        assert rejected.status_code == 200
        assert result_of(rejected) == "rejected"
        assert (
            f"This file claims to be report {report_id} but its contents differ from the exported, signed copy"
            in page_text(rejected)
        )
    with app.app_context():
        outcomes = [
            e.outcome
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "report.verified").order_by(AuditEvent.seq)
            )
        ]
    assert outcomes == [audit.SUCCESS, audit.FAILURE, audit.FAILURE]


def test_hashes_are_checked_against_signed_reports_and_exports(app, login_as, report_id):
    client = login_as("receptionist")  # any member may verify
    exported = download(login_as("clinician"), report_id)
    with app.app_context():
        content_sha256 = db.session.get(Report, report_id).content_sha256

    by_content = submit(client, sha256=content_sha256)
    assert result_of(by_content) == "verified" and "content hash of a signed report" in page_text(by_content)
    # Copied from a printout: upper case, spaces and a line break still match.
    spaced = " ".join(content_sha256[i : i + 16] for i in range(0, 64, 16)).upper().replace(" ", "\n", 1)
    assert result_of(submit(client, sha256=spaced)) == "verified"
    by_export = submit(client, sha256=hashlib.sha256(exported).hexdigest())
    assert result_of(by_export) == "verified" and "exported copy" in page_text(by_export)

    unknown = submit(client, sha256="0" * 64)
    assert result_of(unknown) == "rejected"
    assert "does not match any signed report of your organization" in page_text(unknown)
    assert "Matilda" not in unknown.get_data(as_text=True)


def test_bad_input_is_refused_with_a_field_message(login_as, report_id):
    client = login_as("clinician")
    cases = (
        ({"sha256": "not-a-hash"}, "64 characters"),
        ({"sha256": ""}, "Paste a hash or choose a PDF file"),
        ({"pdf_bytes": b"Hello, this is a text file."}, "This file is not a PDF"),
        ({"pdf_bytes": b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024)}, "larger than 10 MB"),
    )
    for kwargs, message in cases:
        response = submit(client, **kwargs)
        assert response.status_code == 422, kwargs.keys()
        assert message in page_text(response)
        assert result_of(response) == "none"


def test_another_organizations_report_is_never_confirmed(app, tenants, login_as, report_id):
    exported = download(login_as("clinician"), report_id)
    with app.app_context():
        content_sha256 = db.session.get(Report, report_id).content_sha256
    outsider = login_as("outsider")
    assert result_of(submit(outsider, sha256=content_sha256)) == "rejected"
    assert result_of(submit(outsider, sha256=hashlib.sha256(exported).hexdigest())) == "rejected"
    answer = submit(outsider, pdf_bytes=exported)
    assert result_of(answer) == "rejected"
    # The same words as for an id nobody has: nothing says the report exists elsewhere.
    assert f"claims to be report {report_id}, but no such signed report exists in your organization" in page_text(
        answer
    )

    # B's own signed report verifies for B, and not for A.
    b_report = make_report(app, tenants.b, tenants.outsider)
    with app.app_context():
        b_hash = db.session.get(Report, b_report).content_sha256
    assert result_of(submit(outsider, sha256=b_hash)) == "verified"
    assert result_of(submit(login_as("clinician"), sha256=b_hash)) == "rejected"


def test_the_verify_page_and_its_htmx_fragment(login_as):
    client = login_as("admin")
    page = client.get("/reports/verify")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and 'name="file"' in html and 'name="sha256"' in html
    fragment = submit(client, sha256="f" * 64, htmx=True)
    assert fragment.status_code == 200
    assert "<html" not in fragment.get_data(as_text=True)
    assert result_of(fragment) == "rejected"


def test_the_json_api_verifies_a_pdf_or_a_hash(app, tenants, login_as, report_id):
    exported = download(login_as("clinician"), report_id)
    token = access_token_for(app, tenants.user("receptionist"))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    ok = client.post(
        "/api/v1/reports/verify", json={"pdf_base64": base64.b64encode(exported).decode()}, headers=headers
    )
    assert ok.status_code == 200
    body = ok.get_json()
    assert body["verified"] is True and body["method"] == "pdf"
    assert body["report"]["id"] == report_id and body["report"]["version"] == 1
    assert body["report"]["signed_at"].endswith("Z") and len(body["report"]["content_sha256"]) == 64

    tampered = base64.b64encode(modify_content_stream(exported)).decode()
    no = client.post("/api/v1/reports/verify", json={"pdf_base64": tampered}, headers=headers).get_json()
    assert no["verified"] is False and no["report"] is None and no["claimed_report_id"] == report_id
    assert "contents differ from the exported, signed copy" in no["message"]

    by_hash = client.post("/api/v1/reports/verify", json={"sha256": body["report"]["content_sha256"]}, headers=headers)
    assert by_hash.get_json()["verified"] is True and by_hash.get_json()["method"] == "content_hash"

    for payload, field in (
        ({}, "sha256"),
        ({"sha256": "a" * 64, "pdf_base64": "AAAA"}, "pdf_base64"),
        ({"sha256": "xyz"}, "sha256"),
        ({"pdf_base64": "not base64!"}, "pdf_base64"),
        ({"pdf_base64": base64.b64encode(b"plain text").decode()}, "pdf_base64"),
    ):
        refused = client.post("/api/v1/reports/verify", json=payload, headers=headers)
        assert refused.status_code == 422, payload
        assert refused.mimetype == "application/problem+json"
        assert field in {error["field"] for error in refused.get_json()["errors"]}


def test_the_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert paths["/api/v1/reports/{report_id}/pdf"]["get"]["x-permission"] == "reports:export"
    assert "503" in paths["/api/v1/reports/{report_id}/pdf"]["get"]["responses"]
    verify_op = paths["/api/v1/reports/verify"]["post"]
    assert verify_op["x-permission"] == "organization:member"
    assert "requestBody" in verify_op


# --- the renderer missing -----------------------------------------------------------------------


def test_without_weasyprint_the_download_answers_503_and_writes_nothing(app, tenants, login_as, report_id, monkeypatch):
    monkeypatch.setattr(pdf, "_weasyprint", lambda: (None, "OSError: cannot load library 'libpango-1.0-0'"))
    page = login_as("clinician").get(f"/reports/{report_id}/pdf")
    assert page.status_code == 503
    assert "data-pdf-unavailable" in page.get_data(as_text=True)
    assert "Pango" in page_text(page) and report_id in page_text(page)

    token = access_token_for(app, tenants.user("clinician"))
    api = app.test_client().get(f"/api/v1/reports/{report_id}/pdf", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 503 and api.mimetype == "application/problem+json"
    assert "not available on this server" in api.get_json()["detail"]
    with app.app_context():
        assert db.session.scalars(select(ReportExport)).all() == []
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "report.exported")).all() == []


def test_the_export_model_matches_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    assert [d for d in differences if "report_exports" in repr(d)] == []


def test_the_reports_page_and_the_footer_link_to_verification(login_as, client):
    html = login_as("clinician").get("/reports").get_data(as_text=True)
    assert 'href="/reports/verify" data-verify-link' in html
    front_desk = login_as("receptionist").get("/patients").get_data(as_text=True)
    assert 'href="/reports/verify" data-footer="verify"' in front_desk  # anyone may check a report
    assert 'data-footer="verify"' not in client.get("/login").get_data(as_text=True)  # members only
