"""What an invoice PDF prints, gathered in one plain value: the clinic's letterhead and ABN, the
numbers and dates, patient, practitioner with registration, lines with codes and tax, totals, paid
and due, payment instructions. Built from the database once; rendering it is pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from clinic_app.appointments.models import Practitioner
from clinic_app.billing import catalog
from clinic_app.billing.queries import InvoiceDetail
from clinic_app.core.errors import NotFound
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.profiles import service as profiles


@dataclass(frozen=True)
class PrintedLine:
    code: str
    description: str
    quantity: int
    unit_price: int
    discount_basis_points: int
    tax_name: str
    tax: int
    net: int


@dataclass(frozen=True)
class InvoiceDocument:
    invoice_id: str
    number: str | None
    status: str
    organization_name: str
    business_number: str | None
    currency: str
    issue_date: date | None
    due_date: date | None
    issued_at: datetime | None
    patient_name: str
    practitioner_name: str | None
    practitioner_registration: str | None
    lines: tuple[PrintedLine, ...]
    subtotal: int
    tax_total: int
    total: int
    paid: int
    credited: int
    due: int
    payment_instructions: str | None
    void_reason: str | None


def _registration(organization_id: str, practitioner_id: str | None) -> str | None:
    person = db.session.get(Practitioner, practitioner_id) if practitioner_id else None
    if person is None or person.user_id is None:
        return None
    try:
        return profiles.get_profile(organization_id, person.user_id).data.registration
    except NotFound:
        return None


def invoice_document(detail: InvoiceDetail) -> InvoiceDocument:
    invoice = detail.invoice
    settings = catalog.billing_settings(invoice.organization_id)
    return InvoiceDocument(
        invoice_id=invoice.id,
        number=invoice.number,
        status=invoice.status,
        organization_name=orgs.get_organization(invoice.organization_id).name,
        business_number=settings.business_number,
        currency=invoice.currency,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        issued_at=invoice.issued_at,
        patient_name=detail.patient_name,
        practitioner_name=detail.practitioner_name,
        practitioner_registration=_registration(invoice.organization_id, invoice.practitioner_id),
        lines=tuple(
            PrintedLine(
                code=line.code or "",
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_basis_points=line.discount_basis_points,
                tax_name=line.tax_name,
                tax=line.tax,
                net=line.net,
            )
            for line in detail.lines
        ),
        subtotal=invoice.subtotal,
        tax_total=invoice.tax_total,
        total=invoice.total,
        paid=invoice.amount_paid,
        credited=invoice.amount_credited,
        due=invoice.balance_due,
        payment_instructions=settings.payment_instructions,
        void_reason=detail.void_reason,
    )
