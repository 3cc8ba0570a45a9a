"""Tables of consultation sessions and their transcripts.

A session's times, type, status and people are plaintext: lists sort and count by them, and a
receptionist may see that a consultation happened. What was said or written about the patient (the
chief complaint, the closing notes, the medication plan, the transcript and the name of the file it
came from) is stored as ciphertext in ``*_enc`` columns, bound to its organization and column.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core import crypto
from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin

IN_PROGRESS, COMPLETED, CANCELLED = "in_progress", "completed", "cancelled"
STATUSES = (IN_PROGRESS, COMPLETED, CANCELLED)

NEW_PATIENT, FOLLOW_UP, CONSULTATION, EMERGENCY = "new_patient", "follow_up", "consultation", "emergency"
SESSION_TYPES = (NEW_PATIENT, FOLLOW_UP, CONSULTATION, EMERGENCY)

# Where a transcript came from: typed or pasted text, a file of each kind, or speech-to-text.
PASTE, TXT, VTT, SRT, AUDIO = "paste", "txt", "vtt", "srt", "audio"
SOURCES = (PASTE, TXT, VTT, SRT, AUDIO)

SESSION_CODE_LENGTH = 20  # CS-YYYYMMDD-XXXXXXXX


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class ConsultationSession(PublicIdMixin, TimestampMixin, Model):
    """One consultation of one patient with one clinician.

    ``session_code`` is the readable id (``CS-20261127-7KQ2M9XD``: the organization's local date
    of the start and eight random characters), unique per organization; ``id`` is the public id
    used in links. ``duration_seconds`` is set when the session ends (stopped or cancelled).
    """

    __tablename__ = "consultation_sessions"
    __table_args__ = (
        UniqueConstraint("organization_id", "session_code"),
        CheckConstraint(_one_of("status", STATUSES), name="status"),
        CheckConstraint(_one_of("session_type", SESSION_TYPES), name="session_type"),
        # A patient's history, newest first; and the organization's sessions by time.
        Index("ix_consultation_sessions_org_patient_started", "organization_id", "patient_id", "started_at"),
        Index("ix_consultation_sessions_org_started", "organization_id", "started_at"),
        Index("ix_consultation_sessions_org_appointment", "organization_id", "appointment_id"),
    )
    id_prefix = "con"

    # Indexed by the indexes above, which all lead with it.
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    clinician_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    session_code: Mapped[str] = mapped_column(String(SESSION_CODE_LENGTH))
    session_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default=IN_PROGRESS)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    chief_complaint_enc: Mapped[str | None] = mapped_column(Text)
    notes_enc: Mapped[str | None] = mapped_column(Text)
    # JSON list of {drug_name, dosage, frequency, duration}
    medication_plan_enc: Mapped[str | None] = mapped_column(Text)
    appointment_id: Mapped[str | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ended_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Transcript(PublicIdMixin, TimestampMixin, Model):
    """One transcript added to a session (pasted, uploaded, or from audio). A session may have
    several (a recording in two parts); ``sequence`` orders them."""

    __tablename__ = "consultation_transcripts"
    __table_args__ = (
        UniqueConstraint("session_id", "sequence"),
        CheckConstraint(_one_of("source", SOURCES), name="source"),
        Index("ix_consultation_transcripts_org_session", "organization_id", "session_id"),
    )
    id_prefix = "trn"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(8))
    # A file's name can carry anything (a date of birth, a diagnosis): encrypted like the text.
    filename_enc: Mapped[str | None] = mapped_column(Text)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    segment_count: Mapped[int] = mapped_column(Integer, default=0)
    has_timings: Mapped[bool] = mapped_column(default=False)
    has_speakers: Mapped[bool] = mapped_column(default=False)
    segments_enc: Mapped[str] = mapped_column(Text)  # JSON list of {start, end, speaker, text}
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


# The field name each column's ciphertext is bound to (and that key rotation re-encrypts under).
SESSION_FIELDS = {
    "chief_complaint": "consultation_sessions.chief_complaint",
    "notes": "consultation_sessions.notes",
    "medication_plan": "consultation_sessions.medication_plan",
}
TRANSCRIPT_FIELDS = {
    "filename": "consultation_transcripts.filename",
    "segments": "consultation_transcripts.segments",
}

for _name, _field in SESSION_FIELDS.items():
    crypto.encrypted_column(ConsultationSession, f"{_name}_enc", _field)
for _name, _field in TRANSCRIPT_FIELDS.items():
    crypto.encrypted_column(Transcript, f"{_name}_enc", _field)
