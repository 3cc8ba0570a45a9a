"""``flask seed-scale --patients N``: realistic synthetic patients for one organization, fast.

For load and list-performance testing. Rows are built in memory (encrypted fields and blind
indexes included, exactly as the service writes them, on plain objects rather than ORM instances)
and loaded in batches: one COPY per batch on PostgreSQL, one multi-row INSERT on SQLite; every
name, date and number is made up from the small lists below.

``--organizations K`` shares the totals among K organizations: the one named by ``--org`` (or
the first) and K - 1 new ones made for the purpose ("Scale Clinic 2", ...), so a database holds
many clinics' rows as production would (docs/performance.md seeds 10,000,000 appointments
across 20 of them).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import click
import phonenumbers
from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.sql.schema import Table

from clinic_app.core import audit, crypto
from clinic_app.core.db import new_id
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.orgs.models import Organization
from clinic_app.patients.models import Patient, PatientIdentifier
from clinic_app.patients.storage import BULK_COLUMNS, identifier_rows, write_fields
from clinic_app.patients.validation import PatientInput, Phone

BATCH = 1000
EMPTY = dict.fromkeys(BULK_COLUMNS)

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


# Whether the 04xx mobile numbers starting "+614" + three digits are allocated: the Australian
# ranges are decided by the first four digits of the national number, so one check per prefix
# (at most 900) answers for every number drawn after it.
_ALLOCATED: dict[str, bool] = {}


def _mobile(rng: random.Random) -> str:
    # 04xx xxx xxx: the Australian mobile range, in E.164. About one in eight such numbers is not
    # allocated (phonenumbers calls it invalid): a registered patient could not have it, and a
    # search for it finds nothing, so draw again.
    while True:
        number = f"+614{rng.randint(10_000_000, 99_999_999)}"
        allocated = _ALLOCATED.get(number[:7])
        if allocated is None:
            allocated = _ALLOCATED[number[:7]] = phonenumbers.is_valid_number(phonenumbers.parse(number, None))
        if allocated:
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


def _load(table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with every column of ``table``): COPY on PostgreSQL, else one INSERT."""
    if not rows:
        return
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    connection = db.session.connection().connection.driver_connection
    with connection.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[name] for name in columns])


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
            patient = SimpleNamespace(**EMPTY)  # cheaper than an ORM instance
            write_fields(patient, data, vault, data.provided)  # type: ignore[arg-type]
            patient_id = new_id("pat")
            row = {name: getattr(patient, name) for name in BULK_COLUMNS}
            row.update(
                id=patient_id,
                organization_id=organization_id,
                created_at=now,
                updated_at=now,
                created_by_id=None,
                updated_by_id=None,
                archived=rng.random() < 0.05,
            )
            patients.append(row)
            lookups = identifier_rows(patient_id, organization_id, data, vault)
            identifiers += [{"id": new_id("pid"), **lookup} for lookup in lookups]
        _load(Patient.__table__, patients)
        _load(PatientIdentifier.__table__, identifiers)
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


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` whole shares as equal as can be (the first ones larger)."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def _more_organizations(first: Organization, count: int) -> list[str]:
    """``count`` new organizations like ``first`` (its time zone and region), committed."""
    made = []
    for number in range(2, count + 2):
        organization = orgs.create_organization(
            name=f"Scale Clinic {number}", time_zone=first.time_zone, region=first.region
        )
        made.append(organization.id)
    db.session.commit()
    return made


def register(app: Flask) -> None:
    from devtools.scale import explain

    explain.register(app)  # flask scale-explain: the plans docs/performance.md shows

    @app.cli.command("seed-scale")
    @click.option(
        "--patients", "count", type=click.IntRange(1, 20_000_000), required=True, help="How many patients in all."
    )
    @click.option("--org", "organization_id", default=None, help="Organization id (default: the first organization).")
    @click.option("--seed", type=int, default=None, help="Random seed, for the same data every run.")
    @click.option(
        "--appointments",
        "appointment_count",
        type=click.IntRange(0, 100_000_000),
        default=0,
        show_default=True,
        help="Also this many appointments in all for the new patients (past 2 years to 8 weeks ahead).",
    )
    @click.option(
        "--organizations",
        "organization_count",
        type=click.IntRange(1, 1000),
        default=1,
        show_default=True,
        help="Share the patients and appointments among this many organizations: --org (or the first) "
        "and new ones made for the purpose.",
    )
    def seed_scale_command(
        count: int, organization_id: str | None, seed: int | None, appointment_count: int, organization_count: int
    ) -> None:
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
        if count < organization_count:
            click.echo(f"Error: {count} patients cannot be shared among {organization_count} organizations.", err=True)
            sys.exit(2)
        started_all = time.perf_counter()
        organization_ids = [organization_id]
        if organization_count > 1:
            first = db.session.get(Organization, organization_id)
            assert first is not None
            organization_ids += _more_organizations(first, organization_count - 1)
            click.echo(f"Sharing them among {organization_count} organizations: {', '.join(organization_ids)}")
        patient_shares = shares(count, organization_count)
        appointment_shares = shares(appointment_count, organization_count)
        new_ids: dict[str, list[str]] = {}
        for index, (target, patients) in enumerate(zip(organization_ids, patient_shares, strict=True)):
            # Each organization its own stream of made-up data (the first one's is what it would
            # get alone with the same seed).
            started = time.perf_counter()
            click.echo(f"Adding {patients} synthetic patients to {target} ...")
            new_ids[target] = []
            done = seed_scale(
                target, patients, seed=_seed_of(seed, index), echo=click.echo, inserted_ids=new_ids[target]
            )
            click.echo(f"Added {done} patients in {time.perf_counter() - started:.1f} s.")
        if appointment_count:
            _add_appointments(organization_ids, new_ids, appointment_shares, seed, appointment_count)
        if organization_count > 1:
            click.echo(
                f"Seeded {count} patients and about {appointment_count} appointments in "
                f"{organization_count} organizations in {time.perf_counter() - started_all:.1f} s."
            )


def _seed_of(seed: int | None, index: int) -> int | None:
    return seed if seed is None or index == 0 else seed * 1000 + index


def _add_appointments(
    organization_ids: list[str], new_ids: dict[str, list[str]], counts: list[int], seed: int | None, total: int
) -> None:
    """Every organization's appointments loaded (the secondary indexes built once after all of
    them, when the load is large), then every organization's figures."""
    from devtools.scale import appointments

    started = time.perf_counter()
    click.echo(f"Adding about {total} appointments for them ...")
    loaded = {}
    with appointments.indexes_built_after(total, click.echo):
        for index, (target, count) in enumerate(zip(organization_ids, counts, strict=True)):
            if len(organization_ids) > 1:
                click.echo(f"  {target}: about {count} appointments ...")
            loaded[target] = appointments.load_appointments(
                target, new_ids[target], count, seed=_seed_of(seed, index), echo=click.echo
            )
    click.echo(f"  loaded in {time.perf_counter() - started:.1f} s")
    appointments.analyze()
    for target in organization_ids:
        result = appointments.finish_appointments(target, loaded[target], echo=click.echo)
        click.echo(
            f"Added {result.appointments} appointments ({result.practitioners} practitioners, "
            f"{result.types} appointment types) and computed {result.patients_computed} patients' figures "
            f"in {time.perf_counter() - started:.1f} s."
        )
