"""A patient's record as one JSON document: the copy a clinic hands a patient who asks for their
information ("right of access"), or sends with them to another practice.

The document is built from the services the record page reads (the patient, intake and symptoms,
appointments, consultations, reports), never from queries of its own, so it shows exactly what the
clinic holds. Consultations and reports are metadata only: transcripts and report content are
exported by clinicians as signed PDFs. A value that cannot be decrypted is null and named in
``unreadable_fields`` (of its item, and as a path in the document's own list), as everywhere in the
JSON API; it never fails the export. See docs/patients.md, "Exporting a patient's record".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from clinic_app.appointments import booking, schedule
from clinic_app.consultations import queries as consultations
from clinic_app.core import audit
from clinic_app.core.api import Schema, Timestamp
from clinic_app.core.crypto import Unreadable
from clinic_app.core.time import local_date, organization_zone, utcnow
from clinic_app.intake import service as intake
from clinic_app.intake.schemas import IntakeRecordOut, PatientSymptomOut
from clinic_app.orgs import service as orgs
from clinic_app.patients import service
from clinic_app.patients.schemas import PatientOut
from clinic_app.reports import queries as reports
from clinic_app.reports import service as report_service

DOCUMENT_TYPE = "patient_record_export"
SCHEMA_VERSION = 1
FORMAT = "json"
# Appointments are read in pages of this size per direction (upcoming, past) and once more, whole,
# for a patient who has more.
APPOINTMENTS_FIRST_READ = 200

NOT_INCLUDED = (
    "Consultation transcripts and clinical notes: clinicians export them as signed PDF reports.",
    "Report content: each report is listed with its content hash; clinicians export signed reports as PDFs.",
    "Wearable (health) data.",
    "The audit trail of who read or changed the record.",
)


class ExportOrganization(Schema):
    id: str
    name: str


class ExportAppointment(Schema):
    """One appointment. ``notes`` and ``cancellation_reason`` are null when there are none, or
    when they cannot be decrypted (then named in ``unreadable_fields``)."""

    id: str
    starts_at: Timestamp
    ends_at: Timestamp
    status: Literal["booked", "attended", "cancelled", "did_not_arrive"]
    appointment_type: str | None
    practitioner: str | None = Field(description="The practitioner's name")
    source: Literal["app", "cliniko"]
    cancelled_at: Timestamp | None
    cancellation_reason: str | None
    notes: str | None
    unreadable_fields: list[str]


class ExportConsultation(Schema):
    """That a consultation took place: no chief complaint, notes or transcript."""

    id: str
    session_code: str
    session_type: str
    status: str
    started_at: Timestamp
    ended_at: Timestamp | None
    duration_seconds: int | None
    clinician: str = Field(description="The clinician's name")
    appointment_id: str | None


class ExportReport(Schema):
    """A report's metadata; its content is not part of the export."""

    id: str
    version: int
    status: str
    title: str = Field(description="The report template's name")
    session_code: str
    amends_report_id: str | None
    created_at: Timestamp
    signed_at: Timestamp | None
    signed_by: str | None
    content_sha256: str | None = Field(description="SHA-256 of the signed content (null until signed)")


class PatientExport(Schema):
    """A patient's record as one document (``document_type`` ``patient_record_export``,
    ``schema_version`` 1). Lists are oldest first."""

    document_type: Literal["patient_record_export"]
    schema_version: Literal[1]
    exported_at: Timestamp
    organization: ExportOrganization
    patient: PatientOut
    intake: IntakeRecordOut | None = Field(description="Null for a patient registered without intake")
    symptoms: list[PatientSymptomOut]
    appointments: list[ExportAppointment]
    consultations: list[ExportConsultation]
    reports: list[ExportReport]
    not_included: list[str] = Field(description="What the export leaves out, and where to get it")
    unreadable_fields: list[str] = Field(
        description="Every value that could not be decrypted (null where it stands), as a path: "
        "`patient.email`, `intake.referred_by`, `symptoms.<id>.notes`, `appointments.<id>.notes`"
    )


# Each section beyond the record is included only for a caller who may read it elsewhere (a
# practice admin sees no reports; a token scoped to patients alone gets no appointments).
SECTION_PERMISSIONS = {
    "appointments": "appointments:read",
    "consultations": "consultations:read",
    "reports": "clinical:read",
}


def export_patient(
    organization_id: str,
    patient_id: str,
    *,
    actor: audit.Actor,
    channel: str,
    can: Callable[[str], bool],
    now: datetime | None = None,
) -> PatientExport:
    """The organization's patient as one document, with the appointments, consultations and
    reports only when ``can`` grants their permission (``SECTION_PERMISSIONS``; left-out sections
    are empty and named in ``not_included``); records ``patient.exported`` (the channel, web or
    api, the format and the sections; never a value) in the caller's transaction. Reading the
    consultations also records ``consultation.history_viewed`` (channel ``export``), as every
    such read does. Values that cannot be decrypted are null, never an error. Raises NotFound."""
    now = now or utcnow()
    view = service.view_patient(organization_id, patient_id, actor=actor, record_view=False)
    organization = orgs.get_organization(organization_id)
    summary = intake.summary_for(organization_id, view.id)
    sections = [name for name, permission in SECTION_PERMISSIONS.items() if can(permission)]
    left_out = [
        f"{name.capitalize()}: not included for you (needs {permission})."
        for name, permission in SECTION_PERMISSIONS.items()
        if name not in sections
    ]
    appointments = _appointments(organization_id, view.id, actor=actor, now=now) if "appointments" in sections else []
    unreadable = [f"patient.{name}" for name in view.unreadable_fields]
    if summary.record is not None:
        unreadable += [f"intake.{name}" for name in summary.record.unreadable_fields]
    unreadable += [f"symptoms.{s.id}.{name}" for s in summary.symptoms for name in s.unreadable_fields]
    unreadable += [f"appointments.{a.id}.{name}" for a in appointments for name in a.unreadable_fields]
    document = PatientExport(
        document_type=DOCUMENT_TYPE,
        schema_version=SCHEMA_VERSION,
        exported_at=now,
        organization=ExportOrganization(id=organization.id, name=organization.name),
        patient=PatientOut.of(view),
        intake=IntakeRecordOut.of(summary.record) if summary.record is not None else None,
        symptoms=[PatientSymptomOut.of(symptom) for symptom in summary.symptoms],
        appointments=appointments,
        consultations=_consultations(organization_id, view.id, actor=actor) if "consultations" in sections else [],
        reports=_reports(organization_id, view.id, actor=actor) if "reports" in sections else [],
        not_included=[*NOT_INCLUDED, *left_out],
        unreadable_fields=unreadable,
    )
    audit.record(
        "patient.exported",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        target_id=view.id,
        patient_id=view.id,
        details={"channel": channel, "format": FORMAT, "sections": sections},
    )
    return document


def to_json(document: PatientExport) -> str:
    """The document as the downloaded file holds it (indented, UTF-8 text as is)."""
    return json.dumps(document.model_dump(mode="json"), ensure_ascii=False, indent=2)


def download_name(organization_id: str, document: PatientExport) -> str:
    """``patient-<id>-<yyyymmdd>.json``, dated on the organization's calendar."""
    day = local_date(document.exported_at, organization_zone(organization_id))
    return f"patient-{document.patient.id}-{day:%Y%m%d}.json"


# --- sections -----------------------------------------------------------------------------------


def _readable(value: Any) -> Any:
    return None if isinstance(value, Unreadable) else value


def _appointments(
    organization_id: str, patient_id: str, *, actor: audit.Actor, now: datetime
) -> list[ExportAppointment]:
    plan = schedule.patient_schedule(organization_id, patient_id, now=now, limit=APPOINTMENTS_FIRST_READ)
    if plan.upcoming_total > len(plan.upcoming) or plan.past_total > len(plan.past):
        plan = schedule.patient_schedule(
            organization_id, patient_id, now=now, limit=max(plan.upcoming_total, plan.past_total)
        )
    exported = []
    for entry in sorted([*plan.upcoming, *plan.past], key=lambda e: (e.starts_at, e.id)):
        # The appointment's own reader decrypts its text; the export event stands for this read.
        view = booking.view_appointment(organization_id, entry.id, actor=actor, record_view=False, now=now)
        texts = {"notes": view.notes, "cancellation_reason": view.cancellation_reason}
        exported.append(
            ExportAppointment(
                id=entry.id,
                starts_at=entry.starts_at,
                ends_at=entry.ends_at,
                status=entry.status,  # type: ignore[arg-type]
                appointment_type=entry.appointment_type,
                practitioner=entry.practitioner_name,
                source="cliniko" if entry.from_cliniko else "app",
                cancelled_at=view.appointment.cancelled_at,
                cancellation_reason=_readable(texts["cancellation_reason"]),
                notes=_readable(texts["notes"]),
                unreadable_fields=[name for name, value in texts.items() if isinstance(value, Unreadable)],
            )
        )
    return exported


def _every_row(read_page: Callable[[str | None], Any]) -> list[Any]:
    """The rows of every page of a cursor-paged list (``read_page(cursor)`` returns a page with
    ``rows`` and ``next_cursor``)."""
    rows: list[Any] = []
    cursor = None
    while True:
        page = read_page(cursor)
        rows += page.rows
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


def _consultations(organization_id: str, patient_id: str, *, actor: audit.Actor) -> list[ExportConsultation]:
    # clinical=False: nothing clinical is decrypted, only that the session happened.
    rows: list[consultations.SessionRow] = _every_row(
        lambda cursor: consultations.history(
            organization_id,
            patient_id,
            clinical=False,
            actor=actor,
            limit=consultations.HISTORY_LIMIT_MAX,
            cursor=cursor,
            channel="export",
        )
    )
    return [
        ExportConsultation(
            id=row.id,
            session_code=row.session_code,
            session_type=row.session_type,
            status=row.status,
            started_at=row.started_at,
            ended_at=row.ended_at,
            duration_seconds=row.duration_seconds,
            clinician=row.clinician_name,
            appointment_id=row.appointment_id,
        )
        for row in reversed(rows)
    ]


def _reports(organization_id: str, patient_id: str, *, actor: audit.Actor) -> list[ExportReport]:
    # Not recorded as a list: the export event is the record of this read.
    rows: list[reports.ReportRow] = _every_row(
        lambda cursor: reports.list_reports(
            organization_id, actor=actor, patient_id=patient_id, cursor=cursor, limit=reports.MAX_LIMIT, record=False
        )
    )
    exported = []
    for row in reversed(rows):
        # The list loaded each report row; this reads its hash from the session, not the database.
        report = report_service.get_report(organization_id, row.id)
        exported.append(
            ExportReport(
                id=row.id,
                version=row.version,
                status=row.status,
                title=row.template_name,
                session_code=row.session_code,
                amends_report_id=row.amends_report_id,
                created_at=row.created_at,
                signed_at=row.signed_at,
                signed_by=row.signed_by_name,
                content_sha256=report.content_sha256,
            )
        )
    return exported
