"""Caseload pages: Today (a practitioner's day) and Active patients (filters, pages, CSV).
Thin: parse, call the service, render; htmx requests get the fragment the page includes."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from flask import Response, request, session, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth.identity import current_identity
from clinic_app.caseload import active, bp, service, today
from clinic_app.caseload.references import references
from clinic_app.core.access import requires
from clinic_app.core.memo import per_request
from clinic_app.core.tenancy import current_actor, current_organization_id, current_user_id
from clinic_app.core.time import in_zone, local_date, organization_zone, utcnow
from clinic_app.core.web import render_page

# The practitioner whose day someone looked at last, per organization (a choice, not a secret).
REMEMBERED_PRACTITIONER = "caseload_practitioner"
PRIORITY_LABELS = {"high": "High", "medium": "Medium", "low": "Low"}
STATUS_LABELS = {
    "booked": "Booked",
    "attended": "Attended",
    "cancelled": "Cancelled",
    "did_not_arrive": "Did not arrive",
}
ACTIVITY_LABELS = {
    "active": "Active",
    "recently_active": "Recently active",
    "upcoming_only": "Upcoming only",
    "inactive": "Inactive",
}


def _zone() -> tzinfo:
    memo = per_request("caseload_zone")
    if memo is not None and "zone" in memo:
        return memo["zone"]
    zone = organization_zone(current_organization_id())
    if memo is not None:
        memo["zone"] = zone
    return zone


_ID_SLOT = "patient-id-slot"


def patient_url(patient_id: str) -> str:
    """The patient record's address: the route is built once per request, not once per row."""
    memo = per_request("caseload_patient_url")
    if memo is None:
        return url_for("patients.detail", patient_id=patient_id)
    if "template" not in memo:
        memo["template"] = url_for("patients.detail", patient_id=_ID_SLOT)
    return memo["template"].replace(_ID_SLOT, patient_id)


@bp.context_processor
def _caseload_template_helpers() -> dict[str, Any]:
    def local(value: datetime | None, pattern: str = "%H:%M") -> str:
        return in_zone(value, _zone()).strftime(pattern) if value is not None else ""

    return {
        "local": local,
        "priority_labels": PRIORITY_LABELS,
        "status_labels": STATUS_LABELS,
        "activity_labels": ACTIVITY_LABELS,
        "day_url": day_url,
        "patient_url": patient_url,
        "list_url": list_url,
    }


# --- Today ------------------------------------------------------------------------------------


def _remembered(organization_id: str) -> str | None:
    stored = session.get(REMEMBERED_PRACTITIONER)
    return stored.get(organization_id) if isinstance(stored, dict) else None


def _remember(organization_id: str, choice: str) -> None:
    stored = session.get(REMEMBERED_PRACTITIONER)
    stored = dict(stored) if isinstance(stored, dict) else {}
    if stored.get(organization_id) != choice:
        stored[organization_id] = choice
        session[REMEMBERED_PRACTITIONER] = stored


@bp.get("/today")
@requires("appointments:read")
def today_page() -> ResponseReturnValue:
    organization_id, now, zone = current_organization_id(), utcnow(), _zone()
    local_today = local_date(now, zone)
    day, day_error = today.parse_day(request.args.get("date"), local_today)
    known = today.practitioners(organization_id)
    asked = (request.args.get("practitioner") or "").strip() or None
    remembered = _remembered(organization_id)
    chosen, who_error = today.choose_practitioner(
        organization_id, asked=asked, remembered=remembered, user_id=current_user_id(), known=known
    )
    if asked and who_error is None:
        _remember(organization_id, chosen)
    result = service.practitioner_day(
        organization_id, day, practitioner_id=chosen, actor=current_actor(), now=now, zone=zone
    )
    identity = current_identity()
    errors = [error for error in (day_error, who_error) if error is not None]
    context = {
        "result": result,
        "practitioners": known,
        "chosen": chosen,
        "chosen_name": next((p.name for p in known if p.id == chosen), None),
        "is_today": day == local_today,
        "local_today": local_today,
        "prev_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "errors": errors,
        # A clinician who has not picked themselves yet is asked to (front desk sees everyone).
        "ask_to_pick": chosen == today.ALL
        and not remembered
        and not asked
        and identity is not None
        and identity.role == "clinician",
        "zone_name": str(zone),
    }
    return render_page("caseload/today.html", "caseload/_today.html", **context), 422 if errors else 200


def day_url(day: date, chosen: str) -> str:
    return url_for("caseload.today_page", date=day.isoformat(), practitioner=chosen)


# --- Active patients --------------------------------------------------------------------------


def _page_number(value: str | None) -> int:
    """The page asked for, 1 to 99,999; the first for anything else (ASCII digits only: ``int``
    refuses some characters ``isdigit`` accepts, such as "²")."""
    text = (value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 5 and int(text) > 0 else 1


@bp.get("/caseload/active")
@requires("dashboard:read")
def active_patients() -> ResponseReturnValue:
    organization_id = current_organization_id()
    names = references(organization_id)
    filters, errors = active.parse_filters(names, request.args)
    found = service.active_patients(
        organization_id,
        filters,
        page=_page_number(request.args.get("page")),
        actor=current_actor(),
        now=utcnow(),
        names=names,
    )
    context = {
        "found": found,
        "filters": filters,
        "errors": errors,
        "activities": active.ACTIVITIES,
        "priorities": active.PRIORITIES,
        "appointment_types": names.type_choices(),
        "practitioners": names.practitioner_choices(),
    }
    return render_page("caseload/active.html", "caseload/_active.html", **context), 422 if errors else 200


def list_url(filters: active.ActiveFilters, **extra: Any) -> str:
    return url_for("caseload.active_patients", **filters.query_args(**extra))


@bp.get("/caseload/active.csv")
@requires("dashboard:read")
def active_patients_csv() -> Response:
    organization_id, now = current_organization_id(), utcnow()
    names = references(organization_id)
    filters = active.require_filters(names, request.args)
    text, _count = service.export_active_patients(
        organization_id, filters, actor=current_actor(), now=now, zone=_zone(), names=names
    )
    stamp = local_date(now, _zone()).isoformat()
    # A byte-order mark so spreadsheet programs read the names as UTF-8.
    response = Response("\ufeff" + text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="active-patients-{stamp}.csv"'
    return response
