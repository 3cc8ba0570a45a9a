"""``flask seed-scale --patients N``: realistic synthetic patients for one organization, fast.

For load and list-performance testing. Rows are built in memory (encrypted fields and blind
indexes included, exactly as the service writes them) and inserted in batches with one
multi-row INSERT each; every name, date and number is made up from the small lists below.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta
from typing import Any

import click
import phonenumbers
from flask import Flask
from sqlalchemy import insert, select

from clinic_app.core import audit, crypto
from clinic_app.core.db import new_id
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from clinic_app.patients.models import Patient, PatientIdentifier
from clinic_app.patients.storage import identifier_rows, write_fields
from clinic_app.patients.validation import PatientInput, Phone

BATCH = 1000

FIRST_NAMES = (
    "Olivia", "Charlotte", "Amelia", "Isla", "Mia", "Ava", "Grace", "Zoë", "Harper", "Chloe", "Ruby", "Sienna",
    "Matilda", "Ivy", "Aaliyah", "Priya", "Mei", "Sofia", "Hannah", "Ngaio", "Jack", "Oliver", "Noah", "William",
    "Leo", "Henry", "Thomas", "Lucas", "Arjun", "Mohammed", "Wei", "Hamish", "Lachlan", "Cooper", "Aroha", "Liam",
    "Ethan", "Samuel", "Daniel", "Kai", "Tane", "Nguyen", "José", "Siobhan", "Eilidh", "Fatima", "Yusuf", "Anika",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Johnson", "Martin", "White", "Anderson",
    "Walker", "Thompson", "Harris", "Lee", "Ryan", "Robinson", "Kelly", "King", "Davis", "Wright", "Evans",
    "O'Brien", "McDonald", "Murphy", "Campbell", "Patel", "Singh", "Chen", "Wang", "Kaur", "Papadopoulos",
    "Rossi", "Nguyen-Tran", "Te Whare", "van der Berg", "Mitchell", "Clarke", "Young", "Hughes", "Edwards",
    "Turner", "Phillips", "Morris", "Cooper", "Ward", "Kowalski", "Haddad", "Okafor", "Hernández",
)  # fmt: skip
PREFERRED = {"William": "Will", "Samuel": "Sam", "Thomas": "Tom", "Daniel": "Dan", "Charlotte": "Charlie"}
STREETS = (
    "George Street", "King Street", "Church Street", "Victoria Road", "Beach Road", "Station Street",
    "High Street", "Park Avenue", "Railway Parade", "Ocean Drive", "Bridge Road", "Elizabeth Street",
)  # fmt: skip
SUBURBS = (
    ("Manly", "NSW", "2095"), ("Bondi", "NSW", "2026"), ("Newtown", "NSW", "2042"), ("Fitzroy", "VIC", "3065"),
    ("Brunswick", "VIC", "3056"), ("St Kilda", "VIC", "3182"), ("New Farm", "QLD", "4005"),
    ("Fremantle", "WA", "6160"), ("Glenelg", "SA", "5045"), ("Sandy Bay", "TAS", "7005"),
    ("Braddon", "ACT", "2612"), ("Parap", "NT", "0820"),
)  # fmt: skip
RELATIONSHIPS = ("Partner", "Mother", "Father", "Sister", "Brother", "Friend", "Daughter", "Son")
SEXES = ("female", "male", "female", "male", "intersex", "not_stated")
NOTES = (
    "Prefers morning appointments.",
    "Referred by GP for lower back pain.",
    "Works night shifts; text rather than call.",
    "Needs an interpreter for longer sessions.",
    None,
    None,
)


def _mobile(rng: random.Random) -> str:
    # 04xx xxx xxx: the Australian mobile range, in E.164. About one in eight such numbers is not
    # allocated (phonenumbers calls it invalid): a registered patient could not have it, and a
    # search for it finds nothing, so draw again.
    while True:
        number = f"+614{rng.randint(10_000_000, 99_999_999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, None)):
            return number


def synthetic_patient(rng: random.Random, today: date) -> PatientInput:
    """One made-up patient; uses only the lists above and ``rng``."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    born = today - timedelta(days=rng.randint(2 * 365, 95 * 365))
    suburb, state, postcode = rng.choice(SUBURBS)
    phones = [Phone("mobile", _mobile(rng))]
    if rng.random() < 0.2:
        phones.append(Phone("home", f"+612{rng.randint(90_000_000, 99_999_999)}"))
    handle = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    handle = handle.encode("ascii", "ignore").decode() or "patient"
    return PatientInput(
        first_name=first,
        last_name=last,
        preferred_name=PREFERRED.get(first) if rng.random() < 0.5 else None,
        date_of_birth=born,
        sex=rng.choice(SEXES),
        phones=tuple(phones),
        email=f"{handle}{rng.randint(1, 9999)}@example.com",
        address={
            "line1": f"{rng.randint(1, 240)} {rng.choice(STREETS)}",
            "suburb": suburb,
            "state": state,
            "postcode": postcode,
            "country": "Australia",
        },
        emergency_contact={"name": f"{rng.choice(FIRST_NAMES)} {last}", "relationship": rng.choice(RELATIONSHIPS)},
        notes=rng.choice(NOTES),
    )


def seed_scale(
    organization_id: str,
    count: int,
    *,
    seed: int | None = None,
    echo: Any = None,
    inserted_ids: list[str] | None = None,
) -> int:
    """Insert ``count`` synthetic patients into the organization, committing each batch.
    Returns how many were inserted (their ids are appended to ``inserted_ids`` when given)."""
    rng = random.Random(seed)  # noqa: S311 - made-up test data, not secrets
    vault = crypto.vault_for(organization_id)
    db.session.commit()  # the organization's keys, if they were just created
    today, done = date.today(), 0
    while done < count:
        size = min(BATCH, count - done)
        patients: list[dict[str, Any]] = []
        identifiers: list[dict[str, Any]] = []
        now = utcnow()
        for _ in range(size):
            data = synthetic_patient(rng, today)
            patient = Patient(organization_id=organization_id, id=new_id("pat"), archived=False)
            write_fields(patient, data, vault, data.provided)
            row = {column.key: getattr(patient, column.key) for column in Patient.__table__.columns}
            row.update(created_at=now, updated_at=now, archived=rng.random() < 0.05)
            patients.append(row)
            lookups = identifier_rows(patient.id, organization_id, data, vault)
            identifiers += [{"id": new_id("pid"), **lookup} for lookup in lookups]
        db.session.execute(insert(Patient), patients)
        db.session.execute(insert(PatientIdentifier), identifiers)
        db.session.commit()
        if inserted_ids is not None:
            inserted_ids.extend(row["id"] for row in patients)
        done += size
        if echo:
            echo(f"  {done} of {count} patients")
    audit.record(
        "patient.bulk_seeded",
        organization_id=organization_id,
        target_type="patient",
        details={"count": done, "synthetic": True},
    )
    db.session.commit()
    return done


def register(app: Flask) -> None:
    @app.cli.command("seed-scale")
    @click.option("--patients", "count", type=click.IntRange(1, 1_000_000), required=True, help="How many patients.")
    @click.option("--org", "organization_id", default=None, help="Organization id (default: the first organization).")
    @click.option("--seed", type=int, default=None, help="Random seed, for the same data every run.")
    @click.option(
        "--appointments",
        "appointment_count",
        type=click.IntRange(0, 20_000_000),
        default=0,
        show_default=True,
        help="Also this many appointments for the new patients (past 2 years to 8 weeks ahead).",
    )
    def seed_scale_command(count: int, organization_id: str | None, seed: int | None, appointment_count: int) -> None:
        """Bulk-insert N realistic synthetic patients (encrypted like real ones) for scale testing,
        and with --appointments M their appointments, then every patient's figures."""
        if organization_id is None:
            organization_id = db.session.scalar(
                select(Organization.id).order_by(Organization.created_at, Organization.id).limit(1)
            )
            if organization_id is None:
                click.echo("Error: there is no organization yet (see `flask seed-demo`, `flask create-org`).", err=True)
                sys.exit(2)
        elif db.session.get(Organization, organization_id) is None:
            click.echo(f"Error: no organization {organization_id!r}.", err=True)
            sys.exit(2)
        started = time.perf_counter()
        click.echo(f"Adding {count} synthetic patients to {organization_id} ...")
        new_ids: list[str] = []
        done = seed_scale(organization_id, count, seed=seed, echo=click.echo, inserted_ids=new_ids)
        click.echo(f"Added {done} patients in {time.perf_counter() - started:.1f} s.")
        if appointment_count:
            from devtools.scale.appointments import seed_appointments

            started = time.perf_counter()
            click.echo(f"Adding about {appointment_count} appointments for them ...")
            result = seed_appointments(organization_id, new_ids, appointment_count, seed=seed, echo=click.echo)
            click.echo(
                f"Added {result.appointments} appointments ({result.practitioners} practitioners, "
                f"{result.types} appointment types) and computed {result.patients_computed} patients' figures "
                f"in {time.perf_counter() - started:.1f} s."
            )
