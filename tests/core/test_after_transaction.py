"""Writes kept whatever a request's outcome (denials, failures, alarms) are retried when they
fail, and logged whole at error level if they still cannot be written: never silently dropped."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db


def _flaky_append(monkeypatch, failures: int) -> list[int]:
    real = audit._append
    calls: list[int] = []

    def append(session, event):
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real(session, event)

    monkeypatch.setattr(audit, "_append", append)
    return calls


def test_an_alarm_that_fails_to_be_written_is_tried_again(app, monkeypatch):
    calls = _flaky_append(monkeypatch, failures=2)
    with app.test_request_context("/"):
        db.session.execute(select(1))  # the request's unit of work is under way
        audit.record("auth.refresh_reuse_detected", organization_id=None, outcome=audit.ALARM, independent=True)
        db.session.rollback()  # the request failed; the alarm is written after it
    assert len(calls) == 3
    with app.app_context():
        stored = db.session.scalars(select(AuditEvent.action)).all()
    assert stored == ["auth.refresh_reuse_detected"]


def test_an_alarm_that_cannot_be_written_is_logged_whole_at_error_level(app, monkeypatch, caplog):
    calls = _flaky_append(monkeypatch, failures=99)
    caplog.set_level(logging.ERROR, logger="clinic_app.request")
    with app.test_request_context("/"):
        db.session.execute(select(1))
        event = audit.record(
            "auth.refresh_reuse_detected",
            organization_id=None,
            target_type="token_family",
            target_id="tfm_lost",
            outcome=audit.ALARM,
            independent=True,
        )
        db.session.rollback()
    assert len(calls) == 3
    failed = [r for r in caplog.records if getattr(r, "event", None) == "after_transaction_failed"]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR
    lost = failed[0].lost
    assert lost["id"] == event.id and lost["action"] == "auth.refresh_reuse_detected"
    assert lost["target_id"] == "tfm_lost" and lost["outcome"] == audit.ALARM
