"""The double-booking rule: a practitioner's appointments that still hold their slot must not
overlap, and bookings of one practitioner are serialised so two at the same moment cannot both
pass the check (docs/appointments.md, "No double booking")."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text

from clinic_app.appointments.models import Appointment, Practitioner
from clinic_app.core.errors import Conflict, FieldError, NotFound
from clinic_app.core.time import in_zone, organization_zone, shifted
from clinic_app.extensions import db

DEFAULT_LENGTH = timedelta(minutes=30)  # a type without a duration, or a synced row without an end
LONGEST = timedelta(hours=12)
LONGEST_MINUTES = int(LONGEST.total_seconds() // 60)


class DoubleBooked(Conflict):
    """The practitioner already has an appointment at that time (409, with the field it concerns)."""

    title = "Double booking"

    def __init__(self, detail: str, *, clash_id: str) -> None:
        super().__init__(detail, conflicting_appointment_id=clash_id)
        self.errors = [FieldError("starts_at", detail)]


def load_practitioner(organization_id: str, practitioner_id: str | None, *, lock: bool = False) -> Practitioner:
    """The organization's practitioner; with ``lock``, held until the transaction ends so bookings
    of one practitioner run one after the other (PostgreSQL: a row lock; SQLite, which has no row
    locks and begins its transaction only at the first write: a no-op write that takes the
    database's write lock before the double-booking check reads anything)."""
    if lock and db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE practitioners SET active = active WHERE id = :id"), {"id": practitioner_id})
    query = select(Practitioner).where(
        Practitioner.id == (practitioner_id or ""), Practitioner.organization_id == organization_id
    )
    practitioner = db.session.scalar(query.with_for_update() if lock else query)
    if practitioner is None:
        raise NotFound("No such practitioner.")
    return practitioner


def find_clash(
    organization_id: str,
    practitioner_id: str,
    starts_at: datetime,
    ends_at: datetime,
    *,
    ignore_id: str | None = None,
) -> Appointment | None:
    """The practitioner's first appointment overlapping [starts_at, ends_at) that still holds its
    slot (not cancelled, deleted or archived), or None. Index range on (organization,
    practitioner, starts_at): only appointments starting up to 12 hours before can overlap."""
    query = (
        select(Appointment)
        .where(
            Appointment.organization_id == organization_id,
            Appointment.practitioner_id == practitioner_id,
            Appointment.starts_at < ends_at,
            Appointment.starts_at > starts_at - LONGEST,
            Appointment.cancelled_at.is_(None),
            Appointment.deleted_at.is_(None),
            Appointment.archived_at.is_(None),
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    for other in db.session.scalars(query):
        other_end = other.ends_at or shifted(other.starts_at, DEFAULT_LENGTH)
        if other.id != ignore_id and other_end > starts_at:
            return other
    return None


def refuse_clash(
    organization_id: str, practitioner: Practitioner, starts_at: datetime, ends_at: datetime, ignore_id: str | None
) -> None:
    clash = find_clash(organization_id, practitioner.id, starts_at, ends_at, ignore_id=ignore_id)
    if clash is None:
        return
    zone = organization_zone(organization_id)
    start = in_zone(clash.starts_at, zone)
    end = in_zone(clash.ends_at or shifted(clash.starts_at, DEFAULT_LENGTH), zone)
    raise DoubleBooked(
        f"{practitioner.display_name or 'This practitioner'} already has an appointment "
        f"{start:%a %d %b %Y} {start:%H:%M} to {end:%H:%M}: choose another time or practitioner.",
        clash_id=clash.id,
    )
