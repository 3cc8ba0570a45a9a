"""A generated clinic for the dashboard tests, and an independent recount of its figures.

``build_clinic`` makes patients (some archived), practitioners, types and a few hundred
appointments of every kind around a fixed clock, including the boundary cases (exactly 30 days
ago, exactly 7 days ahead, local midnight at a week's start).

``recount`` counts what the dashboard should say straight from the raw rows (plain SQL, then
Python loops over each appointment with the rules of docs/rules.md written out again here): it uses
nothing of the dashboard, appointments or engagement code, so a mistake there cannot hide itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from clinic_app.appointments.models import Appointment, AppointmentType, Practitioner
from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import service as patients

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


# --- building ---------------------------------------------------------------------------------


@dataclass
class Clinic:
    organization_id: str
    patient_ids: list[str]
    archived_ids: list[str]
    type_ids: list[str]
    practitioner_ids: list[str]


def add_patient(organization_id: str, first: str, last: str, *, archived: bool = False) -> str:
    data = patients.validate_for(organization_id, {"first_name": first, "last_name": last})
    patient = patients.create_patient(organization_id, data, actor=audit.Actor())
    if archived:
        patient.archived = True
        patient.archived_at = patient.created_at
    db.session.flush()
    return patient.id


def add_appointment(organization_id: str, patient_id: str | None, starts_at: datetime, **facts: Any) -> str:
    row = Appointment(
        organization_id=organization_id,
        patient_id=patient_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=45),
        **facts,
    )
    db.session.add(row)
    db.session.flush()
    return row.id


def build_clinic(organization_id: str, now: datetime, *, seed: int = 11, patients_count: int = 40) -> Clinic:
    """A clinic with ``patients_count`` patients and about eight appointments each around ``now``."""
    rng = random.Random(seed)
    practitioners = [
        Practitioner(organization_id=organization_id, first_name=name, last_name="Nguyen")
        for name in ("Ana", "Ben", "Cy")
    ]
    types = [
        AppointmentType(organization_id=organization_id, name=name, duration_minutes=45)
        for name in ("Initial consultation", "Follow-up", "Group class", "Telehealth")
    ]
    db.session.add_all([*practitioners, *types])
    db.session.flush()
    clinic = Clinic(organization_id, [], [], [t.id for t in types], [p.id for p in practitioners])
    for number in range(patients_count):
        archived = number % 13 == 5
        patient_id = add_patient(organization_id, f"Pat{number}", f"Test{number}", archived=archived)
        (clinic.archived_ids if archived else clinic.patient_ids).append(patient_id)
        if number % 9 == 0:
            continue  # some patients never had an appointment
        for _ in range(rng.randint(1, 14)):
            starts = now + timedelta(minutes=15 * rng.randint(-4 * 24 * 130, 4 * 24 * 25))
            facts: dict[str, Any] = {
                "practitioner_id": rng.choice(clinic.practitioner_ids),
                "appointment_type_id": rng.choice([*clinic.type_ids, None]) if rng.random() < 0.95 else None,
            }
            roll = rng.random()
            if roll < 0.12:
                facts["cancelled_at"] = starts - timedelta(hours=rng.choice([1, 5, 23, 24, 25, 48, 200]))
            elif roll < 0.2:
                facts["did_not_arrive"] = True
            elif roll < 0.23 and starts > now:
                facts["patient_arrived"] = True  # arrived early: attended although in the future
            if rng.random() < 0.03:
                facts["archived_at"] = now - DAY
            elif rng.random() < 0.02:
                facts["deleted_at"] = now - DAY
            add_appointment(organization_id, patient_id, starts, **facts)
    active = clinic.patient_ids
    # Boundaries: exactly 30 days ago (still recent), exactly 7 days ahead (within the week),
    # a booking just past 7 days, a cancellation 24 h ahead (not late), an unknown patient.
    add_appointment(organization_id, active[1], now - 30 * DAY, appointment_type_id=clinic.type_ids[0])
    add_appointment(organization_id, active[2], now + 7 * DAY, appointment_type_id=clinic.type_ids[1])
    add_appointment(organization_id, active[3], now + 7 * DAY + timedelta(minutes=1))
    add_appointment(organization_id, active[4], now - 2 * DAY, cancelled_at=now - 3 * DAY)
    add_appointment(organization_id, None, now - 3 * DAY, patient_cliniko_id="999")
    add_appointment(organization_id, clinic.archived_ids[0], now + 2 * DAY)  # archived patient, booked
    return clinic


# --- the independent recount ------------------------------------------------------------------


def _moment(value: Any) -> datetime | None:
    """A raw column value as an aware UTC datetime (SQLite hands back text, PostgreSQL datetimes)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _status(row: Any, now: datetime) -> str:
    if row["cancelled_at"] is not None:
        return "cancelled"
    if row["did_not_arrive"]:
        return "did_not_arrive"
    if row["patient_arrived"] or row["starts_at"] <= now:
        return "attended"
    return "booked"


def _round(part: int, whole: int, places: str) -> float:
    if whole == 0:
        return 0.0
    return float((Decimal(part) / Decimal(whole)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


@dataclass
class Recount:
    summary: dict[str, Any]
    upcoming: dict[str, int]
    attendance: dict[str, Any]
    weeks: list[dict[str, Any]]
    types: dict[str | None, int]
    ids: dict[str, set[str]] = field(default_factory=dict)


def recount(organization_id: str, now: datetime, time_zone: str) -> Recount:
    """Every dashboard figure counted again from the raw rows (see the module docstring)."""
    tz = ZoneInfo(time_zone)
    connection = db.session.connection()
    org = {"org": organization_id}
    patient_rows = connection.execute(
        text("SELECT id, archived FROM patients WHERE organization_id = :org"), org
    ).mappings()
    archived = {row["id"]: bool(row["archived"]) for row in patient_rows}
    appointments = []
    for raw in connection.execute(
        text(
            "SELECT id, patient_id, appointment_type_id, starts_at, cancelled_at, did_not_arrive, patient_arrived, "
            "archived_at, deleted_at FROM appointments WHERE organization_id = :org"
        ),
        org,
    ).mappings():
        row = dict(raw)
        for name in ("starts_at", "cancelled_at", "archived_at", "deleted_at"):
            row[name] = _moment(row[name])
        if row["archived_at"] is not None or row["deleted_at"] is not None:
            continue  # not counted anywhere
        row["status"] = _status(row, now)
        appointments.append(row)
    linked = {
        row[0]
        for row in connection.execute(
            text("SELECT local_id FROM cliniko_links WHERE organization_id = :org AND resource = 'patients'"), org
        )
    }
    connected = connection.execute(
        text("SELECT count(*) FROM cliniko_connections WHERE organization_id = :org"), org
    ).scalar()
    last_run = connection.execute(
        text(
            "SELECT status FROM sync_runs WHERE organization_id = :org AND status IN ('completed', 'failed', "
            "'cancelled') ORDER BY created_at DESC LIMIT 1"
        ),
        org,
    ).scalar()

    current = [pid for pid, is_archived in archived.items() if not is_archived]
    recent: dict[str, int] = {}
    upcoming: dict[str, int] = {}
    total: dict[str, int] = {}
    first: dict[str, datetime] = {}
    for row in appointments:
        pid = row["patient_id"]
        if pid is None:
            continue
        total[pid] = total.get(pid, 0) + 1
        if row["status"] == "attended" and row["starts_at"] >= now - timedelta(days=30):
            recent[pid] = recent.get(pid, 0) + 1
        if row["status"] == "booked":
            upcoming[pid] = upcoming.get(pid, 0) + 1
        if row["status"] != "cancelled" and (pid not in first or row["starts_at"] < first[pid]):
            first[pid] = row["starts_at"]
    active = {pid for pid in current if recent.get(pid) or upcoming.get(pid)}
    with_recent = {pid for pid in active if recent.get(pid)}
    with_upcoming = {pid for pid in active if upcoming.get(pid)}
    upcoming_total = sum(upcoming.get(pid, 0) for pid in active)
    recent_total = sum(recent.get(pid, 0) for pid in active)
    active_total = sum(total.get(pid, 0) for pid in active)
    synced = {pid for pid in current if pid in linked}
    integration = "Not Connected"
    if connected:
        integration = "Connected" if last_run == "completed" and len(synced) >= len(current) else "Partial"
    summary = {
        "organization_id": organization_id,
        "total_patients": len(current),
        "active_patients": len(active),
        "patients_with_upcoming": len(with_upcoming),
        "patients_with_recent": len(with_recent),
        "total_upcoming_appointments": upcoming_total,
        "total_recent_appointments": recent_total,
        "total_all_appointments": sum(total.values()),
        "avg_upcoming_per_patient": _round(upcoming_total, len(active), "0.01"),
        "avg_recent_per_patient": _round(recent_total, len(active), "0.01"),
        "avg_total_per_patient": _round(active_total, len(active), "0.01"),
        "engagement_rate": _round(100 * len(active), len(current), "0.1"),
        "synced_patients": len(synced),
        "sync_percentage": _round(100 * len(synced), len(current), "0.1"),
        "integration_status": integration,
        "activity_status": "Active" if active else "Inactive",
    }

    # The next 7 days: bookings of patients who are not archived.
    soon = [
        row
        for row in appointments
        if row["status"] == "booked"
        and now < row["starts_at"] <= now + timedelta(days=7)
        and row["patient_id"] is not None
        and not archived[row["patient_id"]]
    ]
    soon_ids = {row["patient_id"] for row in soon}

    # 90 days: from local midnight 90 days before today.
    local_today = now.astimezone(tz).date()
    window = datetime(*(local_today - timedelta(days=90)).timetuple()[:3], tzinfo=tz)
    # Attendance is a patient's: appointments of a patient we do not know count in no one's.
    in_window = [row for row in appointments if row["starts_at"] >= window and row["patient_id"] is not None]
    attended = sum(row["status"] == "attended" for row in in_window)
    missed = sum(row["status"] == "did_not_arrive" for row in in_window)
    late = sum(
        row["status"] == "cancelled" and row["starts_at"] - row["cancelled_at"] < timedelta(hours=24)
        for row in in_window
    )
    whole = attended + missed + late

    # Weeks: the Monday (local calendar) each appointment's day belongs to.
    this_monday = local_today - timedelta(days=local_today.weekday())
    mondays = [this_monday - timedelta(weeks=11 - index) for index in range(12)]
    weeks = [
        {"week_start": monday.isoformat(), "attended": 0, "cancelled": 0, "did_not_arrive": 0, "booked": 0}
        for monday in mondays
    ]
    seen: list[set[str]] = [set() for _ in mondays]
    types: dict[str | None, int] = {}
    for row in appointments:
        day: date = row["starts_at"].astimezone(tz).date()
        monday = day - timedelta(days=day.weekday())
        if monday not in mondays:
            continue
        index = mondays.index(monday)
        weeks[index][row["status"]] += 1
        if row["status"] != "cancelled":
            types[row["appointment_type_id"]] = types.get(row["appointment_type_id"], 0) + 1
            if row["patient_id"] is not None:
                seen[index].add(row["patient_id"])
    for index, week in enumerate(weeks):
        new = set()
        for pid in seen[index]:
            day = first[pid].astimezone(tz).date()
            if day - timedelta(days=day.weekday()) == mondays[index]:
                new.add(pid)
        week["new_patients"] = len(new)
        week["returning_patients"] = len(seen[index]) - len(new)
        week["patients"] = len(seen[index])

    return Recount(
        summary=summary,
        upcoming={"appointments": len(soon), "patients": len(soon_ids)},
        attendance={
            "attended": attended,
            "did_not_arrive": missed,
            "late_cancelled": late,
            "appointments": whole,
            "rate": round(attended / whole, 4) if whole else 1.0,
        },
        weeks=weeks,
        types=types,
        ids={
            "total_patients": set(current),
            "active_patients": active,
            "patients_with_upcoming": with_upcoming,
            "patients_with_recent": with_recent,
            "upcoming_7_days": soon_ids,
            "engagement_rate": active,
        },
    )


def assert_matches(payload: dict[str, Any], expected: Recount) -> None:
    """The dashboard payload says what the recount says, figure by figure."""
    summary = {name: payload["summary"][name] for name in expected.summary}
    assert summary == expected.summary
    assert {k: payload["upcoming"][k] for k in ("appointments", "patients")} == expected.upcoming
    assert {k: payload["attendance"][k] for k in expected.attendance} == expected.attendance
    weeks = [{k: week[k] for k in expected.weeks[0]} for week in payload["weeks"]]
    assert weeks == expected.weeks
    assert {t["appointment_type_id"]: t["appointments"] for t in payload["appointment_types"]} == expected.types
