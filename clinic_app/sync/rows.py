"""The column values a sync writes for a Cliniko patient or appointment, built (and encrypted)
only when the row is written: each returns a function that builds them.

The values themselves are their owners': the patients feature's bulk writer (names in plaintext
for search, everything else encrypted) and its identifier rows (the blind indexes), and the
appointments feature's (encrypted notes, the status rule). This module only adapts a mapped
Cliniko record to them and adds what the sync knows (who wrote it, the rows it refers to).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clinic_app.appointments import service as appointments
from clinic_app.core import crypto
from clinic_app.patients.storage import column_values, identifier_rows
from clinic_app.sync import mapping

Builder = Callable[[], dict[str, Any]]


def patient_row(patient: mapping.MappedPatient, vault: crypto.Vault, actor_id: str | None) -> Builder:
    def build() -> dict[str, Any]:
        values = column_values(patient.data, vault, archived_at=patient.archived_at)
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
        return appointments.column_values({**appointment.values, **refs}, vault, now=now)

    return build
