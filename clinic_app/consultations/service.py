"""Consultation sessions: start, stop and cancel; and the interface other features use, in one
place: the reports feature reads a session through ``get_session``, ``session_facts`` and
``transcript_segments``, and changes it through ``set_medication_plan`` and ``add_transcript``
(written in ``medication`` and ``transcript_store``, and exported from here).

Every function takes the organization explicitly and scopes every read and write to it: another
organization's session is ``NotFound``, exactly like one that does not exist. Writes only flush;
the request (or job, or CLI command) commits. Each change records an audit event with ids only.
Reads for pages and the API, which decrypt and audit, are in ``consultations.queries``.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from clinic_app.accounts.models import User
from clinic_app.appointments.models import Appointment
from clinic_app.consultations.events import NOT_FOUND, record_change
from clinic_app.consultations.medication import (
    MEDICATION_FIELDS,
    MEDICATION_LIMITS,
    MEDICATIONS_MAX,
    set_medication_plan,
    validate_medication_plan,
)
from clinic_app.consultations.models import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    SESSION_FIELDS,
    SESSION_TYPES,
    ConsultationSession,
)
from clinic_app.consultations.transcript_store import (
    UploadedFile,
    add_transcript,
    read_segments,
    transcript_segments,
    transcripts_of,
)
from clinic_app.consultations.transcripts import Segment
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.permissions import role_grants
from clinic_app.core.time import local_date, organization_zone, utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients import service as patients

__all__ = [
    "MEDICATIONS_MAX",
    "MEDICATION_FIELDS",
    "MEDICATION_LIMITS",
    "NOT_FOUND",
    "Segment",
    "SessionFacts",
    "UploadedFile",
    "add_transcript",
    "cancel_session",
    "get_session",
    "is_clinician",
    "read_segments",
    "session_facts",
    "set_medication_plan",
    "start_session",
    "stop_session",
    "transcript_segments",
    "transcripts_of",
    "validate_medication_plan",
]

CODE = re.compile(r"^CS-\d{8}-[0-9A-Z]{8}$")
# Crockford's base 32: no I, L, O or U, so a code read aloud or copied by hand survives.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLINICAL_PERMISSION = "consultations:write"  # what makes a member someone who can hold a consultation

CHIEF_COMPLAINT_MIN, CHIEF_COMPLAINT_MAX = 3, 500
NOTES_MAX = 10_000
# The seed system's validator spelled it "followup" while its examples say "follow_up".
SESSION_TYPE_ALIASES = {"followup": "follow_up", "follow-up": "follow_up", "new-patient": "new_patient"}


# --- finding a session --------------------------------------------------------------------------


def get_session(organization_id: str, ref: str, *, for_update: bool = False) -> ConsultationSession:
    """The organization's session by public id (``con_…``) or readable code (``CS-…``). Raises
    NotFound for an unknown reference or another organization's session."""
    ref = (ref or "").strip()
    session: ConsultationSession | None = None
    if CODE.match(ref.upper()):
        query = select(ConsultationSession).where(
            ConsultationSession.organization_id == organization_id, ConsultationSession.session_code == ref.upper()
        )
        session = db.session.scalar(query.with_for_update() if for_update else query)
    elif ref:
        session = db.session.get(ConsultationSession, ref, with_for_update=for_update)
    if session is None or session.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return session


def _new_code(organization_id: str, started_at: datetime) -> str:
    """A code unused in the organization: the local date of the start and eight random characters."""
    day = local_date(started_at, organization_zone(organization_id)).strftime("%Y%m%d")
    while True:
        code = f"CS-{day}-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        taken = db.session.scalar(
            select(ConsultationSession.id).where(
                ConsultationSession.organization_id == organization_id, ConsultationSession.session_code == code
            )
        )
        if taken is None:
            return code


# --- starting, stopping, cancelling -------------------------------------------------------------


def is_clinician(organization_id: str, user_id: str | None) -> bool:
    """Whether the user is an active member whose role holds consultations (clinician or owner)."""
    if not user_id:
        return False
    membership = orgs.active_membership(user_id, organization_id)
    if membership is None or not role_grants(membership.role, CLINICAL_PERMISSION):
        return False
    user = db.session.get(User, user_id)
    return user is not None and user.is_active


def normalise_session_type(value: str | None) -> str | None:
    cleaned = (value or "").strip().lower()
    return SESSION_TYPE_ALIASES.get(cleaned, cleaned) or None


def _appointment_error(organization_id: str, appointment_id: str, patient_id: str) -> str | None:
    owner = db.session.execute(
        select(Appointment.patient_id).where(
            Appointment.id == appointment_id, Appointment.organization_id == organization_id
        )
    ).first()
    if owner is None:
        return "No such appointment."
    if owner.patient_id != patient_id:
        return "This appointment is for another patient."
    return None


def start_session(
    organization_id: str,
    *,
    patient_id: str,
    clinician_id: str | None,
    chief_complaint: str | None,
    session_type: str | None,
    appointment_id: str | None = None,
    actor: audit.Actor,
) -> ConsultationSession:
    """Start a consultation now. Raises NotFound (patient), Invalid (each field: clinician not a
    clinical member, chief complaint not 3-500 characters, unknown session type, archived patient,
    appointment of someone else) or Conflict (the patient already has one in progress; the
    conflict carries its ``session_id``). Records ``consultation.started``."""
    patient = patients.get_patient(organization_id, patient_id)
    errors: list[FieldError] = []
    complaint = (chief_complaint or "").strip()
    if not CHIEF_COMPLAINT_MIN <= len(complaint) <= CHIEF_COMPLAINT_MAX:
        errors.append(
            FieldError(
                "chief_complaint",
                f"Describe the chief complaint in {CHIEF_COMPLAINT_MIN} to {CHIEF_COMPLAINT_MAX} characters.",
            )
        )
    kind = normalise_session_type(session_type)
    if kind not in SESSION_TYPES:
        errors.append(FieldError("session_type", f"Choose one of: {', '.join(SESSION_TYPES)}."))
    if not is_clinician(organization_id, clinician_id):
        errors.append(FieldError("clinician_id", "Choose a clinician of this organization (a clinician or owner)."))
    if patient.archived:
        errors.append(FieldError("patient_id", "This patient is archived: restore them before a consultation."))
    appointment_id = (appointment_id or "").strip() or None
    if appointment_id is not None:
        problem = _appointment_error(organization_id, appointment_id, patient.id)
        if problem:
            errors.append(FieldError("appointment_id", problem))
    if errors:
        raise Invalid(errors=errors)
    running = db.session.scalar(
        select(ConsultationSession).where(
            ConsultationSession.organization_id == organization_id,
            ConsultationSession.patient_id == patient.id,
            ConsultationSession.status == IN_PROGRESS,
        )
    )
    if running is not None:
        raise Conflict(
            f"A consultation with this patient is already in progress ({running.session_code}): stop it first.",
            session_id=running.session_code,
            consultation_id=running.id,
        )
    vault = crypto.vault_for(organization_id)
    now = utcnow()
    session = ConsultationSession(
        organization_id=organization_id,
        patient_id=patient.id,
        clinician_id=clinician_id,
        session_code=_new_code(organization_id, now),
        session_type=kind,
        status=IN_PROGRESS,
        started_at=now,
        appointment_id=appointment_id,
        created_by_id=actor.user_id,
    )
    session.chief_complaint_enc = vault.encrypt(SESSION_FIELDS["chief_complaint"], complaint)
    db.session.add(session)
    db.session.flush()
    details = {"session_code": session.session_code, "clinician_id": clinician_id}
    if appointment_id:
        details["appointment_id"] = appointment_id
    record_change("consultation.started", session, actor, details)
    return session


def _end(session: ConsultationSession, status: str, actor: audit.Actor) -> None:
    if session.status != IN_PROGRESS:
        # ``status`` is the problem's HTTP status: the session's goes under its own name.
        raise Conflict(
            f"This consultation is already {session.status.replace('_', ' ')}.", session_status=session.status
        )
    now = utcnow()
    session.status = status
    session.ended_at = now
    session.duration_seconds = max(0, int((now - session.started_at).total_seconds()))
    session.ended_by_id = actor.user_id


def stop_session(
    organization_id: str, ref: str, *, notes: str | None = None, actor: audit.Actor
) -> ConsultationSession:
    """End a session in progress: status completed, end time and duration set, closing notes kept
    (encrypted). Raises NotFound, Invalid (notes too long) or Conflict (not in progress).
    Records ``consultation.stopped``."""
    session = get_session(organization_id, ref, for_update=True)
    text = (notes or "").strip()
    if len(text) > NOTES_MAX:
        raise Invalid(errors=[FieldError("notes", f"Keep the notes under {NOTES_MAX:,} characters.")])
    _end(session, COMPLETED, actor)
    if text:
        session.notes_enc = crypto.vault_for(organization_id).encrypt(SESSION_FIELDS["notes"], text)
    db.session.flush()
    record_change("consultation.stopped", session, actor, {"duration_seconds": session.duration_seconds})
    return session


def cancel_session(organization_id: str, ref: str, *, actor: audit.Actor) -> ConsultationSession:
    """Cancel a session in progress (started by mistake, or the patient left); what was recorded
    stays. Raises NotFound or Conflict (not in progress). Records ``consultation.cancelled``."""
    session = get_session(organization_id, ref, for_update=True)
    _end(session, CANCELLED, actor)
    db.session.flush()
    record_change("consultation.cancelled", session, actor, {})
    return session


# --- what a session says ------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFacts:
    """A session with its encrypted fields read. A field that cannot be decrypted is None and
    named in ``unreadable_fields``."""

    id: str
    session_code: str
    patient_id: str
    status: str
    session_type: str
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None
    clinician_id: str
    clinician_name: str
    chief_complaint: str | None
    notes: str | None
    medication_plan: list[dict[str, str]]
    appointment_id: str | None
    unreadable_fields: tuple[str, ...] = ()


def session_facts(session: ConsultationSession) -> SessionFacts:
    """The session's facts, decrypted (see SessionFacts). Does not audit: the caller does."""
    vault = crypto.vault_for(session.organization_id)
    unreadable: list[str] = []

    def read(name: str) -> str | None:
        value = vault.decrypt(SESSION_FIELDS[name], getattr(session, f"{name}_enc"), target_id=session.id)
        if isinstance(value, crypto.Unreadable):
            unreadable.append(name)
            return None
        return value

    plan_text = read("medication_plan")
    clinician = db.session.get(User, session.clinician_id)
    return SessionFacts(
        id=session.id,
        session_code=session.session_code,
        patient_id=session.patient_id,
        status=session.status,
        session_type=session.session_type,
        started_at=session.started_at,
        ended_at=session.ended_at,
        duration_seconds=session.duration_seconds,
        clinician_id=session.clinician_id,
        clinician_name=clinician.display_name if clinician else "",
        chief_complaint=read("chief_complaint"),
        notes=read("notes"),
        medication_plan=json.loads(plan_text) if plan_text else [],
        appointment_id=session.appointment_id,
        unreadable_fields=tuple(unreadable),
    )
