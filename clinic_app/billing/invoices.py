"""Draft invoices: created by hand, from an appointment (its type's items prefilled, patient and
practitioner linked) or from a consultation; their lines, notes and due date; deleting a draft.

An invoice that is no longer a draft is never edited or deleted here: every change answers
``Conflict`` (409). Every function takes the organization explicitly; another organization's
invoice is ``NotFound``. Writes only flush; the request commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError

from clinic_app.appointments.models import Appointment, Practitioner
from clinic_app.billing import catalog
from clinic_app.billing.events import INVOICE_NOT_FOUND, record
from clinic_app.billing.models import DRAFT, INVOICE_FIELDS, VOID, BillableItem, Invoice, InvoiceLine
from clinic_app.billing.money import BASIS, MAX_AMOUNT, MAX_QUANTITY, line_amounts
from clinic_app.consultations import service as consultations
from clinic_app.core import audit, crypto
from clinic_app.core import text as plain
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import day_in_range
from clinic_app.extensions import db
from clinic_app.patients import service as patients

NOTES_MAX, DESCRIPTION_MAX = 2000, 200
LINES_MAX = 50
NOT_DRAFT = "This invoice has been issued and cannot be changed: void it or issue a credit note."


# --- finding and locking ------------------------------------------------------------------------


def get_invoice(organization_id: str, invoice_id: str | None) -> Invoice:
    """The organization's invoice. Raises NotFound for an unknown id or another organization's."""
    invoice = db.session.get(Invoice, invoice_id) if invoice_id and not plain.unusable(invoice_id) else None
    if invoice is None or invoice.organization_id != organization_id:
        raise NotFound(INVOICE_NOT_FOUND)
    return invoice


def lock_invoice(organization_id: str, invoice_id: str | None) -> Invoice:
    """The invoice, re-read and held until the transaction ends, so changes to one invoice
    (issue, pay, void, credit) run one after the other (PostgreSQL: a row lock; SQLite, which
    begins its transaction only at the first write: a no-op write that takes the write lock)."""
    get_invoice(organization_id, invoice_id)
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE invoices SET status = status WHERE id = :id"), {"id": invoice_id})
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    if invoice is None:
        raise NotFound(INVOICE_NOT_FOUND)
    return invoice


def draft_of(organization_id: str, invoice_id: str | None) -> Invoice:
    """The invoice locked, if it is still a draft. Raises NotFound, or Conflict once issued."""
    invoice = lock_invoice(organization_id, invoice_id)
    if invoice.status != DRAFT:
        raise Conflict(NOT_DRAFT)
    return invoice


def lines_of(invoice_id: str) -> list[InvoiceLine]:
    return list(
        db.session.scalars(
            select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id).order_by(InvoiceLine.position)
        )
    )


def practitioner_for_user(organization_id: str, user_id: str | None) -> Practitioner | None:
    if not user_id:
        return None
    return db.session.scalar(
        select(Practitioner).where(Practitioner.organization_id == organization_id, Practitioner.user_id == user_id)
    )


# --- drafts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    item_id: str | None = None
    description: str | None = None
    code: str | None = None
    quantity: int | None = None
    unit_price: int | None = None
    discount_basis_points: int | None = None
    tax_rate_id: str | None = None


@dataclass(frozen=True)
class DraftInput:
    patient_id: str | None = None
    practitioner_id: str | None = None
    appointment_id: str | None = None
    consultation_id: str | None = None
    due_date: date | None = None
    notes: str | None = None
    lines: tuple[LineInput, ...] = ()


def _practitioner(organization_id: str, practitioner_id: str | None) -> Practitioner | None:
    if practitioner_id is None:
        return None
    person = db.session.get(Practitioner, practitioner_id) if not plain.unusable(practitioner_id) else None
    if person is None or person.organization_id != organization_id:
        raise Invalid(errors=[FieldError("practitioner_id", "Choose one of the organization's practitioners.")])
    return person


def _check_notes(notes: str | None) -> None:
    if notes is not None and (plain.unusable(notes) or len(notes) > NOTES_MAX):
        raise Invalid(errors=[FieldError("notes", f"At most {NOTES_MAX} characters of plain text.")])


def _check_due(due_date: date | None) -> None:
    if due_date is not None and not day_in_range(due_date):
        raise Invalid(errors=[FieldError("due_date", "Choose a due date between 1900 and 2100.")])


def create_draft(organization_id: str, data: DraftInput, *, actor: audit.Actor) -> Invoice:
    """A draft invoice. From an appointment: its patient and practitioner, and the items of its
    type as lines (an appointment has at most one invoice that is not void: another answers
    Conflict). From a consultation: its patient, clinician and appointment. Raises Invalid for an
    unknown patient, practitioner, appointment or consultation of the organization."""
    patient_id, practitioner_id, appointment_id = data.patient_id, data.practitioner_id, data.appointment_id
    lines = list(data.lines)
    consultation_id = None
    if data.consultation_id is not None:
        try:
            session = consultations.get_session(organization_id, data.consultation_id)
        except NotFound:
            raise Invalid(errors=[FieldError("consultation_id", "No such consultation.")]) from None
        consultation_id = session.id
        patient_id = patient_id or session.patient_id
        appointment_id = appointment_id or session.appointment_id
        if practitioner_id is None:
            person = practitioner_for_user(organization_id, session.clinician_id)
            practitioner_id = person.id if person else None
    if appointment_id is not None:
        appointment = db.session.get(Appointment, appointment_id) if not plain.unusable(appointment_id) else None
        if appointment is None or appointment.organization_id != organization_id or appointment.deleted_at:
            raise Invalid(errors=[FieldError("appointment_id", "No such appointment.")])
        patient_id = patient_id or appointment.patient_id
        practitioner_id = practitioner_id or appointment.practitioner_id
        if not lines:
            lines = [
                LineInput(item_id=item.id)
                for item in catalog.items_for_appointment_type(organization_id, appointment.appointment_type_id)
            ]
    if not patient_id:
        raise Invalid(errors=[FieldError("patient_id", "Choose the patient to invoice.")])
    try:
        patient = patients.get_patient(organization_id, patient_id)
    except NotFound:
        raise Invalid(errors=[FieldError("patient_id", "No such patient.")]) from None
    if patient.erased_at is not None:
        raise Invalid(errors=[FieldError("patient_id", "This patient's record was erased.", "PATIENT_ERASED")])
    _practitioner(organization_id, practitioner_id)
    _check_notes(data.notes)
    _check_due(data.due_date)
    if len(lines) > LINES_MAX:
        raise Invalid(errors=[FieldError("lines", f"At most {LINES_MAX} lines.")])
    settings = catalog.billing_settings(organization_id)
    invoice = Invoice(
        organization_id=organization_id,
        status=DRAFT,
        patient_id=patient.id,
        practitioner_id=practitioner_id,
        appointment_id=appointment_id,
        consultation_id=consultation_id,
        currency=settings.currency,
        due_date=data.due_date,
        notes_enc=crypto.vault_for(organization_id).encrypt(INVOICE_FIELDS["notes"], data.notes or None),
        created_by_id=actor.user_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(invoice)
            db.session.flush()
    except IntegrityError:
        raise Conflict("This appointment already has an invoice that is not void.") from None
    for index, line in enumerate(lines):
        _add_line(invoice, line, prefix=f"lines.{index}.")
    recompute(invoice)
    record(
        "invoice_created",
        organization_id,
        actor,
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
        appointment_id=appointment_id,
    )
    return invoice


def update_draft(
    organization_id: str,
    invoice_id: str,
    *,
    actor: audit.Actor,
    notes: str | None = None,
    due_date: date | None = None,
    practitioner_id: str | None = None,
) -> Invoice:
    """Change a draft's notes, due date or practitioner. Raises Conflict once issued."""
    invoice = draft_of(organization_id, invoice_id)
    _check_notes(notes)
    _check_due(due_date)
    if practitioner_id is not None:
        person = _practitioner(organization_id, practitioner_id or None)
        invoice.practitioner_id = person.id if person else None
    if notes is not None:
        invoice.notes_enc = crypto.vault_for(organization_id).encrypt(INVOICE_FIELDS["notes"], notes or None)
    if due_date is not None:
        invoice.due_date = due_date
    db.session.flush()
    record(
        "invoice_changed",
        organization_id,
        actor,
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
    )
    return invoice


def delete_draft(organization_id: str, invoice_id: str, *, actor: audit.Actor) -> None:
    """Delete a draft (it has no number, so nothing is lost). Raises Conflict once issued."""
    invoice = draft_of(organization_id, invoice_id)
    patient_id = invoice.patient_id
    db.session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))
    db.session.delete(invoice)
    db.session.flush()
    record(
        "invoice_deleted", organization_id, actor, target_type="invoice", target_id=invoice_id, patient_id=patient_id
    )


# --- lines --------------------------------------------------------------------------------------


def _line_values(organization_id: str, data: LineInput, prefix: str, base: InvoiceLine | None) -> dict:
    errors: list[FieldError] = []
    item: BillableItem | None = None
    if data.item_id is not None:
        try:
            item = catalog.get_item(organization_id, data.item_id)
        except NotFound:
            errors.append(FieldError(prefix + "item_id", "Choose one of the organization's billable items."))
    description = data.description if data.description is not None else (item.name if item else None)
    if description is None and base is not None:
        description = base.description
    description = (description or "").strip()
    if not description or plain.unusable(description) or len(description) > DESCRIPTION_MAX:
        errors.append(FieldError(prefix + "description", f"Describe the line (at most {DESCRIPTION_MAX} characters)."))
    code = data.code if data.code is not None else (item.code if item else (base.code if base else None))
    if code is not None and (plain.unusable(code) or len(code) > catalog.CODE_MAX):
        errors.append(FieldError(prefix + "code", f"At most {catalog.CODE_MAX} characters."))
    quantity = data.quantity if data.quantity is not None else (base.quantity if base else 1)
    if not 1 <= quantity <= MAX_QUANTITY:
        errors.append(FieldError(prefix + "quantity", f"Between 1 and {MAX_QUANTITY}."))
    unit_price = data.unit_price
    if unit_price is None:
        unit_price = item.unit_price if item else (base.unit_price if base else None)
    if unit_price is None or not 0 <= unit_price <= MAX_AMOUNT:
        errors.append(FieldError(prefix + "unit_price", f"Give the price in cents (0 to {MAX_AMOUNT})."))
    discount = data.discount_basis_points
    if discount is None:
        discount = base.discount_basis_points if base else 0
    if not 0 <= discount <= BASIS:
        errors.append(FieldError(prefix + "discount_basis_points", "Between 0 and 10000 (100 %)."))
    rate_id = data.tax_rate_id or (item.tax_rate_id if item else None)
    rate = None
    try:
        rate = catalog.get_tax_rate(organization_id, rate_id) if rate_id else None
    except NotFound:
        errors.append(FieldError(prefix + "tax_rate_id", "Choose one of the organization's tax rates."))
    if errors:
        raise Invalid(errors=errors)
    if rate is None and base is None:
        rate = catalog.tax_rates(organization_id)[0]
    tax_name = rate.name if rate else base.tax_name  # type: ignore[union-attr]
    tax_bp = rate.basis_points if rate else base.tax_basis_points  # type: ignore[union-attr]
    amounts = line_amounts(quantity, unit_price or 0, discount, tax_bp)
    if amounts.total > MAX_AMOUNT:
        raise Invalid(errors=[FieldError(prefix + "quantity", "The line's total is too large.")])
    return {
        "item_id": item.id if item else (base.item_id if base else None),
        "description": description,
        "code": (code or "").strip() or None,
        "quantity": quantity,
        "unit_price": unit_price,
        "discount_basis_points": discount,
        "tax_name": tax_name,
        "tax_basis_points": tax_bp,
        "net": amounts.net,
        "tax": amounts.tax,
        "total": amounts.total,
    }


def _add_line(invoice: Invoice, data: LineInput, *, prefix: str = "") -> InvoiceLine:
    count = db.session.scalar(select(func.count()).where(InvoiceLine.invoice_id == invoice.id)) or 0
    if count >= LINES_MAX:
        raise Invalid(errors=[FieldError("lines", f"At most {LINES_MAX} lines.")])
    last = db.session.scalar(select(func.max(InvoiceLine.position)).where(InvoiceLine.invoice_id == invoice.id))
    line = InvoiceLine(
        organization_id=invoice.organization_id,
        invoice_id=invoice.id,
        position=(last or 0) + 1,
        **_line_values(invoice.organization_id, data, prefix, None),
    )
    db.session.add(line)
    db.session.flush()
    return line


def recompute(invoice: Invoice) -> None:
    """A draft's totals from its lines (sums of the lines' rounded amounts)."""
    lines = lines_of(invoice.id)
    invoice.subtotal = sum(line.net for line in lines)
    invoice.tax_total = sum(line.tax for line in lines)
    invoice.total = sum(line.total for line in lines)
    db.session.flush()


def add_line(organization_id: str, invoice_id: str, data: LineInput, *, actor: audit.Actor) -> InvoiceLine:
    """Add a line to a draft (from an item, by hand, or both: the item's values are defaults)."""
    invoice = draft_of(organization_id, invoice_id)
    line = _add_line(invoice, data)
    recompute(invoice)
    record(
        "invoice_changed",
        organization_id,
        actor,
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
        line_added=line.id,
    )
    return line


def _line_of(invoice: Invoice, line_id: str) -> InvoiceLine:
    line = db.session.get(InvoiceLine, line_id) if line_id and not plain.unusable(line_id) else None
    if line is None or line.invoice_id != invoice.id:
        raise NotFound("Invoice line not found.")
    return line


def update_line(
    organization_id: str, invoice_id: str, line_id: str, data: LineInput, *, actor: audit.Actor
) -> InvoiceLine:
    invoice = draft_of(organization_id, invoice_id)
    line = _line_of(invoice, line_id)
    for name, value in _line_values(organization_id, data, "", line).items():
        setattr(line, name, value)
    recompute(invoice)
    record(
        "invoice_changed",
        organization_id,
        actor,
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
        line_changed=line.id,
    )
    return line


def remove_line(organization_id: str, invoice_id: str, line_id: str, *, actor: audit.Actor) -> None:
    invoice = draft_of(organization_id, invoice_id)
    db.session.delete(_line_of(invoice, line_id))
    db.session.flush()
    recompute(invoice)
    record(
        "invoice_changed",
        organization_id,
        actor,
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
        line_removed=line_id,
    )


def is_open_for_appointment(organization_id: str, appointment_id: str) -> Invoice | None:
    """The appointment's invoice that is not void, if any."""
    return db.session.scalar(
        select(Invoice).where(
            Invoice.organization_id == organization_id,
            Invoice.appointment_id == appointment_id,
            Invoice.status != VOID,
        )
    )
