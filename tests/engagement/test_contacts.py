"""Contact outcomes: recorded, encrypted, audited without the note, and hiding the patient from
the worklist "until something changes" exactly as docs/rules.md says."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import Invalid, NotFound
from clinic_app.engagement import worklist
from clinic_app.extensions import db
from clinic_app.figures import contacts as engagement
from clinic_app.figures import service as figures
from tests.engagement.conftest import make_appointment, make_patient

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SECOND, DAY = timedelta(seconds=1), timedelta(days=1)
LONG_AGO = NOW - 400 * DAY
NOTE = "Mentioned a new knee injury; call back after 5pm"


def at_risk_patient(org, first="Ada", last="Lovelace", *, last_visit_days=45):
    """A medium-risk patient: last visit ``last_visit_days`` ago, nothing booked."""
    patient = make_patient(org, first, last, registered=LONG_AGO)
    make_appointment(org, patient, NOW - last_visit_days * DAY)
    return patient


def listed(org, now):
    figures.refresh_stale_figures(now)  # the periodic task, as the clock reaches ``now``
    return [row.patient_id for row in worklist.worklist_page(org, now=now).rows]


def stats_of(org, patient):
    db.session.expire_all()
    return figures.patient_stats(org, patient.id)


def test_recording_a_contact_hides_the_patient_encrypts_the_note_and_audits_without_it(app_context, tenants):
    org = tenants.a.id
    ada = at_risk_patient(org)
    figures.recompute(org, now=NOW)
    assert listed(org, NOW) == [ada.id]
    actor = audit.Actor(user_id=tenants.user("clinician").id)
    contact = engagement.record_contact(org, ada.id, outcome="reached_declined", note=NOTE, actor=actor, now=NOW)

    assert listed(org, NOW) == []
    stats = stats_of(org, ada)
    assert stats.contacted_at == NOW
    assert (contact.risk_level, contact.figures_key, contact.user_id) == ("medium", "1:1:0:0:0", actor.user_id)
    stored = db.session.execute(text("SELECT note_enc FROM engagement_contacts")).scalar_one()
    assert NOTE not in stored and "knee" not in stored
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "engagement.contacted"))
    assert (event.patient_id, event.target_id, event.actor_user_id) == (ada.id, contact.id, actor.user_id)
    assert event.details == {"outcome": "reached_declined", "risk_level": "medium"}
    assert "knee" not in repr(event.details)
    history = engagement.contact_history(org, ada.id, actor=actor)
    assert [(item.outcome, item.note) for item in history] == [("reached_declined", NOTE)]


def test_left_message_brings_the_patient_back_after_exactly_14_days(app_context, tenants):
    org = tenants.a.id
    ada = at_risk_patient(org, last_visit_days=40)
    figures.recompute(org, now=NOW)
    engagement.record_contact(org, ada.id, outcome="left_message", actor=audit.Actor(), now=NOW)
    assert stats_of(org, ada).valid_until == NOW + 14 * DAY
    assert listed(org, NOW + 14 * DAY - SECOND) == []
    assert listed(org, NOW + 14 * DAY) == [ada.id]  # the periodic task recomputed her at the 14th day
    assert stats_of(org, ada).contacted_at is None


def test_a_change_in_appointments_brings_the_patient_back(app_context, tenants):
    org = tenants.a.id
    ada = at_risk_patient(org)
    figures.recompute(org, now=NOW)
    engagement.record_contact(org, ada.id, outcome="wrong_number", actor=audit.Actor(), now=NOW)
    later = NOW + 3 * DAY
    make_appointment(org, ada, later - DAY, did_not_arrive=True)  # a no-show the sync brings in
    figures.recompute(org, [ada.id], now=later)
    assert stats_of(org, ada).contacted_at is None
    assert listed(org, later) == [ada.id]


def test_a_rising_risk_brings_the_patient_back_except_after_do_not_contact(app_context, tenants):
    org = tenants.a.id
    ada = at_risk_patient(org, "Ada", "Lovelace", last_visit_days=85)
    bo = at_risk_patient(org, "Bo", "Diddley", last_visit_days=85)
    figures.recompute(org, now=NOW)
    engagement.record_contact(org, ada.id, outcome="reached_booked", actor=audit.Actor(), now=NOW)
    engagement.record_contact(org, bo.id, outcome="do_not_contact", actor=audit.Actor(), now=NOW)
    assert listed(org, NOW + 5 * DAY) == []  # 90 days: still medium
    later = NOW + 7 * DAY  # more than 90 days: high
    assert listed(org, later) == [ada.id]
    assert stats_of(org, ada).risk_level == "high"
    assert (stats_of(org, bo).risk_level, stats_of(org, bo).contacted_at) == ("high", NOW)


def test_only_the_latest_contact_counts(app_context, tenants):
    org = tenants.a.id
    ada = at_risk_patient(org)
    figures.recompute(org, now=NOW)
    engagement.record_contact(org, ada.id, outcome="reached_declined", actor=audit.Actor(), now=NOW)
    engagement.record_contact(org, ada.id, outcome="no_answer", actor=audit.Actor(), now=NOW + DAY)
    assert stats_of(org, ada).valid_until == NOW + 15 * DAY  # the no-answer's 14 days, not 90
    assert listed(org, NOW + 15 * DAY) == [ada.id]


def test_bad_outcome_or_note_is_refused_with_fields_and_writes_nothing(app_context, tenants):
    org = tenants.a.id
    ada = at_risk_patient(org)
    figures.recompute(org, now=NOW)
    with pytest.raises(Invalid) as refused:
        engagement.record_contact(org, ada.id, outcome="teleported", note="x" * 2001, actor=audit.Actor(), now=NOW)
    assert {error.field for error in refused.value.errors} == {"outcome", "note"}
    assert db.session.execute(text("SELECT count(*) FROM engagement_contacts")).scalar_one() == 0


def test_another_organizations_patient_is_not_found(app_context, tenants):
    ada = at_risk_patient(tenants.a.id)
    with pytest.raises(NotFound):
        engagement.record_contact(tenants.b.id, ada.id, outcome="no_answer", actor=audit.Actor(), now=NOW)
