"""Retention and clean-up (issue 20, Done-when 3): a dry run counts what apply then removes, per
kind; audit events and signed reports are never touched; the nightly run is recorded."""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

from clinic_app.auth.models import LoginFailure, PasswordLink, TokenFamily, UserSession
from clinic_app.core import jobs, periodic
from clinic_app.core.audit import Actor, AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data.models import HealthUpload
from clinic_app.intake import service as intake
from clinic_app.intake.models import IntakeDraft
from clinic_app.mfa.models import MfaChallenge
from clinic_app.operators import retention
from clinic_app.operators.models import RetentionRun
from clinic_app.reports.models import Report
from clinic_app.sync.models import SyncRun
from tests.factories import access_token_for
from tests.operators.conftest import operator_token
from tests.patients.conftest import register
from tests.reports.conftest import consultation, generate

OLD = timedelta(days=400)


def _hash() -> str:
    return secrets.token_hex(32)


def _rows(app: Flask, tenants: Any, patient_id: str, *, age: timedelta) -> None:
    """One row of every kind, ended ``age`` ago, in organization A (and B for the per-org kinds)."""
    then = utcnow() - age
    user = tenants.user("clinician")
    with app.app_context():
        for org in (tenants.a.id, tenants.b.id):
            db.session.add_all(
                [
                    jobs.Job(kind="audit.verify", organization_id=org, status=jobs.SUCCEEDED, finished_at=then),
                    SyncRun(organization_id=org, mode="basic", status="completed", steps=[], finished_at=then),
                ]
            )
        db.session.add_all(
            [
                UserSession(user_id=user.id, secret_hash=_hash(), expires_at=then),
                TokenFamily(user_id=user.id, revoked_at=then),
                PasswordLink(user_id=user.id, secret_hash=_hash(), expires_at=then),
                MfaChallenge(secret_hash=_hash(), purpose="sign_in", user_id=user.id, expires_at=then),
                LoginFailure(email_hash=_hash(), created_at=then),
                HealthUpload(organization_id=tenants.a.id, patient_id=patient_id, kind="metrics", source="api",
                             status="failed", created_at=then),
                # a job still running is never removed, however old
                jobs.Job(kind="audit.verify", organization_id=tenants.a.id, status=jobs.RUNNING, created_at=then),
            ]
        )  # fmt: skip
        draft = intake.start_draft(tenants.a.id, actor=Actor())
        db.session.flush()
        db.session.execute(update(IntakeDraft).where(IntakeDraft.id == draft.id).values(updated_at=then))
        db.session.commit()


def _counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            kind.name: db.session.scalar(select(func.count()).select_from(kind.model)) or 0 for kind in retention.KINDS
        }


def _signed_report(app: Flask, tenants: Any) -> str:
    patient = register(app, tenants.a, first_name="Signed", last_name="Kept")
    session = consultation(app, tenants.a, tenants.user("clinician"), patient)
    report_id = generate(app, tenants.a, tenants.user("clinician"), session)
    with app.app_context():
        old = utcnow() - OLD
        db.session.execute(
            update(Report).where(Report.id == report_id).values(status="signed", signed_at=old, updated_at=old)
        )
        db.session.commit()
    return report_id


def test_dry_run_counts_what_apply_removes_and_never_audit_or_signed_reports(app: Flask, tenants: Any) -> None:
    patient = register(app, tenants.a)
    report_id = _signed_report(app, tenants)
    _rows(app, tenants, patient, age=OLD)
    _rows(app, tenants, patient, age=timedelta(hours=1))  # recent: kept
    before = _counts(app)
    with app.app_context():
        audit_before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    headers = {"Authorization": f"Bearer {operator_token(app)}"}
    client = app.test_client()

    dry = client.post("/api/v1/admin/database/cleanup?days_old=90", headers=headers)
    assert dry.status_code == 200, dry.get_json()
    counted = dry.get_json()
    assert counted["dry_run"] is True and counted["success"] is True and counted["days_cleaned"] == 90
    assert counted["counts"] == {
        "sessions": 1,
        "token_families": 1,
        "password_links": 1,
        "mfa_challenges": 1,
        "login_failures": 1,
        "jobs": 2,
        "sync_runs": 2,
        "intake_drafts": 1,
        "failed_uploads": 1,
    }
    assert "Would delete 2 finished background jobs" in counted["cleanup_results"]
    assert _counts(app) == before  # a dry run removes nothing

    applied = client.post("/api/v1/admin/database/cleanup?days_old=90&dry_run=false", headers=headers).get_json()
    assert applied["dry_run"] is False and applied["counts"] == counted["counts"]
    assert "Deleted 2 finished background jobs" in applied["cleanup_results"]
    after = _counts(app)
    assert {name: before[name] - after[name] for name in before} == counted["counts"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) > audit_before  # only added to
        assert db.session.get(Report, report_id) is not None
        runs = db.session.scalars(select(RetentionRun).order_by(RetentionRun.started_at)).all()
        assert [(r.dry_run, r.trigger) for r in runs] == [(True, "on_demand"), (False, "on_demand")]
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"retention.dry_run", "retention.cleanup"} <= actions


def test_owner_cleans_up_their_organization_only(app: Flask, tenants: Any) -> None:
    patient = register(app, tenants.a)
    _rows(app, tenants, patient, age=OLD)
    url = "/api/v1/admin/organization/cleanup?days_old=30&dry_run=false"
    owner = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
    answer = app.test_client().post(url, headers=owner)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["counts"] == {"jobs": 1, "sync_runs": 1, "intake_drafts": 1, "failed_uploads": 1}
    with app.app_context():
        left = db.session.scalars(select(jobs.Job.organization_id).where(jobs.Job.status == jobs.SUCCEEDED)).all()
        assert left == [tenants.b.id]  # B's job is B's business
        assert db.session.scalar(select(func.count()).select_from(UserSession)) >= 1  # not an organization's kind
    admin = {"Authorization": f"Bearer {access_token_for(app, tenants.user('admin'))}"}
    assert app.test_client().post(url, headers=admin).status_code == 403


def test_days_old_is_bounded(app: Flask, tenants: Any) -> None:
    headers = {"Authorization": f"Bearer {operator_token(app)}"}
    for bad in ("0", "3651", "soon"):
        answer = app.test_client().post(f"/api/v1/admin/database/cleanup?days_old={bad}", headers=headers)
        assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "days_old", bad


def test_organization_periods_within_bounds_drive_the_nightly_run(app: Flask, tenants: Any) -> None:
    patient = register(app, tenants.a)
    _rows(app, tenants, patient, age=timedelta(days=20))
    url = "/api/v1/admin/organization/retention"
    owner = {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}
    client = app.test_client()
    refused = client.put(url, headers=owner, json={"days": {"jobs": 1, "sessions": 5}})
    assert refused.status_code == 422
    assert {e["field"] for e in refused.get_json()["errors"]} == {"days.jobs", "days.sessions"}
    changed = client.put(url, headers=owner, json={"days": {"jobs": 10}})
    assert changed.status_code == 200 and changed.get_json()["days"]["jobs"] == 10

    with app.app_context():
        early = datetime(2030, 1, 1, 1, 0, tzinfo=utcnow().tzinfo)
        assert retention.nightly_cleanup(early) == {"due": False}  # before the nightly hour
        results = periodic.run_all(utcnow().replace(hour=3))
        first = results["retention.nightly"]
        assert first["due"] is True
        # A's jobs go after 10 days; B's keep the 90-day default; the rest are not 20 days old.
        assert first["counts"]["jobs"] == 1 and first["counts"]["sync_runs"] == 0
        assert retention.nightly_cleanup(utcnow().replace(hour=4)) == {"due": False}  # once a day
        run = db.session.scalars(select(RetentionRun).where(RetentionRun.trigger == "nightly")).one()
        assert run.dry_run is False and run.counts == first["counts"]


def test_concurrent_nightly_ticks_run_the_day_once(app: Flask, tenants: Any) -> None:
    """Two processes' clocks ticking at the same moment (threads with their own connections):
    exactly one runs the day's clean-up, the other finds the day claimed."""
    patient = register(app, tenants.a)
    _rows(app, tenants, patient, age=OLD)
    now = utcnow().replace(hour=5)
    start = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def tick() -> None:
        with app.app_context():
            start.wait(timeout=30)
            results.append(retention.nightly_cleanup(now))
            db.session.remove()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(r["due"] for r in results) == [False, True]
    with app.app_context():
        runs = db.session.scalars(select(RetentionRun).where(RetentionRun.trigger == "nightly")).all()
        assert len(runs) == 1 and runs[0].nightly_day == now.date().isoformat()
        assert runs[0].counts["jobs"] == 2  # both organizations' old jobs, with the default period
