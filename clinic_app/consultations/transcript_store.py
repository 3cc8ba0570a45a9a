"""Adding transcripts to a session (pasted text, files, or audio through speech-to-text) and
reading them back. Each is stored encrypted as a JSON list of segments, after the session's
earlier transcripts.

Bounds: one transcript holds at most ``transcripts.MAX_CHARACTERS`` characters of text and a
session at most ``MAX_PER_SESSION`` transcripts. The count is checked twice: cheaply before the
input is read (or sent to speech-to-text), and again under the session's row lock just before the
insert, so two additions at the same moment can never make a sixth."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update

from clinic_app.consultations import stt, transcripts
from clinic_app.consultations.events import NOT_FOUND, record_change
from clinic_app.consultations.models import CANCELLED, PASTE, TRANSCRIPT_FIELDS, ConsultationSession, Transcript
from clinic_app.consultations.transcripts import Segment, TranscriptProblem
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

FILENAME_MAX = 255
MAX_PER_SESSION = 5


@dataclass(frozen=True)
class UploadedFile:
    """A file as received (the service never sees the request)."""

    filename: str
    data: bytes
    content_type: str | None = None


def _clean_filename(name: str) -> str | None:
    base = re.split(r"[\\/]", name or "")[-1].strip()
    return base[:FILENAME_MAX] or None


def _read_upload(organization_id: str, upload: UploadedFile) -> tuple[str, list[Segment]]:
    """(source, segments) of an uploaded file; audio goes to the speech-to-text provider."""
    kind = transcripts.kind_of(upload.filename)
    if kind is not None:
        return kind, transcripts.parse(transcripts.decode(upload.data), kind)
    if stt.is_audio(upload.filename, upload.content_type):
        provider = stt.provider()
        if provider is None:
            raise TranscriptProblem(
                "Audio transcription is not configured: upload a .txt, .vtt or .srt transcript instead."
            )
        return "audio", provider.transcribe(upload.data, filename=upload.filename, content_type=upload.content_type)
    accepted = "a .txt, .vtt or .srt transcript" + (" or an audio file" if stt.configured() else "")
    raise TranscriptProblem(f"Upload {accepted}.")


def add_transcript(
    organization_id: str,
    session: ConsultationSession,
    *,
    text: str | None = None,
    file: UploadedFile | None = None,
    source: str | None = None,
    actor: audit.Actor,
) -> Transcript:
    """Read pasted ``text`` (``source`` "paste", or "txt"/"vtt"/"srt" to read it as that format) or
    an uploaded ``file`` (its kind from the extension; audio through the speech-to-text provider
    when one is configured) and store it encrypted after the session's other transcripts.

    Raises Invalid (field ``text`` or ``file``: empty, malformed, too large (over 2 MB, or over
    ``transcripts.MAX_CHARACTERS`` characters of text), wrong encoding, audio without a provider,
    or the session already has ``MAX_PER_SESSION`` transcripts), Conflict (cancelled session) or
    Unavailable (the provider failed). Records ``consultation.transcript_added`` with the
    transcript id, source and word count."""
    if session.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    if session.status == CANCELLED:
        raise Conflict("This consultation was cancelled: no transcript can be added.")
    has_text = bool(text and text.strip())
    if has_text == (file is not None):
        message = "Paste a transcript or choose a file." if not has_text else "Paste text or choose a file, not both."
        raise Invalid(errors=[FieldError("text", message)])
    field = "file" if file is not None else "text"
    _check_room(session, field)  # before reading or transcribing anything
    try:
        if file is not None:
            kind, segments = _read_upload(organization_id, file)
            filename = _clean_filename(file.filename)
        else:
            kind = (source or PASTE).strip().lower()
            if kind not in transcripts.READERS:
                raise Invalid(errors=[FieldError("source", "Choose paste, txt, vtt or srt.")])
            text = transcripts.clean_text(text)  # type: ignore[arg-type]
            transcripts.check_size(len(text.encode()))
            segments = transcripts.parse(text, kind)
            filename = None
        transcripts.check_length(segments)
    except TranscriptProblem as problem:
        raise Invalid(errors=[FieldError(field, problem.message)]) from None
    vault = crypto.vault_for(organization_id)
    _lock_session(session)
    _check_room(session, field)
    last = db.session.scalar(select(func.max(Transcript.sequence)).where(Transcript.session_id == session.id))
    transcript = Transcript(
        organization_id=organization_id,
        session_id=session.id,
        sequence=(last or 0) + 1,
        source=kind,
        filename_enc=vault.encrypt(TRANSCRIPT_FIELDS["filename"], filename),
        word_count=transcripts.word_count(segments),
        segment_count=len(segments),
        has_timings=any(s.start is not None for s in segments),
        has_speakers=any(s.speaker for s in segments),
        segments_enc=vault.encrypt(TRANSCRIPT_FIELDS["segments"], _segments_json(segments)),
        created_by_id=actor.user_id,
    )
    db.session.add(transcript)
    db.session.flush()
    details = {"transcript_id": transcript.id, "source": kind, "word_count": transcript.word_count}
    record_change("consultation.transcript_added", session, actor, details)
    return transcript


def _check_room(session: ConsultationSession, field: str) -> None:
    """Raises Invalid on ``field`` when the session already has ``MAX_PER_SESSION`` transcripts."""
    held = db.session.scalar(
        select(func.count())
        .select_from(Transcript)
        .where(Transcript.organization_id == session.organization_id, Transcript.session_id == session.id)
    )
    if (held or 0) >= MAX_PER_SESSION:
        raise Invalid(
            errors=[
                FieldError(
                    field,
                    f"This consultation already has {MAX_PER_SESSION} transcripts, the most one can hold.",
                )
            ]
        )


def _lock_session(session: ConsultationSession) -> None:
    """Hold the session's row until the transaction ends: an UPDATE takes PostgreSQL's row lock and
    SQLite's write lock alike, so a second addition to the same session waits here and then counts
    the first one."""
    db.session.execute(
        update(ConsultationSession)
        .where(ConsultationSession.id == session.id, ConsultationSession.organization_id == session.organization_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _segments_json(segments: Sequence[Segment]) -> str:
    rows = []
    for s in segments:
        start = round(s.start, 3) if s.start is not None else None
        end = round(s.end, 3) if s.end is not None else None
        rows.append({"start": start, "end": end, "speaker": s.speaker, "text": s.text})
    return json.dumps(rows, ensure_ascii=False)


def transcripts_of(session: ConsultationSession) -> list[Transcript]:
    return list(
        db.session.scalars(
            select(Transcript)
            .where(Transcript.organization_id == session.organization_id, Transcript.session_id == session.id)
            .order_by(Transcript.sequence)
        )
    )


def read_segments(vault: crypto.Vault, transcript: Transcript) -> list[Segment] | None:
    """The transcript's segments, or None when they cannot be decrypted (an alarm is recorded)."""
    plain = vault.decrypt(TRANSCRIPT_FIELDS["segments"], transcript.segments_enc, target_id=transcript.id)
    if not isinstance(plain, str):
        return None
    return [Segment.of(row) for row in json.loads(plain)]


def transcript_segments(session: ConsultationSession) -> list[Segment]:
    """Every segment of the session's transcripts, decrypted, transcript by transcript in the
    order they were added; [] when there is none. A transcript that cannot be decrypted is left
    out (its failure is an alarm in the audit trail). Does not audit: the caller does."""
    vault = crypto.vault_for(session.organization_id)
    segments: list[Segment] = []
    for transcript in transcripts_of(session):
        segments.extend(read_segments(vault, transcript) or [])
    return segments
