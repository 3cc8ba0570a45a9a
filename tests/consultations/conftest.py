"""Builders for consultation tests: patients and sessions made through the services, sample
caption files as real tools write them, raw table reads and audit events."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from clinic_app.consultations import service
from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from tests.patients.conftest import register

# A WebVTT export as a video-meeting tool writes it: voice tags, a cue identifier, a NOTE block,
# cue settings, markup and an entity.
TEAMS_VTT = """WEBVTT
Kind: captions
Language: en-AU

NOTE
Recorded in consulting room 2.

1
00:00:02.140 --> 00:00:06.900 align:start position:0%
<v Dr Priya Raman>Good morning. What brings you in today?</v>

2
00:00:07.310 --> 00:00:15.480
<v Patient>I haven't been sleeping &amp; my chest feels <i>tight</i>
most mornings before work.</v>

3
00:01:03.000 --> 00:01:09.250
<v Dr Priya Raman>How long has that been going on?</v>
<v Patient>About three months.</v>
"""

# SubRip as transcription services write it: numbered cues, comma milliseconds, speaker prefixes,
# a formatting tag and a positioning code.
SERVICE_SRT = """1
00:00:00,500 --> 00:00:03,250
Clinician: How has your shoulder been since last week?

2
00:00:03,900 --> 00:00:09,000
{\\an8}Patient: Better in the mornings,
<i>worse</i> after I lift the kids.

3
00:01:02,000 --> 00:01:05,500
>> Clinician: Let's keep the exercises going.
"""

PLAIN_TRANSCRIPT = """Dr Raman: Good morning. What brings you in today?
Patient: I haven't been sleeping well.
It started after I changed jobs.

[00:04:10] Dr Raman: Any thoughts of harming yourself?
Patient: No, nothing like that.
"""


def patient_of(app: Any, organization: Any, **values: Any) -> str:
    return register(app, organization, first_name=values.pop("first_name", "Mira"), last_name="Okafor", **values)


def start(app: Any, tenants: Any, patient_id: str, **values: Any) -> tuple[str, str]:
    """A session of organization A started through the service; returns (id, session code)."""
    with app.app_context():
        session = service.start_session(
            tenants.a.id,
            patient_id=patient_id,
            clinician_id=values.pop("clinician_id", tenants.user("clinician").id),
            chief_complaint=values.pop("chief_complaint", "Low mood and poor sleep"),
            session_type=values.pop("session_type", "new_patient"),
            actor=audit.Actor(user_id=tenants.user("clinician").id),
            **values,
        )
        db.session.commit()
        return session.id, session.session_code


def raw_rows(app: Any, table: str) -> list[dict[str, Any]]:
    with app.app_context(), db.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table}"))]  # noqa: S608


def events(app: Any, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.chain, AuditEvent.seq)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


@pytest.fixture
def patient_id(app, tenants):
    return patient_of(app, tenants.a)


@pytest.fixture
def clinician(login_as):
    return login_as("clinician")


@pytest.fixture
def receptionist(login_as):
    return login_as("receptionist")
