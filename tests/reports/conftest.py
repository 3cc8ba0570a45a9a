"""Builders for report tests: a patient with intake and symptoms, a consultation with a transcript
and medication plan, reports driven through the services, and audit/raw-row readers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from clinic_app.accounts.models import User
from clinic_app.consultations import service as consultations
from clinic_app.core import audit, jobs
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.intake import service as intake
from clinic_app.intake.writing import SymptomRequest
from clinic_app.reports import service as reports
from clinic_app.reports.models import Report
from clinic_app.symptoms import service as symptoms
from clinic_app.symptoms.models import MasterSymptom
from tests.factories import PASSWORD

HTMX = {"HX-Request": "true"}

TRANSCRIPT_VTT = """WEBVTT

00:00:02.000 --> 00:00:06.000
<v Clinician>Good morning. What brings you in today?</v>

00:00:07.000 --> 00:00:16.000
<v Patient>I have not been sleeping well for months, I wake at three and lie awake worrying about work.</v>

00:01:10.000 --> 00:01:20.000
<v Patient>My mood has been low and flat, I stopped seeing friends and I feel tired all day.</v>

00:02:05.000 --> 00:02:15.000
<v Clinician>Have you had any thoughts of harming yourself or ending your life?</v>

00:02:16.000 --> 00:02:24.000
<v Patient>No, never. My sister is a big support and I would call her.</v>

00:03:30.000 --> 00:03:42.000
<v Clinician>We will start sertraline fifty milligrams daily and book a follow-up review in two weeks,
with therapy homework.</v>
"""

MEDICATION_PLAN = [{"drug_name": "Sertraline", "dosage": "50mg", "frequency": "Once daily", "duration": "3 months"}]


def master_symptom(code: str) -> str:
    return db.session.scalar(select(MasterSymptom.id).where(MasterSymptom.code == code))


def register_with_intake(app: Any, organization: Any, *, first_name: str = "Mira", last_name: str = "Okafor") -> str:
    """A patient registered through the intake service, with a presenting problem and two
    ICD-11 symptoms; returns the patient id."""
    with app.app_context():
        symptoms.sync_master_list()
        data = intake.ApiIntake(
            patient_raw={"first_name": first_name, "last_name": last_name, "date_of_birth": "1984-06-02"},
            presenting={
                "presenting_problem": "Poor sleep and low mood since a restructure at work",
                "informants": ["self"],
                "informant_details": None,
                "illness_duration_value": 4,
                "illness_duration_unit": "months",
                "referred_by": None,
                "precipitating_factors": "Restructure at work in July",
                "precipitating_tags": ["work"],
            },
            symptoms=[
                SymptomRequest("master", master_symptom("MB43"), None, {"severity": "moderate", "frequency": "daily"}),
                SymptomRequest(
                    "master",
                    master_symptom("MB24.5"),
                    None,
                    {"severity": "mild", "frequency": "daily", "duration_value": 4, "duration_unit": "months"},
                ),
            ],
        )
        result = intake.register_from_api(organization.id, data, actor=audit.Actor(), idempotency_key=None)
        db.session.commit()
        return result.patient_id


def consultation(
    app: Any,
    organization: Any,
    clinician: Any,
    patient_id: str,
    *,
    transcript: str | None = TRANSCRIPT_VTT,
    source: str = "vtt",
    stop: bool = True,
    complaint: str = "Poor sleep and low mood",
) -> str:
    """A consultation with a transcript and medication plan, stopped with notes; returns its id."""
    actor = audit.Actor(user_id=clinician.id)
    with app.app_context():
        session = consultations.start_session(
            organization.id,
            patient_id=patient_id,
            clinician_id=clinician.id,
            chief_complaint=complaint,
            session_type="new_patient",
            actor=actor,
        )
        if transcript:
            consultations.add_transcript(organization.id, session, text=transcript, source=source, actor=actor)
        consultations.set_medication_plan(organization.id, session, MEDICATION_PLAN, actor=actor)
        if stop:
            consultations.stop_session(organization.id, session.id, notes="Review in two weeks.", actor=actor)
        db.session.commit()
        return session.id


def generate(app: Any, organization: Any, clinician: Any, session_id: str, **options: Any) -> str:
    """A report requested through the service; the (eager) job has written its draft on return."""
    with app.app_context():
        report = reports.start_generation(
            organization.id, session_id, actor=audit.Actor(user_id=clinician.id), **options
        )
        report_id = report.id
        db.session.commit()
    with app.app_context():
        jobs.wait_for_local_jobs(app)
    return report_id


def sign(app: Any, organization: Any, clinician: Any, report_id: str) -> None:
    with app.app_context():
        signer = db.session.get(User, clinician.id)
        reports.sign_report(
            organization.id, report_id, password=PASSWORD, signer=signer, actor=audit.Actor(user_id=clinician.id)
        )
        db.session.commit()


def report_row(app: Any, report_id: str) -> Report:
    with app.app_context():
        row = db.session.get(Report, report_id)
        db.session.expunge(row)
        return row


def events(app: Any, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.chain, AuditEvent.seq)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def raw_rows(app: Any, table: str) -> list[dict[str, Any]]:
    with app.app_context(), db.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table}"))]  # noqa: S608


@pytest.fixture
def patient_id(app, tenants):
    return register_with_intake(app, tenants.a)


@pytest.fixture
def session_id(app, tenants, patient_id):
    return consultation(app, tenants.a, tenants.user("clinician"), patient_id)


@pytest.fixture
def report_id(app, tenants, session_id):
    return generate(app, tenants.a, tenants.user("clinician"), session_id)


@pytest.fixture
def signed_report_id(app, tenants, report_id):
    sign(app, tenants.a, tenants.user("clinician"), report_id)
    return report_id
