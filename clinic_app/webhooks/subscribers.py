"""The signals of lower features, turned into outbox events in the transaction that sent them
(docs/architecture.md, "Signals"). Connected when this module is imported (``create_app``)."""

from __future__ import annotations

from typing import Any

from clinic_app.appointments.signals import appointments_changed
from clinic_app.billing.signals import invoice_changed
from clinic_app.figures.signals import patients_flagged
from clinic_app.health_data.signals import analysis_completed
from clinic_app.patients.signals import patient_changed, patient_edited
from clinic_app.reports.signals import report_signed
from clinic_app.sync.signals import sync_finished
from clinic_app.webhooks import outbox

_PATIENT_EVENTS = {"registered": "patient.created", "archived": "patient.archived", "restored": "patient.updated"}
_APPOINTMENT_EVENTS = {
    "booked": "appointment.booked",
    "rescheduled": "appointment.rescheduled",
    "cancelled": "appointment.cancelled",
    "arrived": "appointment.attended",
    "did_not_arrive": "appointment.did_not_arrive",
}


def _patient_changed(_sender: Any, *, organization_id: str, patient_id: str, change: str, **_: Any) -> None:
    event_type = _PATIENT_EVENTS.get(change)
    if event_type is not None:
        outbox.emit(organization_id, event_type, {"patient_id": patient_id})


def _appointments_changed(
    _sender: Any,
    *,
    organization_id: str,
    patient_ids: list[str],
    appointment_id: str | None = None,
    change: str | None = None,
    **_: Any,
) -> None:
    event_type = _APPOINTMENT_EVENTS.get(change or "")
    if event_type is None or appointment_id is None:
        return  # a change this signal does not describe one appointment by (none today)
    outbox.emit(
        organization_id,
        event_type,
        {"appointment_id": appointment_id, "patient_id": patient_ids[0] if patient_ids else None},
    )


def _patient_edited(_sender: Any, *, organization_id: str, patient_id: str, **_: Any) -> None:
    outbox.emit(organization_id, "patient.updated", {"patient_id": patient_id})


def _report_signed(_sender: Any, *, organization_id: str, report_id: str, patient_id: str, **_: Any) -> None:
    outbox.emit(organization_id, "report.signed", {"report_id": report_id, "patient_id": patient_id})


def _sync_finished(_sender: Any, *, organization_id: str, sync_id: str, status: str, **_: Any) -> None:
    if status in ("completed", "failed"):
        outbox.emit(organization_id, f"sync.{status}", {"sync_id": sync_id})


def _analysis_completed(
    _sender: Any, *, organization_id: str, analysis_id: str, patient_id: str, upload_id: str, **_: Any
) -> None:
    data = {"analysis_id": analysis_id, "patient_id": patient_id, "upload_id": upload_id}
    outbox.emit(organization_id, "health_data.analysed", data)


def _invoice_changed(
    _sender: Any, *, organization_id: str, invoice_id: str, patient_id: str | None, change: str, **_: Any
) -> None:
    outbox.emit(organization_id, f"invoice.{change}", {"invoice_id": invoice_id, "patient_id": patient_id})


def _patients_flagged(_sender: Any, *, organization_id: str, patient_ids: list[str], **_: Any) -> None:
    # One event per patient; a whole-organization recompute may flag many, so ask once first.
    if not outbox.anyone_wants(organization_id, "reengagement.flagged"):
        return
    for patient_id in patient_ids:
        outbox.emit(organization_id, "reengagement.flagged", {"patient_id": patient_id})


patient_changed.connect(_patient_changed)
patient_edited.connect(_patient_edited)
appointments_changed.connect(_appointments_changed)
report_signed.connect(_report_signed)
sync_finished.connect(_sync_finished)
analysis_completed.connect(_analysis_completed)
invoice_changed.connect(_invoice_changed)
patients_flagged.connect(_patients_flagged)
