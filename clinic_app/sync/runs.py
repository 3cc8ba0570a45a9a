"""Reading sync runs: the one running, one by id (another organization's is ``NotFound``, exactly
like one that does not exist), the history and its totals, and a run's progress as pages and the
API show it (no PHI: ids, counts, words)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from clinic_app.core.errors import NotFound
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.extensions import db
from clinic_app.sync.models import ACTIVE_STATUSES, COMPLETED, FAILED, SyncRun


def running_run(organization_id: str) -> SyncRun | None:
    """The organization's starting or running sync, if any (there is at most one)."""
    return db.session.scalar(
        select(SyncRun).where(SyncRun.organization_id == organization_id, SyncRun.status.in_(ACTIVE_STATUSES))
    )


def get_run(organization_id: str, sync_id: str) -> SyncRun:
    """The organization's run. Raises NotFound for an unknown id or another organization's."""
    run = db.session.get(SyncRun, sync_id) if sync_id else None
    if run is None or run.organization_id != organization_id:
        raise NotFound("No such sync.")
    return run


def history(organization_id: str, limit: int = 20) -> list[SyncRun]:
    """The latest runs, newest first."""
    return list(
        db.session.scalars(
            select(SyncRun)
            .where(SyncRun.organization_id == organization_id)
            .order_by(SyncRun.created_at.desc(), SyncRun.id)
            .limit(max(1, min(limit, 100)))
        )
    )


def history_page(organization_id: str, limit: int, cursor: str | None = None) -> tuple[list[SyncRun], str | None]:
    """``limit`` runs, newest first, after the run ``cursor`` names (the first page without one),
    and the cursor of the next page (None on the last). Raises Invalid for a cursor this list
    did not give out."""
    query = select(SyncRun).where(SyncRun.organization_id == organization_id)
    if cursor:
        try:
            moment, run_id = decode_cursor(cursor).split("|", 1)
            after = datetime.fromisoformat(moment)
        except ValueError:
            raise bad_cursor() from None
        query = query.where(or_(SyncRun.created_at < after, and_(SyncRun.created_at == after, SyncRun.id < run_id)))
    found = list(db.session.scalars(query.order_by(SyncRun.created_at.desc(), SyncRun.id.desc()).limit(limit + 1)))
    runs = found[:limit]
    more = len(found) > limit
    return runs, encode_cursor(f"{runs[-1].created_at.isoformat()}|{runs[-1].id}") if more else None


def history_summary(organization_id: str, limit: int = 10, cursor: str | None = None) -> dict[str, Any]:
    """Totals over every run plus a page of ``limit`` runs, newest first (the sync-history
    contract's figures, and ``next_cursor`` for the page after)."""
    recent, next_cursor = history_page(organization_id, limit, cursor)
    scope = SyncRun.organization_id == organization_id
    row = db.session.execute(
        select(
            func.count().label("total"),
            func.sum(case((SyncRun.status == COMPLETED, 1), else_=0)).label("completed"),
            func.sum(case((SyncRun.status == FAILED, 1), else_=0)).label("failed"),
            func.max(SyncRun.created_at).label("last"),
        ).where(scope)
    ).one()
    finished = db.session.execute(
        select(SyncRun.started_at, SyncRun.finished_at).where(
            scope, SyncRun.status == COMPLETED, SyncRun.started_at.is_not(None)
        )
    ).all()
    durations = [(r.finished_at - r.started_at).total_seconds() for r in finished if r.finished_at]
    return {
        "organization_id": organization_id,
        "total_syncs": int(row.total or 0),
        "successful_syncs": int(row.completed or 0),
        "failed_syncs": int(row.failed or 0),
        "last_sync_at": row.last,
        "last_successful_sync_at": max((r.finished_at for r in finished if r.finished_at), default=None),
        "average_sync_duration_seconds": round(sum(durations) / len(durations), 1) if durations else None,
        "recent_syncs": recent,
        "next_cursor": next_cursor,
    }


def progress_of(run: SyncRun) -> dict[str, Any]:
    """A run as a progress page or the progress API shows it (no PHI: ids, counts, words)."""
    completed_steps = len(run.steps) if run.status == COMPLETED else run.step_index
    return {
        "sync_id": run.id,
        "organization_id": run.organization_id,
        "mode": run.mode,
        "trigger": run.trigger,
        "status": run.status,
        "progress_percentage": run.percentage,
        "current_step": run.current_step,
        "steps": list(run.steps),
        "total_steps": len(run.steps),
        "completed_steps": completed_steps,
        "records_processed": run.processed,
        "records_total": run.total,
        "pages": run.pages,
        "counts": run.counts,
        **{name: getattr(run, name) for name in ("created", "updated", "unchanged", "failed")},
        "failures": run.failures,
        "phones_total": run.phones_total,
        "phones_normalised": run.phones_normalised,
        "emails_dropped": run.emails_dropped,
        "error_detail": run.error_detail,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "estimated_completion": run.estimated_completion_at,
        "finished_at": run.finished_at,
        "resumed_from_id": run.resumed_from_id,
    }
