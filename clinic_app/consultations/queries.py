"""What the pages and the API show of consultations, decrypted and audited.

Each function here that decrypts clinical content, or shows that consultations happened, records
an audit event (ids only). ``clinical=False`` (a receptionist or practice admin) leaves every
clinical field empty without decrypting it: they see the date, type, status and clinician only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from clinic_app.accounts.models import User
from clinic_app.consultations import service
from clinic_app.consultations.models import (
    COMPLETED,
    IN_PROGRESS,
    SESSION_FIELDS,
    TRANSCRIPT_FIELDS,
    ConsultationSession,
    Transcript,
)
from clinic_app.consultations.transcripts import Segment
from clinic_app.core import audit, crypto
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.memo import per_request
from clinic_app.core.pagination import INVALID_CURSOR, decode_cursor, encode_cursor
from clinic_app.core.permissions import role_grants
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients import service as patients

HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX = 20, 100


@dataclass(frozen=True)
class SessionRow:
    """One consultation in a list. ``chief_complaint`` and ``has_transcription`` are None for a
    caller without clinical access (and the complaint when it cannot be decrypted)."""

    id: str
    session_code: str
    patient_id: str
    status: str
    session_type: str
    created_at: datetime
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None
    clinician_id: str
    clinician_name: str
    appointment_id: str | None
    chief_complaint: str | None = None
    chief_complaint_unreadable: bool = False
    has_transcription: bool | None = None


@dataclass(frozen=True)
class HistoryPage:
    patient_id: str
    rows: list[SessionRow]
    total: int
    limit: int
    next_cursor: str | None
    first_page: bool


def _cursor_of(row: ConsultationSession) -> str:
    # Full precision (cursors written to the millisecond still read): consultations started in the
    # same millisecond must not fall between two pages.
    return encode_cursor(f"{row.started_at.isoformat()}|{row.id}")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        moment, session_id = decode_cursor(cursor).split("|", 1)
        return datetime.fromisoformat(moment.replace("Z", "+00:00")), session_id
    except ValueError:
        raise Invalid(
            errors=[FieldError("cursor", "This cursor is not valid; start again from the first page.", INVALID_CURSOR)]
        ) from None


def _rows(organization_id: str, sessions: list[ConsultationSession], *, clinical: bool) -> list[SessionRow]:
    if not sessions:
        return []
    names = dict(
        db.session.execute(
            select(User.id, User.display_name).where(User.id.in_({s.clinician_id for s in sessions}))
        ).all()
    )
    transcribed: set[str] = set()
    vault = None
    if clinical:
        vault = crypto.vault_for(organization_id)
        transcribed = set(
            db.session.scalars(
                select(Transcript.session_id)
                .where(
                    Transcript.organization_id == organization_id,
                    Transcript.session_id.in_([s.id for s in sessions]),
                )
                .distinct()
            )
        )
    rows = []
    for s in sessions:
        extra: dict[str, Any] = {}
        if vault is not None:
            complaint = vault.decrypt(SESSION_FIELDS["chief_complaint"], s.chief_complaint_enc, target_id=s.id)
            unreadable = isinstance(complaint, crypto.Unreadable)
            extra = {
                "chief_complaint": None if unreadable else complaint,
                "chief_complaint_unreadable": unreadable,
                "has_transcription": s.id in transcribed,
            }
        rows.append(
            SessionRow(
                id=s.id,
                session_code=s.session_code,
                patient_id=s.patient_id,
                status=s.status,
                session_type=s.session_type,
                created_at=s.created_at,
                started_at=s.started_at,
                ended_at=s.ended_at,
                duration_seconds=s.duration_seconds,
                clinician_id=s.clinician_id,
                clinician_name=names.get(s.clinician_id, ""),
                appointment_id=s.appointment_id,
                **extra,
            )
        )
    return rows


def history(
    organization_id: str,
    patient_id: str,
    *,
    clinical: bool,
    actor: audit.Actor,
    limit: int = HISTORY_LIMIT_DEFAULT,
    cursor: str | None = None,
    channel: str = "web",
) -> HistoryPage:
    """The patient's consultations, newest first, ``limit`` at a time (follow ``next_cursor``).
    Raises NotFound (patient) or Invalid (cursor). Records ``consultation.history_viewed``."""
    patient = patients.get_patient(organization_id, patient_id)
    limit = max(1, min(limit, HISTORY_LIMIT_MAX))
    scope = [ConsultationSession.organization_id == organization_id, ConsultationSession.patient_id == patient.id]
    query = select(ConsultationSession).where(*scope)
    if cursor:
        moment, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                ConsultationSession.started_at < moment,
                and_(ConsultationSession.started_at == moment, ConsultationSession.id < last_id),
            )
        )
    found = list(
        db.session.scalars(
            query.order_by(ConsultationSession.started_at.desc(), ConsultationSession.id.desc()).limit(limit + 1)
        )
    )
    total = db.session.scalar(select(func.count()).select_from(ConsultationSession).where(*scope)) or 0
    page = found[:limit]
    audit.record(
        "consultation.history_viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        target_id=patient.id,
        patient_id=patient.id,
        details={"channel": channel, "sessions": [s.id for s in page], "clinical": clinical},
    )
    return HistoryPage(
        patient_id=patient.id,
        rows=_rows(organization_id, page, clinical=clinical),
        total=total,
        limit=limit,
        next_cursor=_cursor_of(page[-1]) if len(found) > limit else None,
        first_page=not cursor,
    )


@dataclass(frozen=True)
class TranscriptView:
    id: str
    sequence: int
    source: str
    filename: str | None
    word_count: int
    segment_count: int
    has_timings: bool
    has_speakers: bool
    created_at: datetime
    segments: list[Segment] | None  # None: could not be decrypted


@dataclass(frozen=True)
class SessionDetail:
    session: ConsultationSession
    patient_name: str
    clinician_name: str
    facts: service.SessionFacts | None  # None without clinical access
    transcripts: list[TranscriptView]  # [] without clinical access

    @property
    def word_count(self) -> int:
        return sum(t.word_count for t in self.transcripts)


def transcript_view(vault: crypto.Vault, t: Transcript, *, with_segments: bool = True) -> TranscriptView:
    """A stored transcript read for showing (its segments only when asked: they can be long)."""
    name = vault.decrypt(TRANSCRIPT_FIELDS["filename"], t.filename_enc, target_id=t.id)
    return TranscriptView(
        id=t.id,
        sequence=t.sequence,
        source=t.source,
        filename=name if isinstance(name, str) else None,
        word_count=t.word_count,
        segment_count=t.segment_count,
        has_timings=t.has_timings,
        has_speakers=t.has_speakers,
        created_at=t.created_at,
        segments=service.read_segments(vault, t) if with_segments else [],
    )


def _transcript_views(session: ConsultationSession) -> list[TranscriptView]:
    vault = crypto.vault_for(session.organization_id)
    return [transcript_view(vault, t) for t in service.transcripts_of(session)]


def view_session(
    organization_id: str, ref: str, *, clinical: bool, actor: audit.Actor, channel: str = "web"
) -> SessionDetail:
    """A session for its page or the API: its facts and transcripts when ``clinical``. Raises
    NotFound. Records ``consultation.viewed`` (and whether clinical content was shown)."""
    session = service.get_session(organization_id, ref)
    patient = patients.get_patient(organization_id, session.patient_id)
    facts = service.session_facts(session) if clinical else None
    clinician = db.session.get(User, session.clinician_id)
    detail = SessionDetail(
        session=session,
        patient_name=f"{patient.first_name} {patient.last_name}",
        clinician_name=clinician.display_name if clinician else "",
        facts=facts,
        transcripts=_transcript_views(session) if clinical else [],
    )
    audit.record(
        "consultation.viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="consultation",
        target_id=session.id,
        patient_id=session.patient_id,
        details={"channel": channel, "clinical": clinical},
    )
    return detail


def view_transcripts(
    organization_id: str, ref: str, *, actor: audit.Actor, channel: str = "web"
) -> tuple[ConsultationSession, list[TranscriptView]]:
    """The session's transcripts, decrypted. Raises NotFound. Records
    ``consultation.transcript_viewed``."""
    session = service.get_session(organization_id, ref)
    views = _transcript_views(session)
    audit.record(
        "consultation.transcript_viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="consultation",
        target_id=session.id,
        patient_id=session.patient_id,
        details={"channel": channel, "transcripts": [v.id for v in views]},
    )
    return session, views


# --- choices and lookups for the pages ----------------------------------------------------------


def clinician_choices(organization_id: str) -> list[tuple[str, str]]:
    """(user id, name) of the active members who can hold a consultation, by name."""
    return [
        (user.id, user.display_name)
        for membership, user in orgs.members(organization_id)
        if membership.is_active and user.is_active and role_grants(membership.role, service.CLINICAL_PERMISSION)
    ]


def suggested_session_type(organization_id: str, patient_id: str) -> str:
    """ "follow_up" when the patient has had a completed consultation, else "new_patient"."""
    seen = db.session.scalar(
        select(ConsultationSession.id)
        .where(
            ConsultationSession.organization_id == organization_id,
            ConsultationSession.patient_id == patient_id,
            ConsultationSession.status == COMPLETED,
        )
        .limit(1)
    )
    return "follow_up" if seen else "new_patient"


def in_progress_for(organization_id: str, patient_id: str) -> ConsultationSession | None:
    return db.session.scalar(
        select(ConsultationSession).where(
            ConsultationSession.organization_id == organization_id,
            ConsultationSession.patient_id == patient_id,
            ConsultationSession.status == IN_PROGRESS,
        )
    )


def session_for_appointment(organization_id: str, appointment_id: str) -> tuple[str, str] | None:
    """(session id, status) of the latest session started from this appointment, for the Today
    list. Loaded once per request for every appointment of the last two days."""
    memo = per_request("consultations_by_appointment")
    if memo is None or organization_id not in memo:
        rows = db.session.execute(
            select(ConsultationSession.appointment_id, ConsultationSession.id, ConsultationSession.status)
            .where(
                ConsultationSession.organization_id == organization_id,
                ConsultationSession.appointment_id.is_not(None),
                ConsultationSession.started_at >= utcnow() - timedelta(days=2),
            )
            .order_by(ConsultationSession.started_at)
        ).all()
        found = {row.appointment_id: (row.id, row.status) for row in rows}
        if memo is None:
            return found.get(appointment_id)
        memo[organization_id] = found
    return memo[organization_id].get(appointment_id)
