"""Demo bookings for the embedded default: the demo clinic that is not connected to Cliniko
(*Northside Mind Health*) gets three practitioners, three appointment types, a dozen patients and
a few dozen appointments from twelve days ago to nine days ahead, so its calendar is not empty.

Booked through ``booking`` (so nobody is double-booked and every booking is audited like a real
one). Idempotent: a clinic that already has appointments, or practitioners of its own, is left
as it is.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, select

from clinic_app.appointments import booking
from clinic_app.appointments import practitioners as setup
from clinic_app.appointments.calendar_source import cliniko_connected
from clinic_app.appointments.forms import local_moment
from clinic_app.appointments.models import CANCELLATION_REASON_FIELD, CANCELLED, Appointment, Practitioner
from clinic_app.core import audit, crypto
from clinic_app.core.errors import DomainError
from clinic_app.core.time import local_date, utcnow, zone_named
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.orgs.models import Organization
from clinic_app.patients import service as patients

DEMO_CLINIC_SLUG = "northside-mind-health"
OWNER_EMAIL = "owner@northside.example"
PRACTITIONERS = (  # title, first, last, designation, linked to the owner
    ("Dr", "Nadia", "Northside", "Clinical psychologist", True),
    (None, "Sam", "Okafor", "Psychologist", False),
    (None, "Leila", "Tanaka", "Mental health social worker", False),
)
TYPES = (("Initial assessment", 60, "violet"), ("Therapy session", 50, "teal"), ("Review", 30, "green"))
PATIENTS = (
    ("Ava", "Thompson"), ("Noah", "Papadopoulos"), ("Isla", "Chen"), ("Liam", "O'Brien"), ("Mia", "Singh"),
    ("Oliver", "Kowalski"), ("Ruby", "Haddad"), ("Kai", "Te Whare"), ("Zoë", "Martin"), ("Arjun", "Patel"),
    ("Grace", "Murphy"), ("Hamish", "Campbell"),
)  # fmt: skip
SEED = 6  # the same bookings every time the demo is built on the same day


def seed_demo_appointments() -> list[str]:
    """Create the demo clinic's practitioners, types, patients and bookings; returns lines to print."""
    if current_app.config["PRODUCTION"]:
        return []
    organization = db.session.scalar(select(Organization).where(Organization.slug == DEMO_CLINIC_SLUG))
    if organization is None:
        return []
    org = organization.id
    if cliniko_connected(org):
        return [f"Demo bookings: {organization.name} is connected to Cliniko; nothing added."]
    has_any = db.session.scalar(select(func.count()).select_from(Appointment).where(Appointment.organization_id == org))
    own = db.session.scalar(
        select(func.count())
        .select_from(Practitioner)
        .where(Practitioner.organization_id == org, Practitioner.cliniko_id.is_(None))
    )
    if has_any or own:
        return [f"Demo bookings: {organization.name} already has its calendar (Appointments page)."]
    actor = audit.Actor()
    people = _practitioners(org, actor)
    kinds = [
        setup.create_type(org, setup.validate_type(org, {"name": n, "duration_minutes": m, "color": c}), actor=actor)
        for n, m, c in TYPES
    ]
    patient_ids = _patients(org, actor)
    made = _bookings(organization, people, [k.id for k in kinds], patient_ids, actor)
    figures.recompute(org)
    return [f"Demo bookings: {made} appointments for {organization.name} (sign in as {OWNER_EMAIL})."]


def _practitioners(org: str, actor: audit.Actor) -> list[str]:
    from clinic_app.accounts import service as accounts

    owner = accounts.find_by_email(OWNER_EMAIL)
    ids = []
    for title, first, last, designation, linked in PRACTITIONERS:
        raw = {"title": title, "first_name": first, "last_name": last, "designation": designation}
        if linked and owner is not None:
            raw["user_id"] = owner.id
        ids.append(setup.create_practitioner(org, setup.validate_practitioner(org, raw), actor=actor).id)
    return ids


def _patients(org: str, actor: audit.Actor) -> list[str]:
    ids = []
    for first, last in PATIENTS:
        data = patients.validate_for(org, {"first_name": first, "last_name": last})
        ids.append(patients.create_patient(org, data, actor=actor).id)
    return ids


def _bookings(
    organization: Organization, people: list[str], kinds: list[str], patient_ids: list[str], actor: audit.Actor
) -> int:
    rng = random.Random(SEED)  # noqa: S311 - made-up demo data
    zone = zone_named(organization.time_zone)
    now = utcnow()
    today = local_date(now, zone)
    vault = crypto.vault_for(organization.id)
    made = 0
    for offset in range(-12, 10):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for practitioner_id in people:
            for hour in rng.sample((9, 10, 11, 13, 14, 15, 16), k=rng.choice((1, 1, 2))):
                starts_at = local_moment(day, time(hour, 0), zone)
                try:
                    appointment = booking.book(
                        organization.id,
                        patient_id=rng.choice(patient_ids),
                        practitioner_id=practitioner_id,
                        appointment_type_id=rng.choice(kinds),
                        starts_at=starts_at,
                        actor=actor,
                    )
                except DomainError:
                    continue
                made += 1
                roll = rng.random()
                if starts_at <= now and roll < 0.06:
                    booking.mark_did_not_arrive(organization.id, appointment.id, actor=actor)
                elif roll < 0.14:
                    _cancelled(appointment, starts_at, now, vault, actor)
    return made


def _cancelled(
    appointment: Appointment, starts_at: datetime, now: datetime, vault: crypto.Vault, actor: audit.Actor
) -> None:
    """A cancellation: through the service for one still ahead; written as history for a past one
    (the service refuses to cancel what has started)."""
    if starts_at > now:
        booking.cancel(appointment.organization_id, appointment.id, reason="Feeling unwell", actor=actor)
        return
    appointment.cancelled_at = starts_at - timedelta(days=1, hours=3)
    appointment.cancellation_reason_enc = vault.encrypt(CANCELLATION_REASON_FIELD, "Work commitment")
    appointment.status = CANCELLED
    db.session.flush()
