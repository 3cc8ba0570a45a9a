"""Finding a report and the checks every change of one shares (used by drafting, editing and
signing): the organization boundary, "still a draft?", and the conflict a stale change gets."""

from __future__ import annotations

from typing import Any

from clinic_app.core import audit
from clinic_app.core.errors import Conflict, NotFound
from clinic_app.extensions import db
from clinic_app.reports.models import DRAFT, SIGNED, Report

NOT_FOUND = "No such report."
SIGNED_MESSAGE = "This report is signed and can no longer be changed. Amend it to make a correction."


def get_report(organization_id: str, report_id: str) -> Report:
    """The organization's report. Raises NotFound for an unknown id or another organization's."""
    report = db.session.get(Report, report_id) if report_id else None
    if report is None or report.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return report


def record(
    action: str, report: Report, actor: audit.Actor | None, details: dict[str, Any] | None = None, **kw: Any
) -> None:
    """An audit event about the report (ids and details only, never content)."""
    audit.record(
        action,
        organization_id=report.organization_id,
        actor=actor,
        target_type="report",
        target_id=report.id,
        patient_id=report.patient_id,
        details=details or {},
        **kw,
    )


def require_draft(report: Report) -> None:
    """Conflict unless the report is a draft: signed reports are amended, pending ones wait."""
    if report.status == SIGNED:
        raise Conflict(SIGNED_MESSAGE, status=SIGNED)
    if report.status != DRAFT:
        raise Conflict("The draft is still being generated; edit it once it is ready.", status=report.status)


def stale(report: Report) -> Conflict:
    """The conflict for a change made on an outdated revision (or racing a signature)."""
    db.session.refresh(report)
    if report.status == SIGNED:
        return Conflict(SIGNED_MESSAGE, status=SIGNED)
    return Conflict(
        "This report was changed elsewhere (another tab or person) after you opened it. "
        "Reload it to see the latest text, then make your change again.",
        current_revision=report.revision,
    )
