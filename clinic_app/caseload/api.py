"""Seed 001's active-patient endpoints under ``/api/v1/patients/{organization_id}/...``.

The organization in the path must be the caller's (the access layer answers 404 otherwise, the
same as for one that does not exist). Lists that carry phone numbers and e-mail addresses need
``patients:read`` and record which patients were shown; the figures-only summaries need
``dashboard:read``. "Active", "recent", "upcoming" and "priority" are the rules of docs/rules.md.
"""

from __future__ import annotations

from clinic_app.caseload import active_details, bp
from clinic_app.caseload.schemas import (
    MAX_OFFSET,
    ActivePatientsByTypeOut,
    ActivePatientsSummaryOut,
    ActivePatientsTypeGroup,
    PatientActivityByTypePageOut,
    PatientActivityOut,
    PatientActivityPageOut,
    PatientActivityWithPriorityOut,
    PatientActivityWithPriorityPageOut,
    PatientsQuery,
)
from clinic_app.core.access import requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.pagination import offset_cursor, offset_from_cursor
from clinic_app.core.tenancy import current_actor
from clinic_app.core.time import utcnow

TAGS = ("patients",)
ORDER_NOTE = (
    " Soonest next appointment first (patients with nothing booked last, by name); `limit` at a time (at most "
    "200): follow `next_cursor` until it is null (`offset` still works for earlier clients). Phone and e-mail are "
    "decrypted for the page shown, and the read is recorded in the audit trail with the patients' ids."
)
OFFSET_REASON = "seed 001's active-patient lists, which earlier clients of this API page with `offset`"


def _start(query: PatientsQuery) -> int:
    """Where the page starts: the cursor's position, or ``offset`` (never both)."""
    if query.cursor is None:
        return query.offset
    if query.offset:
        raise Invalid(
            errors=[FieldError("offset", "Leave offset out when paging with cursor.", "CONFLICTING_PARAMETERS")]
        )
    return offset_from_cursor(query.cursor, maximum=MAX_OFFSET)


def _page(
    start: int, query: PatientsQuery, page: active_details.PatientPage, organization_id: str
) -> dict[str, object]:
    after = start + len(page.patients)
    return {
        "organization_id": organization_id,
        "total_count": page.total,
        "limit": query.limit,
        "offset": start,
        "has_more": after < page.total,
        "timestamp": utcnow(),
        "next_cursor": offset_cursor(after) if page.patients and after < page.total else None,
    }


@api_route(
    bp,
    "/api/v1/patients/<organization_id>/patients",
    paginated="offset-seed",
    offset_reason=OFFSET_REASON,
    query=PatientsQuery,
    response=PatientActivityPageOut,
    summary="List active patients",
    description="Active patients (a recent attended or an upcoming appointment, docs/rules.md) with their "
    "contact details, figures and appointments." + ORDER_NOTE,
    tags=TAGS,
)
@requires("patients:read")
def api_active_patients(organization_id: str, query: PatientsQuery) -> PatientActivityPageOut:
    start = _start(query)
    page = active_details.active_patient_page(
        organization_id,
        limit=query.limit,
        offset=start,
        actor=current_actor(),
        now=utcnow(),
        listing="api_active_patients",
    )
    return PatientActivityPageOut(
        patients=[PatientActivityOut.model_validate(p) for p in page.patients],
        **_page(start, query, page, organization_id),
    )


@api_route(
    bp,
    "/api/v1/patients/<organization_id>/active/summary",
    response=ActivePatientsSummaryOut,
    summary="Active patients in figures",
    description="How many patients are active, how many of them have recent and upcoming appointments, and "
    "averages over them (two decimals). No patient details.",
    tags=TAGS,
)
@requires("dashboard:read")
def api_active_summary(organization_id: str) -> ActivePatientsSummaryOut:
    now = utcnow()
    figures = active_details.active_summary(organization_id, now=now)
    return ActivePatientsSummaryOut(organization_id=organization_id, timestamp=now, **figures)


@api_route(
    bp,
    "/api/v1/patients/<organization_id>/patients/with-appointments",
    paginated="offset-seed",
    offset_reason=OFFSET_REASON,
    query=PatientsQuery,
    response=PatientActivityWithPriorityPageOut,
    summary="List active patients with the priority of their next appointment",
    description="The active patients as in the list, each with `priority` (high within 24 h, medium within 72 h, "
    "else low; null when nothing is booked) and the hours and days until the next appointment." + ORDER_NOTE,
    tags=TAGS,
)
@requires("patients:read")
def api_patients_with_appointments(organization_id: str, query: PatientsQuery) -> PatientActivityWithPriorityPageOut:
    start = _start(query)
    page = active_details.active_patient_page(
        organization_id,
        limit=query.limit,
        offset=start,
        actor=current_actor(),
        now=utcnow(),
        listing="api_patients_with_appointments",
    )
    return PatientActivityWithPriorityPageOut(
        patients=[PatientActivityWithPriorityOut.model_validate(p) for p in page.patients],
        **_page(start, query, page, organization_id),
    )


@api_route(
    bp,
    "/api/v1/patients/<organization_id>/patients/by-appointment-type/<appointment_type>",
    paginated="offset-seed",
    offset_reason=OFFSET_REASON,
    query=PatientsQuery,
    response=PatientActivityByTypePageOut,
    summary="List active patients by appointment type",
    description="Active patients whose next or primary appointment type has this name (e.g. `Physiotherapy`; "
    "case does not matter). An unknown type gives an empty list." + ORDER_NOTE,
    tags=TAGS,
)
@requires("patients:read")
def api_patients_by_appointment_type(
    organization_id: str, appointment_type: str, query: PatientsQuery
) -> PatientActivityByTypePageOut:
    start = _start(query)
    type_ids = active_details.type_ids_named(organization_id, appointment_type)
    if type_ids:
        page = active_details.active_patient_page(
            organization_id,
            limit=query.limit,
            offset=start,
            actor=current_actor(),
            now=utcnow(),
            listing="api_patients_by_appointment_type",
            extra=active_details.of_types(type_ids),
        )
    else:
        page = active_details.PatientPage(patients=[], total=0)
    return PatientActivityByTypePageOut(
        appointment_type=appointment_type,
        patients=[PatientActivityOut.model_validate(p) for p in page.patients],
        **_page(start, query, page, organization_id),
    )


@api_route(
    bp,
    "/api/v1/patients/<organization_id>/patients/appointment-types/summary",
    unpaged="one row per appointment type the active patients have",
    response=ActivePatientsByTypeOut,
    summary="Active patients by appointment type",
    description="The active patients grouped by their next and primary appointment types, largest group first, "
    "with how many have something upcoming and the range of their next appointments.",
    tags=TAGS,
)
@requires("dashboard:read")
def api_appointment_types_summary(organization_id: str) -> ActivePatientsByTypeOut:
    now = utcnow()
    groups = [
        ActivePatientsTypeGroup(**group) for group in active_details.appointment_types_summary(organization_id, now=now)
    ]
    return ActivePatientsByTypeOut(
        organization_id=organization_id, appointment_types=groups, total_types=len(groups), timestamp=now
    )
