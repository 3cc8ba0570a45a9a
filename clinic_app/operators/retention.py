"""Retention and clean-up (docs/retention.md): which rows of each data kind may go, and when.

A run counts (dry run) or removes (apply) the rows of every kind that are past their period, with
the same ``now`` and the same conditions, so an applied run removes exactly what a dry run with the
same arguments counted just before (nothing else writes those rows in between: they are finished).
Audit events, reports, invoices, payments and credit notes are no kind here: clean-up never
touches them. Each run is recorded (``RetentionRun``) and audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from clinic_app.auth.models import LoginFailure, PasswordLink, TokenFamily, UserSession
from clinic_app.core import audit, metrics, periodic
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.jobs import FINISHED_STATUSES as JOB_FINISHED
from clinic_app.core.jobs import Job
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data.models import FAILED as UPLOAD_FAILED
from clinic_app.health_data.models import HealthUpload
from clinic_app.intake.models import SUBMITTED, IntakeDraft
from clinic_app.mfa.models import MfaChallenge
from clinic_app.operators.models import NIGHTLY, ON_DEMAND, RetentionRun, RetentionSetting
from clinic_app.sync.models import FINISHED_STATUSES as SYNC_FINISHED
from clinic_app.sync.models import SyncRun

MIN_DAYS_OLD, MAX_DAYS_OLD = 1, 3650


@dataclass(frozen=True)
class Kind:
    """A kind of data clean-up removes: the rows past ``cutoff`` (of ``organization_id``, for an
    organization's kind; every organization's when None)."""

    name: str
    label: str
    model: Any
    per_organization: bool
    default_days: int
    min_days: int
    max_days: int
    past: Callable[[datetime], ColumnElement[bool]]


KINDS: tuple[Kind, ...] = (
    Kind(
        "sessions",
        "expired or ended browser sessions",
        UserSession,
        False,
        30,
        1,
        365,
        lambda cutoff: or_(UserSession.expires_at < cutoff, UserSession.revoked_at < cutoff),
    ),
    Kind(
        "token_families",
        "ended API log-ins (refresh-token families)",
        TokenFamily,
        False,
        30,
        1,
        365,
        lambda cutoff: TokenFamily.revoked_at < cutoff,
    ),
    Kind(
        "password_links",
        "expired or used password links",
        PasswordLink,
        False,
        30,
        1,
        365,
        lambda cutoff: or_(PasswordLink.expires_at < cutoff, PasswordLink.used_at < cutoff),
    ),
    Kind(
        "mfa_challenges",
        "expired two-factor challenges",
        MfaChallenge,
        False,
        7,
        1,
        365,
        lambda cutoff: MfaChallenge.expires_at < cutoff,
    ),
    Kind(
        "login_failures",
        "failed sign-in records",
        LoginFailure,
        False,
        30,
        1,
        365,
        lambda cutoff: LoginFailure.created_at < cutoff,
    ),
    Kind(
        "jobs",
        "finished background jobs",
        Job,
        True,
        90,
        7,
        3650,
        lambda cutoff: and_(Job.status.in_(JOB_FINISHED), Job.finished_at < cutoff),
    ),
    Kind(
        "sync_runs",
        "finished sync runs and their details",
        SyncRun,
        True,
        180,
        7,
        3650,
        lambda cutoff: and_(SyncRun.status.in_(SYNC_FINISHED), SyncRun.finished_at < cutoff),
    ),
    Kind(
        "intake_drafts",
        "intake drafts never submitted",
        IntakeDraft,
        True,
        30,
        7,
        365,
        lambda cutoff: and_(IntakeDraft.status != SUBMITTED, IntakeDraft.updated_at < cutoff),
    ),
    Kind(
        "failed_uploads",
        "failed health-data uploads",
        HealthUpload,
        True,
        30,
        7,
        365,
        lambda cutoff: and_(HealthUpload.status == UPLOAD_FAILED, HealthUpload.created_at < cutoff),
    ),
)
KINDS_BY_NAME = {kind.name: kind for kind in KINDS}


def organization_days(organization_id: str) -> dict[str, int]:
    """The organization's period for each of its kinds (its setting, else the default)."""
    row = db.session.scalar(select(RetentionSetting).where(RetentionSetting.organization_id == organization_id))
    chosen = dict(row.days or {}) if row else {}
    return {k.name: int(chosen.get(k.name, k.default_days)) for k in KINDS if k.per_organization}


def set_organization_days(organization_id: str, days: dict[str, int], *, actor: audit.Actor) -> dict[str, int]:
    """Set the organization's periods. Raises Invalid naming each kind outside its bounds."""
    errors = []
    for name, value in days.items():
        kind = KINDS_BY_NAME.get(name)
        if kind is None or not kind.per_organization:
            errors.append(FieldError(f"days.{name}", "Not a kind an organization sets."))
        elif not isinstance(value, int) or not kind.min_days <= value <= kind.max_days:
            errors.append(FieldError(f"days.{name}", f"Between {kind.min_days} and {kind.max_days} days."))
    if errors:
        raise Invalid(errors=errors)
    row = db.session.scalar(select(RetentionSetting).where(RetentionSetting.organization_id == organization_id))
    if row is None:
        row = RetentionSetting(organization_id=organization_id, days={})
        db.session.add(row)
    row.days = {**(row.days or {}), **days}
    db.session.flush()
    audit.record(
        "retention.settings_changed",
        organization_id=organization_id,
        actor=actor,
        target_type="organization",
        target_id=organization_id,
        details={"days": days},
    )
    return organization_days(organization_id)


def _condition(kind: Kind, now: datetime, organization_id: str | None, days_old: int | None) -> ColumnElement[bool]:
    if days_old is not None:
        past = kind.past(now - timedelta(days=max(days_old, kind.min_days)))
        return and_(kind.model.organization_id == organization_id, past) if organization_id else past
    if organization_id is not None:
        days = organization_days(organization_id)[kind.name]
        return and_(kind.model.organization_id == organization_id, kind.past(now - timedelta(days=days)))
    if not kind.per_organization:
        return kind.past(now - timedelta(days=kind.default_days))
    # Nightly, for the installation: each organization's own period, the default for the rest.
    custom = {
        row.organization_id: int((row.days or {}).get(kind.name, kind.default_days))
        for row in db.session.scalars(select(RetentionSetting))
    }
    column = kind.model.organization_id
    rest = and_(or_(column.is_(None), column.notin_(list(custom))), kind.past(now - timedelta(days=kind.default_days)))
    own = [and_(column == org, kind.past(now - timedelta(days=days))) for org, days in custom.items()]
    return or_(rest, *own)


def _kinds_for(organization_id: str | None) -> list[Kind]:
    return [k for k in KINDS if organization_id is None or k.per_organization]


def run_cleanup(
    *,
    organization_id: str | None,
    days_old: int | None,
    dry_run: bool,
    trigger: str = ON_DEMAND,
    actor: audit.Actor | None = None,
    now: datetime | None = None,
    run: RetentionRun | None = None,
) -> RetentionRun:
    """Count (``dry_run``) or remove the rows past their period, per kind, and record the run.

    ``organization_id`` None is the whole installation (an operator, or the nightly run); else one
    organization's kinds only. ``days_old`` (1 to 3650) replaces every period, though never below
    a kind's minimum; None uses the periods of docs/retention.md and the organizations' settings.
    ``run`` is a row claimed already (the nightly run's). Raises Invalid for ``days_old`` out of
    bounds."""
    if days_old is not None and not MIN_DAYS_OLD <= days_old <= MAX_DAYS_OLD:
        raise Invalid(errors=[FieldError("days_old", f"Between {MIN_DAYS_OLD} and {MAX_DAYS_OLD} days.")])
    now = now or utcnow()
    actor = actor or audit.Actor()
    counts: dict[str, int] = {}
    for kind in _kinds_for(organization_id):
        condition = _condition(kind, now, organization_id, days_old)
        if dry_run:
            counts[kind.name] = db.session.scalar(select(func.count()).select_from(kind.model).where(condition)) or 0
        else:
            result = db.session.execute(
                delete(kind.model).where(condition).execution_options(synchronize_session=False)
            )
            counts[kind.name] = result.rowcount or 0
            metrics.RETENTION_DELETED.labels(kind.name).inc(counts[kind.name])
    if run is None:
        run = RetentionRun(organization_id=organization_id, trigger=trigger, started_at=now)
        db.session.add(run)
    run.dry_run, run.days_old, run.counts = dry_run, days_old, counts
    run.requested_by_id, run.finished_at = actor.user_id, utcnow()
    db.session.flush()
    audit.record(
        "retention.dry_run" if dry_run else "retention.cleanup",
        organization_id=organization_id,
        actor=actor,
        target_type="retention_run",
        target_id=run.id,
        details={"counts": counts, "days_old": days_old, "trigger": trigger},
    )
    return run


def describe(run: RetentionRun) -> list[str]:
    """The seed's ``cleanup_results`` lines: "Deleted 12 finished background jobs"."""
    verb = "Would delete" if run.dry_run else "Deleted"
    return [f"{verb} {n} {KINDS_BY_NAME[name].label}" for name, n in run.counts.items() if name in KINDS_BY_NAME]


def recent_runs(organization_id: str | None = None, *, limit: int = 50) -> list[RetentionRun]:
    query = select(RetentionRun).order_by(RetentionRun.started_at.desc()).limit(limit)
    if organization_id is not None:
        query = query.where(RetentionRun.organization_id == organization_id)
    return list(db.session.scalars(query))


@periodic.every_tick("retention.nightly")
def nightly_cleanup(now: datetime) -> dict[str, Any]:
    """Once a day, from ``RETENTION_NIGHTLY_HOUR`` (UTC): the installation's clean-up with every
    organization's periods. The day's run is claimed by inserting its row (``nightly_day`` is
    unique) in the same transaction as the clean-up: of processes ticking at the same moment one
    runs it and the others find the day taken; a run that fails leaves no claim behind."""
    if now.hour < min(current_app.config["RETENTION_NIGHTLY_HOUR"], 23):
        return {"due": False}
    day = now.date().isoformat()
    if db.session.scalar(select(RetentionRun.id).where(RetentionRun.nightly_day == day)) is not None:
        return {"due": False}
    claim = RetentionRun(organization_id=None, trigger=NIGHTLY, nightly_day=day, started_at=now, counts={})
    try:
        with db.session.begin_nested():
            db.session.add(claim)
    except IntegrityError:
        return {"due": False}  # another process claimed the day a moment ago
    run = run_cleanup(organization_id=None, days_old=None, dry_run=False, trigger=NIGHTLY, now=now, run=claim)
    db.session.commit()
    return {"due": True, "run_id": run.id, "counts": run.counts}
