"""Two clinics with records, for the fuzz runs: every kind of id a route takes, for each clinic.

Clinic A is the caller's; clinic B is the other tenant whose ids are mixed into the requests. B's
people and records carry names found nowhere in A, so a response that shows one of them is a leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask

from clinic_app.core import audit, jobs
from clinic_app.core.permissions import PERMISSIONS
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.webhooks import endpoints
from clinic_app.webhooks.models import WebhookDelivery
from tests.appointments.builders import make_patient, make_practitioner, make_type
from tests.factories import access_token_for, api_token_for, make_user
from tests.reports.conftest import consultation, generate, register_with_intake

ACTOR = audit.Actor()


@dataclass
class Clinic:
    """One organization's records, by the path parameter names the routes use."""

    ids: dict[str, str]
    # Strings that identify this clinic's people and records (names, emails, ids): the leak markers.
    markers: set[str] = field(default_factory=set)


@dataclass
class World:
    app: Flask
    a: Clinic
    b: Clinic
    tenants: Any
    bearer: dict[str, str]  # credential name -> "Bearer ..." header value for clinic A


def _clinic(app: Flask, organization: Any, clinician: Any, *, tag: str) -> Clinic:
    """Patients (one through intake), a practitioner, an appointment type and a booking, a stopped
    consultation with a drafted report, a consultation in progress, a job and a finished sync."""
    from clinic_app.appointments import booking
    from clinic_app.consultations import service as consultations
    from clinic_app.reports import templates_service
    from clinic_app.sync.models import SyncRun

    ids: dict[str, str] = {"organization_id": organization.id}
    markers = {organization.id, organization.name}
    reported = register_with_intake(app, organization, first_name=f"{tag}mira", last_name=f"{tag}okafor")
    markers |= {reported, f"{tag}mira", f"{tag}okafor"}
    session_id = consultation(app, organization, clinician, reported, complaint=f"{tag} sleep complaint")
    ids["report_id"] = generate(app, organization, clinician, session_id)
    markers |= {session_id, ids["report_id"]}
    with app.app_context():
        patient = make_patient(organization.id, f"{tag}jane", f"{tag}citizen")
        practitioner = make_practitioner(organization.id, f"{tag}priya", f"{tag}kapoor")
        kind = make_type(organization.id, f"{tag} standard visit", 30)
        start = (utcnow() + timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
        appointment = booking.book(
            organization.id,
            patient_id=patient,
            practitioner_id=practitioner,
            appointment_type_id=kind,
            starts_at=start,
            actor=ACTOR,
        )
        held = consultations.start_session(
            organization.id,
            patient_id=patient,
            clinician_id=clinician.id,
            chief_complaint=f"{tag} shoulder pain",
            session_type="consultation",
            actor=ACTOR,
        )
        job = jobs.Job(kind="reports.generate", organization_id=organization.id, status=jobs.SUCCEEDED, params={})
        sync_run = SyncRun(organization_id=organization.id, mode="comprehensive", status="failed", steps=["patients"])
        db.session.add_all([job, sync_run])
        db.session.flush()
        template = templates_service.list_templates(organization.id)[0].template.id
        ids.update(
            patient_id=patient,
            appointment_id=appointment.id,
            consultation_id=held.id,
            session_id=held.session_code,
            job_id=job.id,
            sync_id=sync_run.id,
            template_id=template,
            appointment_type=f"{tag} standard visit",
            practitioner_id=practitioner,
            appointment_type_id=kind,
            doctor_id=clinician.id,
            user_id=clinician.id,
        )
        db.session.commit()
    ids.update(_health_data(app, organization, clinician, ids["patient_id"]))
    ids.update(_billing(app, organization, ids["patient_id"], tag=tag))
    ids.update(_webhooks(app, organization, tag=tag))
    ids.update(_privacy(app, organization, ids["patient_id"], f"{tag}jane {tag}citizen"))
    markers |= {value for value in ids.values()} | {f"{tag}jane", f"{tag}citizen", f"{tag}priya", f"{tag}kapoor"}
    markers.add(clinician.email)
    return Clinic(ids=ids, markers=markers)


def _health_data(app: Flask, organization: Any, clinician: Any, patient_id: str) -> dict[str, str]:
    """A metrics upload (``processing_id``), an imported CSV of counts (``upload_id``), its analysis
    (``analysis_id``) and an insight drawn from it (``insight_id``)."""
    import io

    from clinic_app.health_data import queries, service
    from clinic_app.health_data.insights import service as insights
    from clinic_app.health_data.metrics import HealthMetric

    actor = audit.Actor(user_id=clinician.id)
    rows = "".join(f"2024-03-04T{h:02}:{m:02}:00,{(h * 60 + m) % 89}\n" for h in range(24) for m in range(60))
    with app.app_context():
        metric = HealthMetric.model_validate({"metric_type": "heart_rate", "biometric_data": {"heart_rate": 71}})
        metrics = service.record_metrics(organization.id, patient_id, [metric], actor=actor).upload
        with io.BytesIO(f"timestamp,value\n{rows}".encode()) as counts:
            upload = service.receive_file(
                organization.id, patient_id, counts, filename="counts.csv", file_format="plain_csv", actor=actor
            )
        db.session.commit()  # the import job runs now (eagerly in tests)
        ids = {"processing_id": metrics.id, "upload_id": upload.id}
    with app.app_context():
        analysis = queries.analyses_of(organization.id, [upload.id])[upload.id]
        ids["analysis_id"] = analysis.id
        ids["insight_id"] = insights.generate(organization.id, analysis.id, actor=actor).id
        db.session.commit()
    return ids


def _webhooks(app: Flask, organization: Any, *, tag: str) -> dict[str, str]:
    """A webhook endpoint (its URL a documentation address the SSRF guard refuses at once, so
    nothing reaches out) and the delivery of a test event to it (``log_id``)."""
    with app.app_context():
        target = endpoints.EndpointInput(f"https://203.0.113.10/{tag}hooks", f"{tag} receiver", ())
        endpoint, _secret = endpoints.create_endpoint(organization.id, target, actor=audit.Actor())
        event = endpoints.outbox.emit(organization.id, "webhook.test", {}, only_endpoint=endpoint)
        db.session.commit()
        log_id = db.session.query(WebhookDelivery.id).filter_by(event_id=event.id).scalar()
        return {"endpoint_id": endpoint.id, "log_id": log_id}


def _billing(app: Flask, organization: Any, patient_id: str, *, tag: str) -> dict[str, str]:
    """A billable item, a draft with a line (``invoice_id``, ``line_id``) and a credit note of an
    issued invoice (``credit_note_id``)."""
    from clinic_app.billing import queries
    from clinic_app.billing import service as billing

    with app.app_context():
        item = billing.create_item(
            organization.id, billing.ItemInput(name=f"{tag} consultation", unit_price=9000), actor=ACTOR
        )
        by_hand = billing.DraftInput(patient_id=patient_id, lines=(billing.LineInput(item_id=item.id),))
        draft = billing.create_draft(organization.id, by_hand, actor=ACTOR)
        credited = billing.create_draft(organization.id, by_hand, actor=ACTOR)
        billing.issue_invoice(organization.id, credited.id, actor=ACTOR)
        note = billing.issue_credit_note(organization.id, credited.id, lines=None, reason="Fuzz", actor=ACTOR)
        line_id = queries.lines_of(draft.id)[0].id
        db.session.commit()
        return {"item_id": item.id, "invoice_id": draft.id, "line_id": line_id, "credit_note_id": note.id}


def _privacy(app: Flask, organization: Any, patient_id: str, name: str) -> dict[str, str]:
    """A consent the patient gave (``consent_id``) and a request to erase them, waiting the
    organization's period (``request_id``)."""
    from clinic_app.patients import consent, erasure

    with app.app_context():
        given = consent.record_consent(
            organization.id, patient_id, consent.ConsentInput("treatment", "v1", "written"), actor=ACTOR
        )
        waiting = erasure.request_erasure(
            organization.id, patient_id, reason="patient_request", note=None, confirm_name=name, actor=ACTOR
        )
        db.session.commit()
        return {"consent_id": given.id, "request_id": waiting.id}


def build_world(app: Flask, tenants: Any) -> World:
    """Clinic A (the caller's) and clinic B, each with records; bearer credentials for A's owner."""
    with app.app_context():
        other_clinician = make_user("clinician@northside.example", organization_id=tenants.b.id, role="clinician")
        db.session.commit()
    a = _clinic(app, tenants.a, tenants.user("clinician"), tag="Harbour")
    b = _clinic(app, tenants.b, other_clinician, tag="Northside")
    b.markers |= {tenants.outsider.email}
    # Session codes are short and per clinic; a code of B may equal one of A's by chance.
    b.markers -= a.markers
    owner = tenants.user("owner")
    bearer = {
        "owner access token": f"Bearer {access_token_for(app, owner)}",
        "API token with every scope": f"Bearer {api_token_for(app, tenants.a.id, list(PERMISSIONS), creator=owner)}",
    }
    return World(app=app, a=a, b=b, tenants=tenants, bearer=bearer)
