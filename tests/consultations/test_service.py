"""The consultation service: starting (every field checked at once, clinical members only, one
session in progress per patient), readable codes, stopping with a duration, cancelling, the
medication plan, transcripts, the organization boundary, and audit events without clinical text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from clinic_app.appointments.models import Appointment
from clinic_app.consultations import service
from clinic_app.core import audit
from clinic_app.core.errors import Conflict, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from tests.consultations.conftest import SERVICE_SRT, TEAMS_VTT, events, patient_of, start
from tests.factories import make_user


def _fields(error: pytest.ExceptionInfo) -> set[str]:
    return {e.field for e in error.value.errors}


def test_a_started_session_has_a_code_of_the_local_date_and_is_in_progress(app, tenants, patient_id):
    # 14:30 UTC on 27 November is already 28 November in Sydney (organization A's zone).
    with time_machine.travel(datetime(2026, 11, 27, 14, 30, tzinfo=UTC), tick=False):
        session_id, code = start(app, tenants, patient_id, session_type="followup")
    assert re.fullmatch(r"CS-20261128-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{8}", code)
    with app.app_context():
        by_code = service.get_session(tenants.a.id, code.lower())
        assert by_code.id == session_id == service.get_session(tenants.a.id, session_id).id
        assert (by_code.status, by_code.session_type) == ("in_progress", "follow_up")
        assert by_code.started_at == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
        assert by_code.ended_at is None and by_code.duration_seconds is None


def test_every_problem_with_a_start_is_listed_at_once(app, tenants, patient_id):
    with app.app_context():
        with pytest.raises(Invalid) as error:
            service.start_session(
                tenants.a.id,
                patient_id=patient_id,
                clinician_id=tenants.user("receptionist").id,
                chief_complaint=" ab ",
                session_type="home_visit",
                appointment_id="apt_nope",
                actor=audit.Actor(),
            )
        assert _fields(error) == {"chief_complaint", "session_type", "clinician_id", "appointment_id"}
        with pytest.raises(Invalid) as error:
            service.start_session(
                tenants.a.id,
                patient_id=patient_id,
                clinician_id=tenants.user("clinician").id,
                chief_complaint="x" * 501,
                session_type="consultation",
                actor=audit.Actor(),
            )
        assert _fields(error) == {"chief_complaint"}
    assert events(app, "consultation.started") == []


@pytest.mark.parametrize("who", ["admin", "receptionist", "outsider", "inactive", "nobody"])
def test_only_an_active_clinician_or_owner_of_the_organization_can_hold_a_consultation(app, tenants, patient_id, who):
    with app.app_context():
        if who == "outsider":
            clinician_id = tenants.outsider.id
        elif who == "inactive":
            user = make_user("gone@harbour.example", organization_id=tenants.a.id, role="clinician")
            user.is_active = False
            clinician_id = user.id
        elif who == "nobody":
            clinician_id = "usr_doesnotexist"
        else:
            clinician_id = tenants.user(who).id
        assert not service.is_clinician(tenants.a.id, clinician_id)
        assert service.is_clinician(tenants.a.id, tenants.user("owner").id)
        with pytest.raises(Invalid) as error:
            service.start_session(
                tenants.a.id,
                patient_id=patient_id,
                clinician_id=clinician_id,
                chief_complaint="Anxiety",
                session_type="consultation",
                actor=audit.Actor(),
            )
        assert _fields(error) == {"clinician_id"}


def test_patients_of_another_organization_archived_patients_and_foreign_appointments(app, tenants, patient_id):
    theirs = patient_of(app, tenants.b)
    other = patient_of(app, tenants.a, first_name="Other")
    with app.app_context():
        appointment = Appointment(organization_id=tenants.a.id, patient_id=other, starts_at=utcnow())
        db.session.add(appointment)
        db.session.commit()
        appointment_id = appointment.id
    arguments = {
        "clinician_id": tenants.user("clinician").id,
        "chief_complaint": "Knee pain",
        "session_type": "consultation",
        "actor": audit.Actor(),
    }
    with app.app_context():
        with pytest.raises(NotFound):
            service.start_session(tenants.a.id, patient_id=theirs, **arguments)
        with pytest.raises(Invalid, match="another patient"):
            service.start_session(tenants.a.id, patient_id=patient_id, appointment_id=appointment_id, **arguments)
        patients.archive_patient(tenants.a.id, patient_id, actor=audit.Actor())
        with pytest.raises(Invalid, match="archived"):
            service.start_session(tenants.a.id, patient_id=patient_id, **arguments)
        linked = service.start_session(tenants.a.id, patient_id=other, appointment_id=appointment_id, **arguments)
        assert linked.appointment_id == appointment_id


def test_one_session_in_progress_per_patient(app, tenants, patient_id):
    session_id, code = start(app, tenants, patient_id)
    with app.app_context():
        with pytest.raises(Conflict) as error:
            service.start_session(
                tenants.a.id,
                patient_id=patient_id,
                clinician_id=tenants.user("owner").id,
                chief_complaint="Second try",
                session_type="consultation",
                actor=audit.Actor(),
            )
        assert error.value.extra == {"session_id": code, "consultation_id": session_id}
        service.stop_session(tenants.a.id, session_id, actor=audit.Actor())
        db.session.commit()
    start(app, tenants, patient_id)  # once stopped, the next one may start


def test_stopping_sets_the_end_and_duration_and_keeps_the_notes(app, tenants, patient_id):
    began = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    with time_machine.travel(began, tick=False):
        _session_id, code = start(app, tenants, patient_id)
    with time_machine.travel(began + timedelta(minutes=47, seconds=12), tick=False), app.app_context():
        session = service.stop_session(tenants.a.id, code, notes="  Review in two weeks.  ", actor=audit.Actor())
        db.session.commit()
        assert (session.status, session.duration_seconds) == ("completed", 47 * 60 + 12)
        assert session.ended_at == began + timedelta(minutes=47, seconds=12)
        assert service.session_facts(session).notes == "Review in two weeks."
        with pytest.raises(Conflict, match="already completed"):
            service.stop_session(tenants.a.id, code, actor=audit.Actor())
        with pytest.raises(Conflict):
            service.cancel_session(tenants.a.id, code, actor=audit.Actor())


def test_long_notes_are_refused_and_the_session_stays_in_progress(app, tenants, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    with app.app_context():
        with pytest.raises(Invalid) as error:
            service.stop_session(tenants.a.id, session_id, notes="n" * 10_001, actor=audit.Actor())
        assert _fields(error) == {"notes"}
        db.session.rollback()
        assert service.get_session(tenants.a.id, session_id).status == "in_progress"


def test_a_cancelled_session_takes_no_more_transcripts_or_plan(app, tenants, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    with app.app_context():
        session = service.cancel_session(tenants.a.id, session_id, actor=audit.Actor())
        assert session.status == "cancelled" and session.duration_seconds is not None
        with pytest.raises(Conflict):
            service.add_transcript(tenants.a.id, session, text="Patient: hello", actor=audit.Actor())
        with pytest.raises(Conflict):
            service.set_medication_plan(tenants.a.id, session, [{"drug_name": "X"}], actor=audit.Actor())


def test_another_organizations_session_is_not_found(app, tenants, patient_id):
    session_id, code = start(app, tenants, patient_id)
    with app.app_context():
        for ref in (session_id, code):
            with pytest.raises(NotFound):
                service.get_session(tenants.b.id, ref)
        for ref in ("", "CS-20261127-00000000", "con_unknown"):
            with pytest.raises(NotFound):
                service.get_session(tenants.a.id, ref)
        session = service.get_session(tenants.a.id, session_id)
        with pytest.raises(NotFound):
            service.add_transcript(tenants.b.id, session, text="Patient: hi", actor=audit.Actor())
        with pytest.raises(NotFound):
            service.set_medication_plan(tenants.b.id, session, [], actor=audit.Actor())
        with pytest.raises(NotFound):
            service.stop_session(tenants.b.id, session_id, actor=audit.Actor())


def test_medication_plan_rows_are_validated_trimmed_and_replaced(app, tenants, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        with pytest.raises(Invalid) as error:
            service.set_medication_plan(
                tenants.a.id,
                session,
                [{"dosage": "50 mg"}, {"drug_name": "S" * 201}, {}, "Sertraline"],
                actor=audit.Actor(),
            )
        assert _fields(error) == {"medication_plan.0.drug_name", "medication_plan.1.drug_name", "medication_plan.3"}
        rows = service.set_medication_plan(
            tenants.a.id,
            session,
            [{"drug_name": " Sertraline ", "dosage": "50 mg", "frequency": "Once daily", "duration": "3 months"}, {}],
            actor=audit.Actor(),
        )
        assert rows == [
            {"drug_name": "Sertraline", "dosage": "50 mg", "frequency": "Once daily", "duration": "3 months"}
        ]
        assert service.session_facts(session).medication_plan == rows
        assert service.set_medication_plan(tenants.a.id, session, [], actor=audit.Actor()) == []
        assert session.medication_plan_enc is None and service.session_facts(session).medication_plan == []
        with pytest.raises(Invalid, match="At most 30"):
            service.set_medication_plan(
                tenants.a.id, session, [{"drug_name": f"D{i}"} for i in range(31)], actor=audit.Actor()
            )


def test_transcripts_are_kept_in_order_with_word_counts(app, tenants, patient_id):
    session_id, _code = start(app, tenants, patient_id)
    actor = audit.Actor(user_id=tenants.user("clinician").id)
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        first = service.add_transcript(
            tenants.a.id, session, file=service.UploadedFile("part1.vtt", TEAMS_VTT.encode()), actor=actor
        )
        second = service.add_transcript(tenants.a.id, session, text=SERVICE_SRT, source="srt", actor=actor)
        third = service.add_transcript(tenants.a.id, session, text="Just a note without speakers.", actor=actor)
        db.session.commit()
        assert [(t.sequence, t.source, t.segment_count) for t in (first, second, third)] == [
            (1, "vtt", 4),
            (2, "srt", 3),
            (3, "paste", 1),
        ]
        assert (first.has_timings, first.has_speakers, third.has_timings, third.has_speakers) == (
            True,
            True,
            False,
            False,
        )
        assert first.word_count == 29 and third.word_count == 5
        segments = service.transcript_segments(session)
        assert [s.speaker for s in segments][:5] == [
            "Dr Priya Raman",
            "Patient",
            "Dr Priya Raman",
            "Patient",
            "Clinician",
        ]
        assert segments[-1].text == "Just a note without speakers."
        assert segments[0].start == 2.14


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({}, "text", "Paste a transcript or choose a file."),
        ({"text": "   "}, "text", "Paste a transcript or choose a file."),
        ({"text": "a", "file": service.UploadedFile("a.txt", b"a")}, "text", "not both"),
        ({"file": service.UploadedFile("notes.docx", b"PK..")}, "file", "Upload a .txt, .vtt or .srt transcript."),
        ({"file": service.UploadedFile("visit.mp3", b"ID3")}, "file", "Audio transcription is not configured"),
        ({"file": service.UploadedFile("a.vtt", b"hello")}, "file", "Line 1: A WebVTT file starts"),
        ({"text": "Patient: hi", "source": "docx"}, "source", "Choose paste, txt, vtt or srt."),
    ],
)
def test_transcript_problems_name_the_field(app, tenants, patient_id, kwargs, field, message):
    session_id, _code = start(app, tenants, patient_id)
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        with pytest.raises(Invalid) as error:
            service.add_transcript(tenants.a.id, session, actor=audit.Actor(), **kwargs)
        assert [e.field for e in error.value.errors] == [field]
        assert message in error.value.errors[0].message
        assert service.transcript_segments(session) == []


def test_audit_events_name_ids_and_counts_never_text(app, tenants, patient_id):
    session_id, _code = start(app, tenants, patient_id, chief_complaint="SENTINEL complaint")
    actor = audit.Actor(user_id=tenants.user("clinician").id)
    with app.app_context():
        session = service.get_session(tenants.a.id, session_id)
        added = service.add_transcript(
            tenants.a.id, session, text="Patient: SENTINEL words\nDoctor: noted", actor=actor
        )
        service.set_medication_plan(tenants.a.id, session, [{"drug_name": "SENTINEL drug"}], actor=actor)
        service.stop_session(tenants.a.id, session_id, notes="SENTINEL notes", actor=actor)
        db.session.commit()
        transcript_id = added.id
    [started] = events(app, "consultation.started")
    assert (started.target_id, started.patient_id, started.organization_id) == (session_id, patient_id, tenants.a.id)
    assert started.details["clinician_id"] == tenants.user("clinician").id
    [added_event] = events(app, "consultation.transcript_added")
    assert added_event.details == {"transcript_id": transcript_id, "source": "paste", "word_count": 3}
    assert events(app, "consultation.medication_plan_updated")[0].details == {"rows": 1}
    assert events(app, "consultation.stopped")[0].actor_user_id == tenants.user("clinician").id
    with app.app_context():
        from clinic_app.core.audit import AuditEvent

        everything = repr([(e.action, e.details) for e in db.session.query(AuditEvent).all()])
        assert not audit.verify_chains()[1]
    assert "SENTINEL" not in everything
