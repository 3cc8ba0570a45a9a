"""The nightly audit verification: the scheduler's tick starts one run a night per organization,
from 03:30 in its own time zone, only when there is something to check (or the chain is broken),
and one organization's failure spares the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from clinic_app.audit import verification
from clinic_app.audit.verification import VERIFY_KIND, AuditVerification
from clinic_app.core import jobs, periodic
from clinic_app.core.errors import Unavailable
from clinic_app.extensions import db
from tests.audit.test_audit_trail import add_events, tamper

SYDNEY = ZoneInfo("Australia/Sydney")  # organization A; B is in Melbourne (the same offset in March)
AFTERNOON = datetime(2026, 3, 10, 14, 0, tzinfo=SYDNEY).astimezone(UTC)
NIGHT = datetime(2026, 3, 11, 3, 31, tzinfo=SYDNEY).astimezone(UTC)
DAY = timedelta(days=1)


def tick(app, now):
    """One clock tick at ``now``: the organizations whose nightly verification it started."""
    with time_machine.travel(now, tick=False), app.app_context():
        return periodic.tick(now)["audit.nightly_verification"]


def checkpoint(app, organization_id):
    with app.app_context():
        row = db.session.scalar(select(AuditVerification).where(AuditVerification.chain == organization_id))
        return None if row is None else (row.verified_seq, row.problem_seq, row.checked_by_id)


def runs(app, organization_id):
    with app.app_context():
        return db.session.scalars(
            select(jobs.Job.created_by_id).where(
                jobs.Job.kind == VERIFY_KIND, jobs.Job.organization_id == organization_id
            )
        ).all()


def latest(app, organization_id):
    with app.app_context():
        return verification.latest_seq(organization_id)


def test_each_organization_is_verified_once_a_night_when_there_is_something_new(app, tenants):
    assert tick(app, AFTERNOON) == []  # not night time in either clinic
    assert checkpoint(app, tenants.a.id) is None

    assert sorted(tick(app, NIGHT)) == sorted([tenants.a.id, tenants.b.id])
    for organization in (tenants.a, tenants.b):
        seq, problem, started_by = checkpoint(app, organization.id)
        assert seq == latest(app, organization.id) and problem is None and started_by is None  # nobody clicked
        assert runs(app, organization.id) == [None]
    add_events(app, tenants.a.id, 1, at=NIGHT + timedelta(minutes=5))
    assert tick(app, NIGHT + timedelta(minutes=10)) == []  # one run a night, though A has a new event

    # The next night only A has recorded anything since its checkpoint.
    add_events(app, tenants.a.id, 3, at=NIGHT + timedelta(hours=8))
    assert tick(app, NIGHT + DAY) == [tenants.a.id]
    assert checkpoint(app, tenants.a.id)[0] == latest(app, tenants.a.id)
    assert len(runs(app, tenants.b.id)) == 1
    # Past the six-hour window nothing starts, even with events to check.
    add_events(app, tenants.a.id, 1, at=NIGHT + DAY + timedelta(hours=1))
    assert tick(app, NIGHT + 2 * DAY + timedelta(hours=6)) == []


def test_a_broken_chain_is_checked_again_every_night(app, tenants):
    assert tenants.a.id in tick(app, NIGHT)
    ids = add_events(app, tenants.a.id, 2, at=NIGHT + timedelta(hours=1))
    tamper(app, "UPDATE audit_events SET target_id = 'changed' WHERE id = :id", id=ids[0])
    assert tenants.a.id in tick(app, NIGHT + DAY)
    broken = checkpoint(app, tenants.a.id)
    assert broken[1] is not None
    assert tenants.a.id in tick(app, NIGHT + 2 * DAY)  # reported again, not left quiet
    assert checkpoint(app, tenants.a.id)[1] == broken[1]


def test_one_organization_s_failure_spares_the_others(app, tenants, monkeypatch):
    real_start = verification.start_verification

    def start(organization_id, **options):
        if organization_id == tenants.a.id:
            raise Unavailable("The job queue is unavailable right now.")
        return real_start(organization_id, **options)

    monkeypatch.setattr(verification, "start_verification", start)
    assert tick(app, NIGHT) == [tenants.b.id]
    assert runs(app, tenants.a.id) == [] and checkpoint(app, tenants.a.id) is None


@pytest.mark.parametrize("night", [NIGHT, NIGHT + 5 * timedelta(hours=1)])
def test_a_run_started_by_an_admin_tonight_counts_as_tonight_s(app, tenants, night):
    with time_machine.travel(night - timedelta(minutes=1), tick=False), app.app_context():
        verification.start_verification(tenants.a.id, actor=verification.audit.Actor(user_id=tenants.user("admin").id))
        db.session.commit()
    assert tenants.a.id not in tick(app, night)
    assert runs(app, tenants.a.id) == [tenants.user("admin").id]
