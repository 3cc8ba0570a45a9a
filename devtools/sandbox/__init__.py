"""A sandbox Cliniko: a deterministic synthetic clinic served over HTTP on 127.0.0.1.

The sync engine, ``make run``, the tests and the benchmarks talk to it exactly as they would to
Cliniko's public API (see docs/cliniko-sandbox.md). ``SandboxClinic`` holds the records in memory
and offers the mutations tests need; ``create_sandbox_app`` serves it; ``SandboxServer`` runs that
app in a background thread or in the foreground.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from devtools.sandbox import data
from devtools.sandbox.faults import FaultInjector, Faults

if TYPE_CHECKING:
    from flask import Flask

    from devtools.sandbox.server import SandboxServer

__all__ = ["SHARDS", "Faults", "SandboxClinic", "SandboxServer", "UnknownRecord", "create_sandbox_app"]

SHARDS = ("au1", "au2", "au3", "au4", "ca1", "uk1", "uk2", "eu1")
RESOURCES = ("patients", "individual_appointments", "practitioners", "appointment_types", "businesses")


def shard_of(api_key: str) -> str:
    """Cliniko's rule: the shard is the key's suffix after the last "-"; no known suffix means au1."""
    suffix = api_key.rsplit("-", 1)[-1] if "-" in api_key else ""
    return suffix if suffix in SHARDS else "au1"


def default_api_key(seed: int) -> str:
    """A key of Cliniko's shape for the au1 shard, derived from the seed (a sandbox key is no secret)."""
    return f"sandbox-{hashlib.sha256(f'cliniko-sandbox:{seed}'.encode()).hexdigest()[:32]}-au1"


class UnknownRecord(LookupError):
    """No record of that resource has that id."""


class ServeStats:
    """How many API requests the sandbox answered, by status ("dropped" for cut connections)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.by_status: dict[int | str, int] = {}

    def record(self, status: int | str) -> None:
        with self._lock:
            self.requests += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "by_status": {str(k): v for k, v in self.by_status.items()}}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _date_text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else value.isoformat()


def _phones(value: Any) -> tuple[tuple[str, str], ...]:
    rows = value or ()
    return tuple((row["phone_type"], row["number"]) if isinstance(row, dict) else tuple(row) for row in rows)


def _reason_code(value: Any) -> int | None:
    """Cliniko sends a reason code; accept the code or its words (anything else counts as "Other")."""
    if value is None or value in data.CANCELLATION_REASONS:
        return value
    for code, words in data.CANCELLATION_REASONS.items():
        if str(value).strip().lower() == words.lower():
            return code
    return 50


# JSON field name -> (attribute, converter) for the plain fields tests may change.
PATIENT_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    **{name: (name, _text) for name in ("title", "first_name", "last_name", "preferred_first_name", "email", "sex",
                                        "occupation", "notes", "address_1", "address_2", "city", "state",
                                        "post_code", "old_reference_id")},
    "date_of_birth": ("date_of_birth", _date_text), "patient_phone_numbers": ("phones", _phones),
    "archived_at": ("archived_at", data.to_ms), "deleted_at": ("deleted_at", data.to_ms),
}  # fmt: skip
APPOINTMENT_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    **{name: (name, data.to_ms) for name in ("starts_at", "ends_at", "cancelled_at", "archived_at", "deleted_at")},
    "notes": ("notes", _text), "cancellation_note": ("cancellation_note", _text),
    "cancellation_reason": ("cancellation_reason", _reason_code),
    "patient_arrived": ("patient_arrived", bool), "did_not_arrive": ("did_not_arrive", bool),
}  # fmt: skip
APPOINTMENT_LINKS = {"patient_id": "patients", "practitioner_id": "practitioners",
                     "appointment_type_id": "appointment_types"}  # fmt: skip


class SandboxClinic:
    """One synthetic Cliniko account: records, a monotonic clock, faults and request counts.

    Same seed (and anchor day ``now``) -> same records, ids and timestamps. Every method is
    thread-safe: the HTTP server answers from many threads while tests mutate.
    """

    def __init__(
        self,
        seed: int = 42,
        patients: int = 650,
        appointments: int = 1000,
        practitioners: int = 6,
        appointment_types: int = 8,
        businesses: int = 1,
        api_key: str | None = None,
        now: datetime | None = None,
        faults: Faults | None = None,
    ) -> None:
        if min(practitioners, appointment_types, businesses) < 1 or min(patients, appointments) < 0:
            raise ValueError("a sandbox clinic needs at least one business, practitioner and appointment type")
        if appointments and not patients:
            raise ValueError("appointments need at least one patient")
        self.seed = seed
        self.sizes = {"patients": patients, "individual_appointments": appointments,
                      "practitioners": practitioners, "appointment_types": appointment_types,
                      "businesses": businesses}  # fmt: skip
        self.api_key = api_key or default_api_key(seed)
        self.shard = shard_of(self.api_key)
        self.anchor = data.anchor_ms(now)
        self._initial_faults = faults or Faults()
        self.injector = FaultInjector(self._initial_faults, seed)
        self.stats = ServeStats()
        self._lock = threading.RLock()
        # The clock runs in real time but starts no earlier than the synthetic history ends.
        self._clock_offset = max(0, self.anchor + 1000 - int(time.time() * 1000))
        self._last_tick = self.anchor
        self._generate()

    # -- state ------------------------------------------------------------------------------

    def _generate(self) -> None:
        seed, sizes, anchor = self.seed, self.sizes, self.anchor
        businesses = data.build_businesses(seed, sizes["businesses"], anchor)
        practitioners = data.build_practitioners(seed, sizes["practitioners"], businesses, anchor)
        types = data.build_appointment_types(seed, sizes["appointment_types"], anchor)
        patients = data.build_patients(seed, sizes["patients"], anchor)
        appointments = data.build_appointments(
            seed, sizes["individual_appointments"], anchor, patients, practitioners, types
        )
        with self._lock:
            self._lists: dict[str, list[Any]] = {
                "patients": patients, "individual_appointments": appointments, "practitioners": practitioners,
                "appointment_types": types, "businesses": businesses,
            }  # fmt: skip
            self._by_id = {name: {record.id: record for record in rows} for name, rows in self._lists.items()}
            self._selections: dict[Hashable, tuple[str, frozenset[str], list[Any]]] = {}

    @property
    def lock(self) -> threading.RLock:
        """Held while a page is chosen and rendered, so a page never shows a half-made change."""
        return self._lock

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Put faults in force: a whole ``Faults``, or keyword changes to the current ones."""
        if faults is None:
            faults = Faults(**{**self.faults.to_json(), **changes})
        self.injector.replace(faults)
        return faults

    def reset(self) -> None:
        """Back to the records and faults the clinic was built with; counters cleared; the clock keeps
        running forward (so nothing made after the reset looks older than what came before)."""
        self._generate()
        self.injector.replace(self._initial_faults)
        self.stats = ServeStats()

    def now(self) -> datetime:
        """The clinic's clock: real time, never earlier than the synthetic history, and strictly
        later on every call, so each change gets a later ``updated_at`` than the one before."""
        return datetime.fromtimestamp(self._tick() / 1000, UTC)

    def _tick(self) -> int:
        with self._lock:
            self._last_tick = max(int(time.time() * 1000) + self._clock_offset, self._last_tick + 1)
            return self._last_tick

    # -- reading ----------------------------------------------------------------------------

    def all(self, resource: str) -> list[Any]:
        """Every record of a resource in id order (hidden ones too). Callers hold ``lock``."""
        return self._lists[resource]

    def get(self, resource: str, record_id: int | str) -> Any:
        try:
            return self._by_id[resource][int(record_id)]
        except (KeyError, ValueError):
            raise UnknownRecord(f"no {resource} record with id {record_id}") from None

    def records(self, resource: str, base_url: str | None = None) -> list[dict[str, Any]]:
        """Every record as the API renders it (archived, cancelled and deleted ones included). Pass the
        server's ``base_url`` to get links identical to the served ones."""
        base = (base_url or f"https://api.{self.shard}.cliniko.com/v1").rstrip("/")
        with self._lock:
            return [record.render(base) for record in self._lists[resource]]

    def select(self, resource: str, key: Hashable, depends_on: frozenset[str], build: Callable[[], list[Any]]) -> list:
        """The records a list query matches, computed once and kept until a change touches a field the
        query depends on (so paging through 100,000 records does not rescan them for every page)."""
        with self._lock:
            cached = self._selections.get(key)
            if cached is None:
                if len(self._selections) > 64:
                    self._selections.clear()
                cached = (resource, depends_on, build())
                self._selections[key] = cached
            return cached[2]

    def _changed(self, resource: str, fields: set[str] | None) -> None:
        """Forget cached selections the change may affect (``None``: a record was added)."""
        for key, (name, depends_on, _) in list(self._selections.items()):
            if name == resource and (fields is None or depends_on & fields):
                del self._selections[key]

    def counts(self) -> dict[str, dict[str, int]]:
        """How many records of each kind, so a test can compare what a sync stored with the source."""
        with self._lock:
            now = max(int(time.time() * 1000) + self._clock_offset, self._last_tick)
            patients = {"active": 0, "archived": 0, "deleted": 0}
            for patient in self._lists["patients"]:
                state = "deleted" if patient.deleted_at else "archived" if patient.archived_at else "active"
                patients[state] += 1
            appointments = dict.fromkeys(("booked_future", "attended", "cancelled", "did_not_arrive",
                                          "unmarked_past", "archived", "deleted"), 0)  # fmt: skip
            for row in self._lists["individual_appointments"]:
                appointments[_appointment_status(row, now)] += 1
            staff = self._lists["practitioners"]
            types = self._lists["appointment_types"]
            active_staff = sum(1 for p in staff if p.active)
            active_types = sum(1 for t in types if t.archived_at is None)
            return {
                "patients": {**patients, "total": len(self._lists["patients"])},
                "appointments": {**appointments, "total": len(self._lists["individual_appointments"])},
                "practitioners": {"active": active_staff, "inactive": len(staff) - active_staff, "total": len(staff)},
                "appointment_types": {"active": active_types, "archived": len(types) - active_types,
                                      "total": len(types)},
                "businesses": {"total": len(self._lists["businesses"])},
            }  # fmt: skip

    # -- changes (each bumps updated_at to the clinic's clock) ------------------------------

    def _apply(self, resource: str, record: Any, changes: dict[str, Any], moment: int | None = None) -> None:
        """Set attributes, stamp ``updated_at`` and forget the cached selections the change touches."""
        with self._lock:
            for attribute, value in changes.items():
                setattr(record, attribute, value)
            record.updated_at = moment or self._tick()
            touched = {f"{name}_id" if name in ("patient", "practitioner", "appointment_type") else name
                       for name in changes}  # fmt: skip
            self._changed(resource, {*touched, "updated_at"})

    def _convert(self, table: dict[str, tuple[str, Callable[[Any], Any]]], fields: dict[str, Any]) -> dict:
        links = APPOINTMENT_LINKS if table is APPOINTMENT_FIELDS else {}
        unknown = sorted(set(fields) - set(table) - set(links))
        if unknown:
            raise ValueError(f"cannot change field(s): {', '.join(unknown)}")
        converted = {}
        for name, value in fields.items():
            if name in links:
                converted[name.removesuffix("_id")] = self.get(links[name], value)
            else:
                attribute, convert = table[name]
                converted[attribute] = convert(value)
        return converted

    def change_patient(self, patient_id: int | str, **fields: Any) -> None:
        """Change a patient's fields (JSON names, e.g. ``email=``, ``patient_phone_numbers=[...]``)."""
        with self._lock:
            self._apply("patients", self.get("patients", patient_id), self._convert(PATIENT_FIELDS, fields))

    def archive_patient(self, patient_id: int | str) -> None:
        with self._lock:
            moment = self._tick()
            self._apply("patients", self.get("patients", patient_id), {"archived_at": moment}, moment)

    def delete_patient(self, patient_id: int | str) -> None:
        with self._lock:
            moment = self._tick()
            self._apply("patients", self.get("patients", patient_id), {"deleted_at": moment}, moment)

    def add_patient(self, first_name: str = "Sam", last_name: str = "Sandbox", **fields: Any) -> str:
        """Register a new patient (the other fields get plausible values); returns its id."""
        with self._lock:
            changes = self._convert(PATIENT_FIELDS, fields)
            rows = self._lists["patients"]
            moment = self._tick()
            record_id = (rows[-1].id if rows else data.id_start(self.seed, "patients")) + 1000
            patient = data.make_patient(data.stream(record_id), record_id, moment, moment, self.anchor)
            patient.first_name, patient.last_name = first_name, last_name
            for attribute, value in changes.items():
                setattr(patient, attribute, value)
            rows.append(patient)
            self._by_id["patients"][record_id] = patient
            self._changed("patients", None)
            return str(record_id)

    def change_appointment(self, appointment_id: int | str, **fields: Any) -> None:
        """Change an appointment (JSON names; ``patient_id=`` etc. relink it). Moving ``starts_at``
        alone keeps the appointment's length."""
        with self._lock:
            appointment = self.get("individual_appointments", appointment_id)
            changes = self._convert(APPOINTMENT_FIELDS, fields)
            if "starts_at" in changes and "ends_at" not in changes:
                changes["ends_at"] = changes["starts_at"] + appointment.ends_at - appointment.starts_at
            self._apply("individual_appointments", appointment, changes)

    def cancel_appointment(self, appointment_id: int | str, reason: int | str = 50, note: str | None = None) -> None:
        """Cancel with a Cliniko reason code (10-60) or its words; other words become "Other" + note."""
        if note is None and isinstance(reason, str) and _reason_code(reason) == 50 and reason.lower() != "other":
            note = reason
        with self._lock:
            moment = self._tick()
            changes = {"cancelled_at": moment, "cancellation_reason": _reason_code(reason), "cancellation_note": note}
            self._apply("individual_appointments", self.get("individual_appointments", appointment_id), changes, moment)

    def mark_did_not_arrive(self, appointment_id: int | str) -> None:
        self.change_appointment(appointment_id, did_not_arrive=True, patient_arrived=False)

    def archive_appointment(self, appointment_id: int | str) -> None:
        with self._lock:
            moment = self._tick()
            record = self.get("individual_appointments", appointment_id)
            self._apply("individual_appointments", record, {"archived_at": moment}, moment)

    def add_appointment(
        self,
        patient_id: int | str,
        starts_at: datetime | str | None = None,
        practitioner_id: int | str | None = None,
        appointment_type_id: int | str | None = None,
        notes: str | None = None,
    ) -> str:
        """Book an appointment (default: tomorrow at this hour, first active practitioner and type)."""
        with self._lock:
            moment = self._tick()
            staff = [p for p in self._lists["practitioners"] if p.active] or self._lists["practitioners"]
            types = [t for t in self._lists["appointment_types"] if t.archived_at is None] or self._lists[
                "appointment_types"
            ]
            appointment = data.Appointment()
            appointment.patient = self.get("patients", patient_id)
            appointment.practitioner = self.get("practitioners", practitioner_id) if practitioner_id else staff[0]
            kind = self.get("appointment_types", appointment_type_id) if appointment_type_id else types[0]
            appointment.appointment_type = kind
            start = data.to_ms(starts_at) if starts_at is not None else moment - moment % 3_600_000 + data.DAY_MS
            assert start is not None
            appointment.starts_at, appointment.ends_at = start, start + kind.duration * data.MINUTE_MS
            appointment.cancelled_at = appointment.cancellation_reason = appointment.cancellation_note = None
            appointment.archived_at = appointment.deleted_at = None
            appointment.did_not_arrive = appointment.patient_arrived = False
            appointment.notes, appointment.created_at, appointment.updated_at = notes, moment, moment
            rows = self._lists["individual_appointments"]
            appointment.id = (rows[-1].id if rows else data.id_start(self.seed, "individual_appointments")) + 1000
            rows.append(appointment)
            self._by_id["individual_appointments"][appointment.id] = appointment
            self._changed("individual_appointments", None)
            return str(appointment.id)

    def touch_random(self, resource: str, count: int) -> list[str]:
        """Bump ``updated_at`` of ``count`` records picked from the seeded stream (the
        ``mutate_between_pages`` fault); returns their ids."""
        with self._lock:
            rows = self._lists[resource]
            picked = [rows[index] for index in self.injector.pick(len(rows), count)]
            for record in picked:
                self._apply(resource, record, {})
            return [str(record.id) for record in picked]


def _appointment_status(row: data.Appointment, now: int) -> str:
    """One status per appointment; the first that applies wins (deleted, archived, cancelled, ...)."""
    if row.deleted_at:
        return "deleted"
    if row.archived_at:
        return "archived"
    if row.cancelled_at:
        return "cancelled"
    if row.did_not_arrive:
        return "did_not_arrive"
    if row.patient_arrived:
        return "attended"
    return "booked_future" if row.starts_at > now else "unmarked_past"


def create_sandbox_app(clinic: SandboxClinic) -> Flask:
    """The Flask app serving ``clinic`` (imported lazily: building data needs no Flask)."""
    from devtools.sandbox.app import create_sandbox_app as create

    return create(clinic)


def __getattr__(name: str) -> Any:
    if name == "SandboxServer":
        from devtools.sandbox.server import SandboxServer

        return SandboxServer
    raise AttributeError(name)
