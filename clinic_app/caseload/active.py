"""The active-patients list: which patients a filter selects, one page of them, and every one of
them for an export.

Everything is read from the stored per-patient figures (``PatientAppointmentStats``, through
``figures.queries``, the one query path every list of patients with figures shares), so no request
scans appointments. The default
list (active patients, soonest next appointment first) walks the index on
(organization_id, is_active, next_appointment_at) and joins the patient for the rows of the page
only; appointment type and practitioner names come from one small read of each table
(``References``). Names are plaintext: nothing is decrypted.

Archived patients are never part of the caseload: every filter leaves them out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    or_,
)

from clinic_app.appointments import timing
from clinic_app.caseload.references import References, references
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.extensions import db
from clinic_app.figures import queries
from clinic_app.figures.models import PatientAppointmentStats
from clinic_app.patients.models import Patient

Stats = PatientAppointmentStats

ACTIVITIES = {
    "active": "Active (recent or upcoming)",
    "recently_active": "Recent visit, nothing booked",
    "upcoming_only": "Booked, no recent visit",
    "inactive": "Inactive",
    "with_recent": "With a recent visit",
    "with_upcoming": "With an upcoming appointment",
    "all": "All patients",
}
PRIORITIES = {"high": "High (within 24 hours)", "medium": "Medium (within 72 hours)", "low": "Low (later)"}
PAGE_SIZE = 25
MAX_WITHIN_DAYS = 366
_EXPORT_CHUNK = 1000


@dataclass(frozen=True)
class ActiveFilters:
    """What the list is narrowed to. Ids are the organization's (checked by ``parse_filters``)."""

    activity: str = "active"
    priority: str | None = None
    appointment_type: str | None = None
    practitioner: str | None = None
    upcoming_within_days: int | None = None

    def query_args(self, **extra: Any) -> dict[str, Any]:
        """The filters as query-string arguments (defaults left out), for links and the export."""
        args: dict[str, Any] = {"activity": self.activity if self.activity != "active" else None}
        args |= {
            "priority": self.priority,
            "appointment_type": self.appointment_type,
            "practitioner": self.practitioner,
            "upcoming_within_days": self.upcoming_within_days,
        }
        args |= extra
        return {name: value for name, value in args.items() if value is not None}

    def as_details(self) -> dict[str, Any]:
        """For the audit trail: which filters were used (ids and words, no patient data)."""
        return self.query_args(activity=self.activity)


def parse_filters(names: References, args: Mapping[str, str]) -> tuple[ActiveFilters, list[FieldError]]:
    """The filters in ``args`` (a query string), ids checked against the organization's
    ``names``; a value that is not valid is left out and named in the returned errors, so a page
    can show the rest with a message."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    activity = (args.get("activity") or "active").strip()
    if activity in ACTIVITIES:
        values["activity"] = activity
    else:
        errors.append(FieldError("activity", f"Choose one of: {', '.join(ACTIVITIES)}."))
    priority = (args.get("priority") or "").strip()
    if priority in PRIORITIES:
        values["priority"] = priority
    elif priority:
        errors.append(FieldError("priority", "Choose high, medium or low."))
    for name, known, message in (
        ("appointment_type", names.types, "Choose an appointment type from the list."),
        ("practitioner", names.practitioners, "Choose a practitioner from the list."),
    ):
        wanted = (args.get(name) or "").strip()
        if wanted and wanted in known:
            values[name] = wanted
        elif wanted:
            errors.append(FieldError(name, message))
    within = (args.get("upcoming_within_days") or "").strip()
    if within:
        if within.isascii() and within.isdigit() and len(within) <= 4 and int(within) <= MAX_WITHIN_DAYS:
            values["upcoming_within_days"] = int(within)
        else:
            message = f"Enter a whole number of days from 0 to {MAX_WITHIN_DAYS}."
            errors.append(FieldError("upcoming_within_days", message))
    return ActiveFilters(**values), errors


def require_filters(names: References, args: Mapping[str, str]) -> ActiveFilters:
    """``parse_filters`` for callers that refuse bad input. Raises Invalid naming each field."""
    filters, errors = parse_filters(names, args)
    if errors:
        raise Invalid(errors=errors)
    return filters


# --- which patients -----------------------------------------------------------------------------


def priority_condition(priority: str, now: datetime) -> ColumnElement[bool]:
    """Patients whose next appointment has ``priority`` at ``now``: the SQL twin of
    ``appointments.timing.priority`` (a test holds the two together at the boundaries)."""
    return _priority_condition(priority, now + timing.HIGH_WITHIN, now + timing.MEDIUM_WITHIN)


def _priority_condition(priority: str, high: Any, medium: Any) -> ColumnElement[bool]:
    """``priority_condition`` with its bounds given: the moments (or bound parameters for them)
    up to which an appointment is high and medium priority."""
    starts = Stats.next_appointment_at
    if priority == "high":
        return and_(starts.is_not(None), starts <= high)
    if priority == "medium":
        return and_(starts > high, starts <= medium)
    return starts > medium


def _activity_conditions(activity: str) -> tuple[list[ColumnElement[bool]], bool]:
    """(conditions, whether they need the patient row for the archived flag)."""
    recent, upcoming = Stats.recent_attended > 0, Stats.upcoming > 0
    if activity == "active":
        return [queries.ACTIVE], False  # is_active already excludes archived patients
    by_counts: dict[str, list[ColumnElement[bool]]] = {
        "recently_active": [recent, Stats.upcoming == 0],
        "upcoming_only": [Stats.recent_attended == 0, upcoming],
        "inactive": [Stats.recent_attended == 0, Stats.upcoming == 0],
        "with_recent": [recent],
        "with_upcoming": [upcoming],
        "all": [],
    }
    return [*by_counts[activity], Patient.archived.is_(False)], True


def conditions(filters: ActiveFilters, now: datetime) -> tuple[list[ColumnElement[bool]], bool]:
    """The WHERE clause of a filter (within the organization's figures, ``figures.queries``) and
    whether it reads ``patients``."""
    return _conditions(filters, _values(filters, now))


def _values(filters: ActiveFilters, now: datetime) -> dict[str, Any]:
    """The values a filter compares with at ``now``, by the names ``_conditions`` reads."""
    values: dict[str, Any] = {}
    if filters.priority is not None:
        values |= {"high": now + timing.HIGH_WITHIN, "medium": now + timing.MEDIUM_WITHIN}
    if filters.appointment_type is not None:
        values["type_id"] = filters.appointment_type
    if filters.practitioner is not None:
        values["practitioner_id"] = filters.practitioner
    if filters.upcoming_within_days is not None:
        values["within_until"] = now + timedelta(days=filters.upcoming_within_days)
    return values


def _conditions(filters: ActiveFilters, values: Mapping[str, Any]) -> tuple[list[ColumnElement[bool]], bool]:
    """``conditions`` comparing with ``values``: plain values, or bound parameters of those names
    (``_page_statement``, which is built once per shape of filter)."""
    where, needs_patient = _activity_conditions(filters.activity)
    if filters.priority is not None:
        where.append(_priority_condition(filters.priority, values["high"], values["medium"]))
    if filters.appointment_type is not None:
        where.append(
            or_(
                Stats.next_appointment_type_id == values["type_id"],
                Stats.primary_appointment_type_id == values["type_id"],
            )
        )
    if filters.practitioner is not None:
        where.append(Stats.next_practitioner_id == values["practitioner_id"])
    if filters.upcoming_within_days is not None:
        where.append(Stats.next_appointment_at <= values["within_until"])
    return where, needs_patient


def order() -> list[Any]:
    """Soonest next appointment first; patients with nothing booked last, by name."""
    return [
        Stats.next_appointment_at.asc().nulls_last(),
        Patient.last_name_key,
        Patient.first_name_key,
        Patient.id,
    ]


def count(
    organization_id: str, filters: ActiveFilters, now: datetime, extra: Sequence[ColumnElement[bool]] = ()
) -> int:
    """How many patients ``filters`` (and ``extra`` conditions on the stats) select. The default
    list counts from the index on (organization_id, is_active) alone."""
    where, needs_patient = conditions(filters, now)
    return queries.count(organization_id, [*where, *extra], with_patient=needs_patient)


ROW_COLUMNS = (
    Stats.patient_id,
    Stats.is_active,
    Stats.activity_status,
    Stats.recent_attended,
    Stats.upcoming,
    Stats.total,
    Stats.first_appointment_at,
    Stats.last_attended_at,
    Stats.next_appointment_at,
    Stats.next_appointment_type_id,
    Stats.primary_appointment_type_id,
    Stats.next_practitioner_id,
)


def rows_statement(
    organization_id: str, filters: ActiveFilters, now: datetime, extra: Sequence[ColumnElement[bool]] = ()
) -> Select[Any]:
    """The figures of the patients ``filters`` selects with their names, in list order. Type and
    practitioner names come from ``References`` rather than joins, so a page reads two tables."""
    where, _needs_patient = conditions(filters, now)
    return _rows(organization_id, [*where, *extra])


def _rows(organization_id: Any, where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """The rows ``where`` selects in list order (``organization_id`` a value or a bound parameter)."""
    return (
        queries.with_patients(organization_id, *ROW_COLUMNS, Patient.first_name, Patient.last_name)
        .where(*where)
        .order_by(*order())
    )


# --- one row as the page and the export show it ----------------------------------------------


@dataclass(frozen=True)
class ActiveRow:
    patient_id: str
    first_name: str
    last_name: str
    is_active: bool
    activity_status: str
    recent: int
    upcoming: int
    total: int
    last_attended_at: datetime | None
    next_appointment_at: datetime | None
    next_type: str | None
    primary_type: str | None
    practitioner: str | None
    priority: str | None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def row_of(found: Any, now: datetime, names: References) -> ActiveRow:
    return ActiveRow(
        patient_id=found.patient_id,
        first_name=found.first_name,
        last_name=found.last_name,
        is_active=found.is_active,
        activity_status=found.activity_status,
        recent=found.recent_attended,
        upcoming=found.upcoming,
        total=found.total,
        last_attended_at=found.last_attended_at,
        next_appointment_at=found.next_appointment_at,
        next_type=names.types.get(found.next_appointment_type_id or ""),
        primary_type=names.types.get(found.primary_appointment_type_id or ""),
        practitioner=names.practitioners.get(found.next_practitioner_id or ""),
        priority=timing.priority(found.next_appointment_at, now),
    )


@dataclass(frozen=True)
class ActivePage:
    rows: list[ActiveRow]
    filters: ActiveFilters
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def first_shown(self) -> int:
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last_shown(self) -> int:
        return (self.page - 1) * self.page_size + len(self.rows)


def active_page(
    organization_id: str,
    filters: ActiveFilters,
    *,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    now: datetime,
    names: References | None = None,
) -> ActivePage:
    """One page of the patients ``filters`` selects (pages count from 1; past the end is empty)."""
    page = max(1, page)
    names = names or references(organization_id)
    values = _values(filters, now) | {"org": organization_id, "rows": page_size, "skip": (page - 1) * page_size}
    found = db.session.execute(_page_statement(_shape(filters)), values).all()
    # A page past the end has no row to carry the count: count apart.
    total = int(found[0].listed_count) if found else count(organization_id, filters, now)
    rows = [row_of(one, now, names) for one in found]
    return ActivePage(rows=rows, filters=filters, page=page, page_size=page_size, total=total)


def _shape(filters: ActiveFilters) -> ActiveFilters:
    """What a filter's statement depends on: its activity and priority, and which of the other
    filters are set (their values are bound parameters)."""
    return ActiveFilters(
        activity=filters.activity,
        priority=filters.priority,
        appointment_type="" if filters.appointment_type is not None else None,
        practitioner="" if filters.practitioner is not None else None,
        upcoming_within_days=0 if filters.upcoming_within_days is not None else None,
    )


@functools.lru_cache(maxsize=128)
def _page_statement(shape: ActiveFilters) -> Select[Any]:
    """One page of a filter of this ``shape`` with its count, built once: every view of the page
    would otherwise build and key the same statement again (about 0.4 ms). The count rides in the
    page's statement (one round trip, the same snapshot as the rows)."""
    moment = Stats.next_appointment_at.type
    values = {
        "high": bindparam("high", type_=moment),
        "medium": bindparam("medium", type_=moment),
        "type_id": bindparam("type_id", type_=String),
        "practitioner_id": bindparam("practitioner_id", type_=String),
        "within_until": bindparam("within_until", type_=moment),
    }
    org = bindparam("org", type_=String)
    where, needs_patient = _conditions(shape, values)
    counted = queries.count_statement(org, where, with_patient=needs_patient)
    return (
        _rows(org, where)
        .add_columns(counted.scalar_subquery().label("listed_count"))
        .limit(bindparam("rows", type_=Integer))
        .offset(bindparam("skip", type_=Integer))
    )


def all_rows(
    organization_id: str, filters: ActiveFilters, *, now: datetime, names: References | None = None
) -> Iterator[ActiveRow]:
    """Every patient ``filters`` selects, in list order, streamed a chunk at a time."""
    names = names or references(organization_id)
    statement = rows_statement(organization_id, filters, now).execution_options(yield_per=_EXPORT_CHUNK)
    for found in db.session.execute(statement):
        yield row_of(found, now, names)
