"""Synthetic appointments for ``flask seed-scale --appointments M``: a realistic spread over the
patients just generated, loaded in bulk, then every patient's figures computed.

The spread: from two years ago to eight weeks ahead, on weekdays between 08:00 and 17:30 of the
clinic's wall clock; a practitioner is not double-booked (one appointment per practitioner and
half-hour, longer types holding two); most patients see one usual practitioner; some patients have
many appointments (a course of weekly, fortnightly or monthly visits), about one in ten none. Of
the past ones about 8 % are cancelled (roughly a third of those less than 24 hours before the
start: late), about 4 % did not arrive; about 8 % of the future ones are cancelled.

Rows go in with PostgreSQL's COPY (psycopg; the text format, each line formatted here, which
costs a fraction of psycopg's per-row adaptation at ten million rows) or, on SQLite, multi-row
INSERTs in batches. Ids are random like the app's (22 characters, 132 bits) but made faster:
base64url of one large random block, "-" and "_" replaced, cut into 22-character pieces.
"""

from __future__ import annotations

import base64
import contextlib
import math
import random
import secrets
from bisect import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import insert, text

from clinic_app.appointments import service
from clinic_app.appointments.models import CANCELLATION_REASON_FIELD, Appointment, AppointmentType, Practitioner
from clinic_app.core import audit, crypto
from clinic_app.core.time import local_date, utcnow, zone_named
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from clinic_app.orgs import service as orgs

PAST_DAYS, AHEAD_DAYS = 730, 56
FIRST_SLOT, SLOTS_PER_DAY = time(8, 0), 20  # 08:00 to 17:30, every 30 minutes
SLOT = timedelta(minutes=30)
CANCELLED_SHARE, LATE_SHARE_OF_CANCELLED, DNA_SHARE = 0.08, 0.35, 0.04
WITHOUT_APPOINTMENTS = 0.1
PER_PRACTITIONER = 5_000  # appointments per practitioner: about half their half-hours in the window
SQLITE_BATCH = 5_000
COPY_LINES = 20_000  # lines sent to PostgreSQL per write

TYPES = (  # name, minutes, colour, share
    ("Initial consultation", 60, "violet", 0.12),
    ("Standard consultation", 30, "teal", 0.5),
    ("Extended consultation", 60, "amber", 0.1),
    ("Review", 30, "green", 0.2),
    ("Telehealth", 30, "blue", 0.08),
)
TITLES = ("Dr", None, None, "Dr")
GIVEN = ("Alex", "Sam", "Jordan", "Priya", "Mei", "Tom", "Hana", "Leila", "Oscar", "Ruth", "Tariq", "Zara")
FAMILY = ("Nguyen", "Walsh", "Okafor", "Lindqvist", "Moreau", "Kapoor", "Reyes", "Tanaka", "Fraser", "Costa")
DESIGNATIONS = ("Physiotherapist", "Psychologist", "Osteopath", "Exercise physiologist", "Occupational therapist")
REASONS = (
    "Unwell",
    "Work commitment",
    "Transport problem",
    "Feeling better, will rebook if needed",
    "Family emergency",
    "Clash with another appointment",
)
COLUMNS = (
    "id",
    "organization_id",
    "patient_id",
    "practitioner_id",
    "appointment_type_id",
    "starts_at",
    "ends_at",
    "status",
    "cancelled_at",
    "cancellation_reason_enc",
    "patient_arrived",
    "did_not_arrive",
    "created_at",
    "updated_at",
)
_ID_SAFE = str.maketrans("-_", "xQ")
_ID_LENGTH = 22  # as the app's ids: 22 characters of 6 random bits each
_BLOCK_IDS = 8_192  # ids per random block (two ids per 33 bytes)


class _Ids:
    """Random ids, ``prefix_`` and 22 characters, cut from a large base64url block at a time."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.block, self.at = f"{prefix}_", "", 0

    def __call__(self) -> str:
        at = self.at
        if at >= len(self.block):
            random_bytes = secrets.token_bytes(_BLOCK_IDS // 2 * 33)
            self.block, at = base64.urlsafe_b64encode(random_bytes).decode().translate(_ID_SAFE), 0
        self.at = at + _ID_LENGTH
        return self.prefix + self.block[at : at + _ID_LENGTH]


@dataclass
class ScaleResult:
    appointments: int
    practitioners: int
    types: int
    patients_computed: int


def _make_setup(organization_id: str, count: int, rng: random.Random) -> tuple[list[str], list[tuple[str, int, float]]]:
    """New practitioners (enough that nobody is double-booked) and the five types."""
    people = max(3, min(250, math.ceil(count / PER_PRACTITIONER)))
    practitioner_ids = []
    for number in range(people):
        person = Practitioner(
            organization_id=organization_id,
            title=TITLES[number % len(TITLES)],
            first_name=GIVEN[number % len(GIVEN)],
            last_name=f"{FAMILY[(number // len(GIVEN)) % len(FAMILY)]}" + (f" {number + 1}" if number >= 12 else ""),
            designation=rng.choice(DESIGNATIONS),
            active=True,
        )
        db.session.add(person)
        practitioner_ids.append(person.id)
    kinds = []
    for name, minutes, color, share in TYPES:
        kind = AppointmentType(organization_id=organization_id, name=name, duration_minutes=minutes, color=color)
        db.session.add(kind)
        kinds.append((kind.id, minutes, share))
    db.session.flush()
    return practitioner_ids, kinds


def _per_patient(patient_ids: list[str], count: int, rng: random.Random) -> list[int]:
    """How many appointments each patient gets: heavy-tailed, about one in ten none, ``count`` in all."""
    if not patient_ids:
        return []
    weights = [0.0 if rng.random() < WITHOUT_APPOINTMENTS else rng.paretovariate(1.6) for _ in patient_ids]
    total = sum(weights) or 1.0
    counts = [int(count * weight / total) for weight in weights]
    short = count - sum(counts)
    eligible = [index for index, weight in enumerate(weights) if weight > 0] or list(range(len(patient_ids)))
    for index in rng.choices(eligible, k=short):
        counts[index] += 1
    return counts


class _Calendar:
    """Free half-hours per practitioner and day (a bit mask per day), and the UTC start of each
    local day's first slot."""

    def __init__(self, first_day: date, days: int, zone: Any, practitioners: int) -> None:
        self.days, self.practitioners = days, practitioners
        self.taken: dict[int, int] = {}
        self.day_start = [
            datetime.combine(first_day + timedelta(days=offset), FIRST_SLOT, tzinfo=zone).astimezone(UTC)
            for offset in range(days)
        ]
        self.weekday = [(first_day + timedelta(days=offset)).weekday() < 5 for offset in range(days)]

    def place(self, practitioner: int, day: int, slots: int, rng: random.Random) -> tuple[int, int, int] | None:
        """(practitioner, day, first slot) free for ``slots`` half-hours near what was asked."""
        while not self.weekday[day]:
            day = day + 1 if day + 1 < self.days else day - 2
        starts = SLOTS_PER_DAY - slots + 1
        need = (1 << slots) - 1
        draw = rng.random
        for attempt in range(6):
            who = practitioner if attempt < 3 else int(draw() * self.practitioners)
            when = day if attempt % 3 == 0 else min(self.days - 1, max(0, day + int(draw() * 7) - 3))
            if not self.weekday[when]:
                continue
            key = who * self.days + when
            bits = self.taken.get(key, 0)
            first = int(draw() * starts)
            for step in range(starts):
                slot = (first + step) % starts
                if not (bits >> slot) & need:
                    self.taken[key] = bits | (need << slot)
                    return who, when, slot
        return None


def _rows(
    organization_id: str,
    patient_ids: list[str],
    counts: list[int],
    practitioner_ids: list[str],
    kinds: list[tuple[str, int, float]],
    now: datetime,
    rng: random.Random,
) -> Iterator[tuple[Any, ...]]:
    """The rows, generated lazily. Everything that needs the database is read before the first
    row: on PostgreSQL the connection is busy with the COPY while rows are made."""
    zone = zone_named(orgs.get_organization(organization_id).time_zone)
    vault = crypto.vault_for(organization_id)
    vault.encrypt(CANCELLATION_REASON_FIELD, "")  # loads the organization's key now
    return _generate(organization_id, patient_ids, counts, practitioner_ids, kinds, now, rng, zone, vault)


def _generate(
    organization_id: str,
    patient_ids: list[str],
    counts: list[int],
    practitioner_ids: list[str],
    kinds: list[tuple[str, int, float]],
    now: datetime,
    rng: random.Random,
    zone: Any,
    vault: crypto.Vault,
) -> Iterator[tuple[Any, ...]]:
    today = local_date(now, zone)
    first_day = today - timedelta(days=PAST_DAYS)
    days = PAST_DAYS + AHEAD_DAYS + 1
    calendar = _Calendar(first_day, days, zone, len(practitioner_ids))
    cumulative = list(accumulate(share for _, _, share in kinds))
    top = cumulative[-1]
    ids = _Ids("apt")
    people = len(practitioner_ids)
    random_ = rng.random
    for patient_id, wanted in zip(patient_ids, counts, strict=True):
        if not wanted:
            continue
        usual = rng.randrange(len(practitioner_ids))
        cadence = rng.choice((7, 14, 28))
        # A course of visits from a random day; those that would run past the window fall anywhere.
        start_day = rng.randrange(days)
        for number in range(wanted):
            day = start_day + number * cadence + rng.randint(-2, 2)
            if not 0 <= day < days:
                day = rng.randrange(days)
            type_id, minutes, _ = kinds[min(bisect(cumulative, random_() * top), len(kinds) - 1)]
            who = usual if random_() < 0.8 else int(random_() * people)
            placed = calendar.place(who, day, max(1, minutes // 30), rng)
            if placed is None:
                continue  # that part of the calendar is full: fewer appointments than asked
            who, day, slot = placed
            starts_at = calendar.day_start[day] + slot * SLOT
            yield _row(
                ids(), organization_id, patient_id, practitioner_ids[who], type_id, starts_at, minutes, now, rng, vault
            )


def _row(
    appointment_id: str,
    organization_id: str,
    patient_id: str,
    practitioner_id: str,
    type_id: str,
    starts_at: datetime,
    minutes: int,
    now: datetime,
    rng: random.Random,
    vault: crypto.Vault,
) -> tuple[Any, ...]:
    created_at = min(starts_at - timedelta(days=rng.uniform(1, 30)), now - timedelta(minutes=1))
    cancelled_at, reason, arrived, missed = None, None, False, False
    roll = rng.random()
    if roll < CANCELLED_SHARE:
        if rng.random() < LATE_SHARE_OF_CANCELLED:
            cancelled_at = starts_at - timedelta(minutes=rng.randint(30, 23 * 60))
        else:
            cancelled_at = starts_at - timedelta(days=rng.uniform(1.1, 14))
        cancelled_at = max(created_at, min(cancelled_at, now - timedelta(minutes=1)))
        reason = vault.encrypt(CANCELLATION_REASON_FIELD, rng.choice(REASONS))
    elif starts_at <= now and roll < CANCELLED_SHARE + DNA_SHARE:
        missed = True
    elif starts_at <= now:
        arrived = rng.random() < 0.7
    status = service.appointment_status(
        starts_at=starts_at, cancelled_at=cancelled_at, did_not_arrive=missed, patient_arrived=arrived, now=now
    )
    return (
        appointment_id,
        organization_id,
        patient_id,
        practitioner_id,
        type_id,
        starts_at,
        starts_at + timedelta(minutes=minutes),
        status,
        cancelled_at,
        reason,
        arrived,
        missed,
        created_at,
        cancelled_at or created_at,
    )


def _text(value: Any) -> str:
    """One value in COPY's text format. The strings here (ids, statuses, base64 ciphertexts) never
    hold a tab, a newline or a backslash, so none needs escaping."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy(rows: Iterator[tuple[Any, ...]], echo: Callable[[str], None] | None) -> int:
    """PostgreSQL: one COPY for every row, written as text a few thousand lines at a time."""
    connection = db.session.connection().connection.driver_connection
    done = 0
    lines: list[str] = []
    with connection.cursor() as cursor, cursor.copy(f"COPY appointments ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            lines.append("\t".join(map(_text, row)))
            if len(lines) >= COPY_LINES:
                copy.write("\n".join(lines) + "\n")
                done, lines = done + len(lines), []
                if echo and done % 100_000 == 0:
                    echo(f"  {done} appointments")
        if lines:
            copy.write("\n".join(lines) + "\n")
            done += len(lines)
    return done


def _insert(rows: Iterator[tuple[Any, ...]], echo: Callable[[str], None] | None) -> int:
    """SQLite: multi-row INSERTs of a few thousand rows each."""
    done, batch = 0, []
    for row in rows:
        batch.append(dict(zip(COLUMNS, row, strict=True)))
        if len(batch) >= SQLITE_BATCH:
            db.session.execute(insert(Appointment.__table__), batch)
            done, batch = done + len(batch), []
            if echo and done % 100_000 == 0:
                echo(f"  {done} appointments")
    if batch:
        db.session.execute(insert(Appointment.__table__), batch)
        done += len(batch)
    return done


def _skip_reference_checks() -> None:
    """PostgreSQL as a superuser (the local development and bench databases): this transaction's
    rows skip the foreign keys' per-row checks (``session_replication_role = replica``). Every row
    names the organization, patients, practitioners and types just read or made, so the checks
    could only pass; they cost about a third of the load."""
    if db.session.scalar(text("SELECT current_setting('is_superuser')")) == "on":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))


def load_appointments(
    organization_id: str,
    patient_ids: list[str],
    count: int,
    *,
    seed: int | None = None,
    now: datetime | None = None,
    echo: Callable[[str], None] | None = None,
) -> ScaleResult:
    """Insert about ``count`` synthetic appointments for ``patient_ids`` (fewer only if the
    calendar is full) and new practitioners and types for them; no figures yet (see
    ``finish_appointments``). Commits."""
    rng = random.Random(seed)  # noqa: S311 - made-up test data, not secrets
    now = now or utcnow()
    practitioner_ids, kinds = _make_setup(organization_id, count, rng)
    db.session.commit()
    counts = _per_patient(patient_ids, count, rng)
    rows = _rows(organization_id, patient_ids, counts, practitioner_ids, kinds, now, rng)
    if db.session.get_bind().dialect.name == "postgresql":
        _skip_reference_checks()
        done = _copy(rows, echo)
    else:
        done = _insert(rows, echo)
    db.session.commit()
    return ScaleResult(done, len(practitioner_ids), len(kinds), 0)


def finish_appointments(
    organization_id: str,
    loaded: ScaleResult,
    *,
    now: datetime | None = None,
    echo: Callable[[str], None] | None = None,
) -> ScaleResult:
    """After ``load_appointments``: every patient's figures recomputed (their signal tells the
    dashboard) and the load recorded in the audit trail. Commits."""
    if echo:
        echo(f"  {loaded.appointments} appointments loaded; computing {organization_id}'s patients' figures ...")
    computed = figures.recompute(organization_id, None, now=now or utcnow())
    audit.record(
        "appointment.bulk_seeded",
        organization_id=organization_id,
        target_type="appointment",
        details={"count": loaded.appointments, "practitioners": loaded.practitioners, "synthetic": True},
    )
    db.session.commit()
    return ScaleResult(loaded.appointments, loaded.practitioners, loaded.types, computed)


def analyze() -> None:
    """PostgreSQL: fresh planner statistics for the appointments just loaded."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE appointments"))
        db.session.commit()


# A load at least this large into a table that holds fewer rows builds the secondary indexes
# afterwards (one sort each) instead of updating them row by row.
REBUILD_FROM = 200_000


@contextlib.contextmanager
def indexes_built_after(count: int, echo: Callable[[str], None] | None = None) -> Iterator[None]:
    """PostgreSQL, loading ``count`` rows at least as many as the appointments table holds (and at
    least ``REBUILD_FROM``): drop its secondary indexes (not the primary key or unique
    constraints) for the load and create them again, exactly as they were defined, when it ends
    (also when it fails). Anything else: a plain block."""
    if db.session.get_bind().dialect.name != "postgresql" or count < REBUILD_FROM:
        yield
        return
    held = db.session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'appointments'::regclass")) or 0
    if held > count:
        yield
        return
    definitions = db.session.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'appointments' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'appointments'::regclass) ORDER BY indexname"
        )
    ).all()
    for name, _definition in definitions:
        db.session.execute(text(f'DROP INDEX "{name}"'))
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        if echo:
            echo(f"  building the appointments' {len(definitions)} secondary indexes ...")
        db.session.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for _name, definition in definitions:
            db.session.execute(text(definition))
        db.session.commit()


def seed_appointments(
    organization_id: str,
    patient_ids: list[str],
    count: int,
    *,
    seed: int | None = None,
    now: datetime | None = None,
    echo: Callable[[str], None] | None = None,
) -> ScaleResult:
    """Insert about ``count`` synthetic appointments for ``patient_ids`` (fewer only if the
    calendar is full), new practitioners and types for them, then recompute every patient's
    figures. Commits."""
    now = now or utcnow()
    with indexes_built_after(count, echo):
        loaded = load_appointments(organization_id, patient_ids, count, seed=seed, now=now, echo=echo)
    analyze()
    return finish_appointments(organization_id, loaded, now=now, echo=echo)
