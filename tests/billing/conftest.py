"""Builders for billing tests: a clinic with a practitioner, an appointment type with its items,
a patient and a booked appointment; drafts and issued invoices made through the service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from clinic_app.appointments.models import Practitioner
from clinic_app.billing import service as billing
from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from tests.appointments.builders import book, make_clinic
from tests.concurrency.conftest import concurrent_app, live, sqlite_config  # noqa: F401  (threads against a server)

ACTOR = audit.Actor()
HTMX = {"HX-Request": "true"}


@dataclass
class Billing:
    organization_id: str
    clinic: Any
    consult_item: str  # $120.00 + GST
    report_item: str  # $45.50, GST free
    appointment_id: str


def setup_billing(organization_id: str, *, clinician_user_id: str | None = None) -> Billing:
    """A clinic whose standard consultation bills two items, and one booked appointment of it."""
    clinic = make_clinic(organization_id)
    if clinician_user_id:
        db.session.get(Practitioner, clinic.practitioner).user_id = clinician_user_id
    rates = {rate.name: rate.id for rate in billing.tax_rates(organization_id)}
    consult = billing.create_item(
        organization_id,
        billing.ItemInput(
            name="Standard consultation", code="10960", unit_price=12000, appointment_type_id=clinic.standard
        ),
        actor=ACTOR,
    )
    report = billing.create_item(
        organization_id,
        billing.ItemInput(
            name="Progress report",
            code="RPT",
            unit_price=4550,
            tax_rate_id=rates["GST free"],
            appointment_type_id=clinic.standard,
        ),
        actor=ACTOR,
    )
    db.session.commit()
    appointment = book(clinic, "2026-11-30 23:00")
    return Billing(organization_id, clinic, consult.id, report.id, appointment.id)


def draft_for(setup: Billing, **values: Any) -> str:
    invoice = billing.create_draft(
        setup.organization_id,
        billing.DraftInput(patient_id=setup.clinic.patient, practitioner_id=setup.clinic.practitioner, **values)
        if "appointment_id" not in values
        else billing.DraftInput(**values),
        actor=ACTOR,
    )
    if not values.get("appointment_id") and not values.get("lines"):
        billing.add_line(setup.organization_id, invoice.id, billing.LineInput(item_id=setup.consult_item), actor=ACTOR)
    db.session.commit()
    return invoice.id


def issued(setup: Billing, **values: Any) -> str:
    invoice_id = draft_for(setup, **values)
    billing.issue_invoice(setup.organization_id, invoice_id, actor=ACTOR)
    db.session.commit()
    return invoice_id


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
