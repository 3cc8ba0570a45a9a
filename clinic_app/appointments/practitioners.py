"""Practitioners and appointment types kept in the app (clinics without Cliniko): list, add,
change, archive and restore.

Changing them is a practice-setup task: the pages and services are for ``admin:organization``
(owners and practice admins); everyone with ``appointments:read`` can list them. Rows that came
from Cliniko are read-only while the organization is connected (the sync owns them). Nothing is
deleted: an archived practitioner or type keeps its appointments and takes no new bookings.
Functions take the organization explicitly, only flush, and audit every change with ids only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from clinic_app.appointments.calendar_source import cliniko_connected
from clinic_app.appointments.models import AppointmentType, Practitioner
from clinic_app.core import audit
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs

COLOR_CHOICES = ("teal", "blue", "violet", "amber", "rose", "green", "slate")
DURATION_MIN, DURATION_MAX = 5, 480


# --- practitioners ------------------------------------------------------------------------------


def list_practitioners(organization_id: str, *, include_archived: bool = False) -> list[Practitioner]:
    """The organization's practitioners by name (active ones only unless asked)."""
    query = select(Practitioner).where(Practitioner.organization_id == organization_id)
    if not include_archived:
        query = query.where(Practitioner.archived_at.is_(None), Practitioner.active.is_(True))
    return list(db.session.scalars(query.order_by(Practitioner.last_name, Practitioner.first_name, Practitioner.id)))


def get_practitioner(organization_id: str, practitioner_id: str) -> Practitioner:
    found = db.session.get(Practitioner, practitioner_id) if practitioner_id else None
    if found is None or found.organization_id != organization_id:
        raise NotFound("No such practitioner.")
    return found


@dataclass(frozen=True)
class PractitionerInput:
    title: str | None
    first_name: str
    last_name: str
    designation: str | None
    user_id: str | None


def _text(raw: dict[str, Any], name: str, limit: int) -> str:
    return str(raw.get(name) or "").strip()[: limit + 1]


def validate_practitioner(organization_id: str, raw: dict[str, Any]) -> PractitionerInput:
    """Names required (first or last), lengths within the columns, a linked user must be an
    active member of the organization. Raises Invalid listing each field."""
    errors: list[FieldError] = []
    title, first, last = _text(raw, "title", 40), _text(raw, "first_name", 100), _text(raw, "last_name", 100)
    designation, user_id = _text(raw, "designation", 200), _text(raw, "user_id", 40)
    if not first and not last:
        errors.append(FieldError("last_name", "Give the practitioner's name."))
    for name, value, limit in (
        ("title", title, 40),
        ("first_name", first, 100),
        ("last_name", last, 100),
        ("designation", designation, 200),
    ):
        if len(value) > limit:
            errors.append(FieldError(name, f"Keep this under {limit} characters."))
    if user_id and orgs.active_membership(user_id, organization_id) is None:
        errors.append(FieldError("user_id", "Choose a member of this clinic's staff."))
    if errors:
        raise Invalid(errors=errors)
    return PractitionerInput(title or None, first, last, designation or None, user_id or None)


def staff_choices(organization_id: str) -> list[tuple[str, str]]:
    """(user id, name) of the organization's active staff, for linking a practitioner."""
    return sorted(
        (
            (user.id, user.display_name or user.email)
            for membership, user in orgs.members(organization_id)
            if membership.is_active
        ),
        key=lambda item: item[1].lower(),
    )


def _writable(organization_id: str, row: Practitioner | AppointmentType) -> None:
    if row.cliniko_id is not None and cliniko_connected(organization_id):
        raise Conflict("This comes from Cliniko: change it there; the next sync brings the change here.")


def _record(action: str, organization_id: str, kind: str, target_id: str, actor: audit.Actor, **details: Any) -> None:
    audit.record(
        action,
        organization_id=organization_id,
        actor=actor,
        target_type=kind,
        target_id=target_id,
        details={key: value for key, value in details.items() if value is not None},
    )


def create_practitioner(organization_id: str, data: PractitionerInput, *, actor: audit.Actor) -> Practitioner:
    practitioner = Practitioner(organization_id=organization_id, active=True)
    _apply_practitioner(practitioner, data)
    db.session.add(practitioner)
    db.session.flush()
    _record("practitioner.created", organization_id, "practitioner", practitioner.id, actor)
    return practitioner


def _apply_practitioner(practitioner: Practitioner, data: PractitionerInput) -> list[str]:
    changed = []
    for name in ("title", "first_name", "last_name", "designation", "user_id"):
        if getattr(practitioner, name) != getattr(data, name):
            setattr(practitioner, name, getattr(data, name))
            changed.append(name)
    return changed


def update_practitioner(
    organization_id: str, practitioner_id: str, data: PractitionerInput, *, actor: audit.Actor
) -> list[str]:
    """Change the practitioner; returns the names of the fields that changed."""
    practitioner = get_practitioner(organization_id, practitioner_id)
    _writable(organization_id, practitioner)
    changed = _apply_practitioner(practitioner, data)
    if changed:
        db.session.flush()
        _record("practitioner.updated", organization_id, "practitioner", practitioner.id, actor, fields=changed)
    return changed


def set_practitioner_archived(
    organization_id: str, practitioner_id: str, archived: bool, *, actor: audit.Actor
) -> Practitioner:
    """Archive (no new bookings; appointments stay) or restore. Idempotent."""
    practitioner = get_practitioner(organization_id, practitioner_id)
    _writable(organization_id, practitioner)
    if (practitioner.archived_at is not None) == archived:
        return practitioner
    practitioner.archived_at = utcnow() if archived else None
    practitioner.active = not archived
    db.session.flush()
    action = "practitioner.archived" if archived else "practitioner.restored"
    _record(action, organization_id, "practitioner", practitioner.id, actor)
    return practitioner


# --- appointment types ----------------------------------------------------------------------------


def list_types(organization_id: str, *, include_archived: bool = False) -> list[AppointmentType]:
    query = select(AppointmentType).where(AppointmentType.organization_id == organization_id)
    if not include_archived:
        query = query.where(AppointmentType.archived_at.is_(None))
    return list(db.session.scalars(query.order_by(AppointmentType.name, AppointmentType.id)))


def get_type(organization_id: str, appointment_type_id: str) -> AppointmentType:
    found = db.session.get(AppointmentType, appointment_type_id) if appointment_type_id else None
    if found is None or found.organization_id != organization_id:
        raise NotFound("No such appointment type.")
    return found


@dataclass(frozen=True)
class TypeInput:
    name: str
    duration_minutes: int
    category: str | None
    color: str | None


def validate_type(organization_id: str, raw: dict[str, Any], *, current_id: str | None = None) -> TypeInput:
    """A name (unique among the organization's types that are not archived), a duration of 5 to
    480 minutes, an optional category and one of the colours. Raises Invalid listing each field."""
    errors: list[FieldError] = []
    name, category, color = _text(raw, "name", 200), _text(raw, "category", 200), _text(raw, "color", 20)
    duration: int | None = None
    raw_duration = str(raw.get("duration_minutes") or "").strip()
    try:
        duration = int(raw_duration)
    except ValueError:
        errors.append(FieldError("duration_minutes", "Give the usual length in whole minutes."))
    if duration is not None and not DURATION_MIN <= duration <= DURATION_MAX:
        errors.append(FieldError("duration_minutes", f"Choose {DURATION_MIN} to {DURATION_MAX} minutes."))
    if not name:
        errors.append(FieldError("name", "Give the appointment type a name."))
    elif len(name) > 200:
        errors.append(FieldError("name", "Keep the name under 200 characters."))
    else:
        same = select(func.count()).where(
            AppointmentType.organization_id == organization_id,
            AppointmentType.archived_at.is_(None),
            func.lower(AppointmentType.name) == name.lower(),
        )
        if current_id:
            same = same.where(AppointmentType.id != current_id)
        if db.session.scalar(same):
            errors.append(FieldError("name", "There is already an appointment type with this name."))
    if len(category) > 200:
        errors.append(FieldError("category", "Keep the category under 200 characters."))
    if color and color not in COLOR_CHOICES:
        errors.append(FieldError("color", f"Choose one of: {', '.join(COLOR_CHOICES)}."))
    if errors:
        raise Invalid(errors=errors)
    return TypeInput(name, duration or DURATION_MIN, category or None, color or None)


def create_type(organization_id: str, data: TypeInput, *, actor: audit.Actor) -> AppointmentType:
    appointment_type = AppointmentType(organization_id=organization_id)
    _apply_type(appointment_type, data)
    db.session.add(appointment_type)
    db.session.flush()
    _record("appointment_type.created", organization_id, "appointment_type", appointment_type.id, actor)
    return appointment_type


def _apply_type(appointment_type: AppointmentType, data: TypeInput) -> list[str]:
    changed = []
    for name in ("name", "duration_minutes", "category", "color"):
        if getattr(appointment_type, name) != getattr(data, name):
            setattr(appointment_type, name, getattr(data, name))
            changed.append(name)
    return changed


def update_type(organization_id: str, appointment_type_id: str, data: TypeInput, *, actor: audit.Actor) -> list[str]:
    appointment_type = get_type(organization_id, appointment_type_id)
    _writable(organization_id, appointment_type)
    changed = _apply_type(appointment_type, data)
    if changed:
        db.session.flush()
        _record(
            "appointment_type.updated", organization_id, "appointment_type", appointment_type.id, actor, fields=changed
        )
    return changed


def set_type_archived(
    organization_id: str, appointment_type_id: str, archived: bool, *, actor: audit.Actor
) -> AppointmentType:
    appointment_type = get_type(organization_id, appointment_type_id)
    _writable(organization_id, appointment_type)
    if (appointment_type.archived_at is not None) == archived:
        return appointment_type
    if not archived:
        validate_type(
            organization_id,
            {"name": appointment_type.name, "duration_minutes": appointment_type.duration_minutes or DURATION_MIN},
            current_id=appointment_type.id,
        )  # restoring must not make two active types of one name
    appointment_type.archived_at = utcnow() if archived else None
    db.session.flush()
    action = "appointment_type.archived" if archived else "appointment_type.restored"
    _record(action, organization_id, "appointment_type", appointment_type.id, actor)
    return appointment_type
