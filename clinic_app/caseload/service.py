"""What the caseload pages do: read a day or a list and say in the audit trail who saw which
patients. Functions take the organization, actor and clock explicitly (no request), read the
stored figures as they are (``clinic_app.figures`` keeps them current) and only flush."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from clinic_app.caseload import active, active_csv, today
from clinic_app.caseload.active import ActiveFilters, ActivePage
from clinic_app.caseload.references import References
from clinic_app.caseload.today import DayAppointment
from clinic_app.core import audit


def _listed(organization_id: str, actor: audit.Actor, listing: str, patient_ids: list[str], **details: Any) -> None:
    """Which patients a list showed (ids only), so the trail can answer who saw a patient."""
    audit.record(
        "patient.listed",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        details={"list": listing, "results": len(patient_ids), "patient_ids": patient_ids, **details},
    )


@dataclass(frozen=True)
class Day:
    day: date
    practitioner_id: str
    appointments: list[DayAppointment]


def practitioner_day(
    organization_id: str, day: date, *, practitioner_id: str, actor: audit.Actor, now: datetime, zone: tzinfo
) -> Day:
    """The appointments of ``day`` for a practitioner (or "all"), recording ``patient.listed``
    with the patients shown."""
    rows = today.day_appointments(organization_id, day, practitioner_id=practitioner_id, now=now, zone=zone)
    patient_ids = list(dict.fromkeys(row.patient_id for row in rows if row.patient_id))
    _listed(
        organization_id,
        actor,
        "today",
        patient_ids,
        channel="web",
        day=day.isoformat(),
        practitioner_id=practitioner_id,
    )
    return Day(day=day, practitioner_id=practitioner_id, appointments=rows)


def active_patients(
    organization_id: str,
    filters: ActiveFilters,
    *,
    page: int,
    actor: audit.Actor,
    now: datetime,
    names: References | None = None,
) -> ActivePage:
    """One page of the active-patients list; records ``patient.listed`` with the patients shown."""
    found = active.active_page(organization_id, filters, page=page, now=now, names=names)
    _listed(
        organization_id,
        actor,
        "active_patients",
        [row.patient_id for row in found.rows],
        channel="web",
        filters=filters.as_details(),
        page=found.page,
    )
    return found


def export_active_patients(
    organization_id: str,
    filters: ActiveFilters,
    *,
    actor: audit.Actor,
    now: datetime,
    zone: tzinfo,
    names: References | None = None,
) -> tuple[str, int]:
    """Every patient the filters select as CSV text (and how many), recording
    ``patients.exported`` with their ids and the filters."""
    rows = list(active.all_rows(organization_id, filters, now=now, names=names))
    audit.record(
        "patients.exported",
        organization_id=organization_id,
        actor=actor,
        target_type="patient",
        details={
            "list": "active_patients",
            "format": "csv",
            "filters": filters.as_details(),
            "results": len(rows),
            "patient_ids": [row.patient_id for row in rows],
        },
    )
    return active_csv.csv_text(rows, zone), len(rows)
