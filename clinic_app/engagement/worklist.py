"""The re-engagement worklist: patients ranked by action priority, then risk score (docs/rules.md).

Read straight from the stored figures in the order of ``ix_patient_appointment_stats_worklist``
(organization, action priority, score descending, patient id), so a page is an index range scan
of its own rows, whatever the number of patients. Pages are keyset ranges, never an OFFSET: the
next page reads forward after the last row's (priority, score, patient id); the previous page
reads the same index backwards from the first row's and is put back in order. Names are the
only patient fields shown and they are plaintext; nothing is decrypted here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from clinic_app.core.time import organization_zone, utcnow
from clinic_app.extensions import db
from clinic_app.figures import queries, rules
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients.models import Patient

# Each filter is a contiguous range of action priorities, so the index keeps its order.
FILTERS: dict[str, tuple[int, int]] = {
    "at_risk": (1, 2),
    "high": (1, 1),
    "medium": (2, 2),
    "low": (3, 4),
    "all": (1, 4),
}
FILTER_LABELS = {
    "at_risk": "At risk (high and medium)",
    "high": "High risk",
    "medium": "Medium risk",
    "low": "Low risk",
    "all": "Everyone",
}
DEFAULT_FILTER = "at_risk"
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class WorklistRow:
    """One patient on the worklist, with the figures behind their risk."""

    patient_id: str
    first_name: str
    last_name: str
    preferred_name: str | None
    risk_level: str
    risk_score: int
    action_priority: int
    reasons: tuple[str, ...]
    last_attended_at: datetime | None
    days_since_last_contact: int | None
    attended_90: int
    did_not_arrive_90: int
    late_cancelled_90: int
    next_appointment_at: datetime | None
    total_appointments: int

    @property
    def appointments_90(self) -> int:
        return self.attended_90 + self.did_not_arrive_90 + self.late_cancelled_90

    @property
    def attendance_rate(self) -> float:
        return rules.attendance_rate(self.attended_90, self.did_not_arrive_90, self.late_cancelled_90)

    @property
    def attendance_percentage(self) -> float:
        return rules.percentage(self.attended_90, self.appointments_90) if self.appointments_90 else 100.0


@dataclass(frozen=True)
class WorklistPage:
    """One page of the worklist. ``cursor`` / ``before`` are the position it was asked for (None
    when it is read from the top); ``next_cursor`` is passed as ``cursor`` for the page after it
    and ``prev_cursor`` as ``before`` for the page before it, each None when there is none."""

    rows: list[WorklistRow]
    risk: str
    limit: int
    cursor: str | None
    next_cursor: str | None
    time_zone: tzinfo
    prev_cursor: str | None = None
    before: str | None = None


def normalise_filter(risk: str | None) -> str:
    """A known filter name, or the default (at risk) for anything else."""
    return risk if risk in FILTERS else DEFAULT_FILTER


def encode_cursor(row: WorklistRow) -> str:
    return f"{row.action_priority}.{row.risk_score}.{row.patient_id}"


def _small_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 6


def decode_cursor(cursor: str | None) -> tuple[int, int, str] | None:
    """(priority, score, patient id) after which the next page starts (or, as ``before``, before
    which the previous page ends); None when missing or not a cursor this page made (the caller
    starts from the first page)."""
    if not cursor:
        return None
    parts = cursor.split(".", 2)
    # Priorities and scores are small numbers: anything longer was not made here (and a number
    # of any length would reach the database as one).
    if len(parts) != 3 or not _small_number(parts[0]) or not _small_number(parts[1]) or not parts[2]:
        return None
    return int(parts[0]), int(parts[1]), parts[2][:40]


def _select(organization_id: str) -> Select:
    return queries.with_patients(
        organization_id,
        PatientAppointmentStats,
        Patient.first_name,
        Patient.last_name,
        Patient.preferred_name,
        Patient.created_at,
    )


def _query(organization_id: str, risk: str) -> Select:
    stats = PatientAppointmentStats
    low, high = FILTERS[normalise_filter(risk)]
    return (
        _select(organization_id)
        .where(
            stats.action_priority.between(low, high),
            stats.contacted_at.is_(None),
            Patient.archived.is_(False),
        )
        .order_by(stats.action_priority, stats.risk_score.desc(), stats.patient_id)
    )


def _after(position: tuple[int, int, str]) -> object:
    stats = PatientAppointmentStats
    priority, score, patient_id = position
    return or_(
        stats.action_priority > priority,
        and_(
            stats.action_priority == priority,
            or_(stats.risk_score < score, and_(stats.risk_score == score, stats.patient_id > patient_id)),
        ),
    )


def _before(position: tuple[int, int, str]) -> object:
    stats = PatientAppointmentStats
    priority, score, patient_id = position
    return or_(
        stats.action_priority < priority,
        and_(
            stats.action_priority == priority,
            or_(stats.risk_score > score, and_(stats.risk_score == score, stats.patient_id < patient_id)),
        ),
    )


def _position(row: WorklistRow) -> tuple[int, int, str]:
    return row.action_priority, row.risk_score, row.patient_id


def _any(query: Select) -> bool:
    return db.session.execute(query.with_only_columns(PatientAppointmentStats.patient_id).limit(1)).first() is not None


def _row(result: object, now: datetime, tz: tzinfo) -> WorklistRow:
    return row_of(result[0], result, now, tz)  # type: ignore[index]


def row_of(stats: PatientAppointmentStats, patient: Any, now: datetime, tz: tzinfo) -> WorklistRow:
    """A patient's figures as a worklist row; ``patient`` carries the names and ``created_at``."""
    last_contact_at = stats.last_attended_at or patient.created_at
    return WorklistRow(
        patient_id=stats.patient_id,
        first_name=patient.first_name,
        last_name=patient.last_name,
        preferred_name=patient.preferred_name,
        risk_level=stats.risk_level,
        risk_score=stats.risk_score,
        action_priority=stats.action_priority,
        reasons=tuple(stats.risk_reasons or ()),
        last_attended_at=stats.last_attended_at,
        days_since_last_contact=rules.days_since(last_contact_at, now, tz),
        attended_90=stats.attended_90,
        did_not_arrive_90=stats.did_not_arrive_90,
        late_cancelled_90=stats.late_cancelled_90,
        next_appointment_at=stats.next_appointment_at,
        total_appointments=stats.total,
    )


def worklist_page(
    organization_id: str,
    *,
    risk: str | None = None,
    cursor: str | None = None,
    before: str | None = None,
    limit: int = PAGE_SIZE,
    now: datetime | None = None,
) -> WorklistPage:
    """One page of the worklist for ``risk`` (a ``FILTERS`` name): the rows after ``cursor``, or
    the rows just before ``before`` (read backwards along the index and put back in order), or
    the first page. ``cursor`` wins when both are given; one that is not a cursor of this list
    reads the first page. When fewer than a page's rows are left before ``before`` (patients
    left the list meanwhile), the answer is the whole first page. Reads the stored figures as
    they are (``figures.service`` keeps them current); contacted and archived patients are left
    out (docs/rules.md)."""
    now = now or utcnow()
    risk = normalise_filter(risk)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    tz = organization_zone(organization_id)
    stats = PatientAppointmentStats
    query = _query(organization_id, risk)
    position = decode_cursor(cursor)
    anchor = decode_cursor(before) if position is None else None
    if anchor is not None:
        backwards = (
            query.where(_before(anchor))
            .order_by(None)
            .order_by(stats.action_priority.desc(), stats.risk_score, stats.patient_id.desc())
        )
        results = list(db.session.execute(backwards.limit(limit + 1)))
        more_before = len(results) > limit
        if more_before or len(results) == limit:
            rows = [_row(result, now, tz) for result in reversed(results[:limit])]
            more_after = _any(query.where(_after(_position(rows[-1]))))
            return WorklistPage(
                rows,
                risk,
                limit,
                None,
                encode_cursor(rows[-1]) if more_after else None,
                tz,
                prev_cursor=encode_cursor(rows[0]) if more_before else None,
                before=before,
            )
        # The start of the list is less than a page away: read the first page instead.
    if position is not None:
        query = query.where(_after(position))
    results = list(db.session.execute(query.limit(limit + 1)))
    rows = [_row(result, now, tz) for result in results[:limit]]
    next_cursor = encode_cursor(rows[-1]) if len(results) > limit else None
    # Whether anything comes before this page (not so on the first page, nor on one whose
    # cursor lies before every row of this filter).
    more_before = (
        bool(rows) and position is not None and _any(_query(organization_id, risk).where(_before(_position(rows[0]))))
    )
    prev_cursor = encode_cursor(rows[0]) if more_before else None
    return WorklistPage(rows, risk, limit, cursor if position else None, next_cursor, tz, prev_cursor=prev_cursor)


def worklist_count(organization_id: str, *, risk: str | None = None) -> int:
    """How many patients the worklist holds for ``risk`` (as of the stored figures)."""
    query = _query(organization_id, normalise_filter(risk))
    return int(db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)


def worklist_offset(
    organization_id: str,
    *,
    risk: str | None = None,
    limit: int = PAGE_SIZE,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[WorklistRow], int]:
    """The rows ``offset`` .. ``offset + limit`` of the worklist and how many there are in all
    (for the JSON API's limit/offset paging)."""
    now = now or utcnow()
    tz = organization_zone(organization_id)
    query = _query(organization_id, normalise_filter(risk))
    total = worklist_count(organization_id, risk=risk)
    results = db.session.execute(query.offset(max(0, offset)).limit(max(1, min(limit, MAX_PAGE_SIZE))))
    return [_row(result, now, tz) for result in results], total


def all_rows(organization_id: str, *, risk: str | None = None, now: datetime | None = None) -> Iterator[WorklistRow]:
    """Every row of the worklist for ``risk``, in order (for the CSV export), read in batches."""
    now = now or utcnow()
    tz = organization_zone(organization_id)
    query = _query(organization_id, normalise_filter(risk)).execution_options(yield_per=1000)
    for result in db.session.execute(query):
        yield _row(result, now, tz)


def patient_row(organization_id: str, patient_id: str, *, now: datetime | None = None) -> WorklistRow | None:
    """One patient's figures as a worklist row, whatever the filters (None when unknown)."""
    now = now or utcnow()
    tz = organization_zone(organization_id)
    result = db.session.execute(
        _select(organization_id).where(PatientAppointmentStats.patient_id == patient_id)
    ).first()
    return None if result is None else _row(result, now, tz)
