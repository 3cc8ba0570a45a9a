"""The column values a sync writes for a Cliniko patient or appointment, built (and encrypted)
only when the row is written: each returns a function that builds them.

Patient rows are filled by the patients feature's own writer (names in plaintext for search,
everything else encrypted) and its identifier rows (the blind indexes); appointment rows take
their status from the appointments service's rule.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from clinic_app.appointments import service as appointments
from clinic_app.appointments.models import CANCELLATION_REASON_FIELD, NOTES_FIELD
from clinic_app.core import crypto
from clinic_app.patients.models import Patient
from clinic_app.patients.storage import identifier_rows, write_fields
from clinic_app.sync import mapping

# The patient columns a sync writes (the rest are set per insert or update).
PATIENT_COLUMNS = tuple(
    column.key
    for column in Patient.__table__.columns
    if column.key not in ("id", "organization_id", "created_at", "updated_at", "created_by_id", "updated_by_id")
)
Builder = Callable[[], dict[str, Any]]


def patient_row(patient: mapping.MappedPatient, vault: crypto.Vault, actor_id: str | None) -> Builder:
    def build() -> dict[str, Any]:
        # The patients feature's own writer fills in the columns (on a plain object: an ORM
        # instance would cost more than the encryption, a new public id included).
        row = SimpleNamespace(**dict.fromkeys(PATIENT_COLUMNS))
        write_fields(row, patient.data, vault, patient.data.provided)  # type: ignore[arg-type]
        values = {name: getattr(row, name) for name in PATIENT_COLUMNS}
        values.update(archived=patient.archived_at is not None, archived_at=patient.archived_at)
        values["updated_by_id"] = actor_id  # created_by_id: on new rows only (Upserter.upsert)
        return values

    return build


def patient_identifier_rows(
    patient_id: str, organization_id: str, patient: mapping.MappedPatient, vault: crypto.Vault
) -> list[dict[str, Any]]:
    """The patient's identifier (blind index) rows, without ids."""
    return list(identifier_rows(patient_id, organization_id, patient.data, vault))


def appointment_row(
    appointment: mapping.MappedAppointment, refs: dict[str, Any], vault: crypto.Vault, now: Any
) -> Builder:
    def build() -> dict[str, Any]:
        values = dict(appointment.values)
        notes, reason = values.pop("notes"), values.pop("cancellation_reason")
        values.update(refs)
        values["notes_enc"] = vault.encrypt(NOTES_FIELD, notes)
        values["cancellation_reason_enc"] = vault.encrypt(CANCELLATION_REASON_FIELD, reason)
        values["status"] = appointments.appointment_status(
            starts_at=values["starts_at"],
            cancelled_at=values["cancelled_at"],
            did_not_arrive=values["did_not_arrive"],
            patient_arrived=values["patient_arrived"],
            now=now,
        )
        return values

    return build
