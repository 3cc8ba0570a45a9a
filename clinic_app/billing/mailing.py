"""E-mail an issued invoice to the patient: a plain-text summary (the clinic, the number, dates,
lines, total, paid, amount due, payment instructions) sent after the request commits. The mail
kit sends text only, so the PDF stays a download; the message says how to get a copy. The address
is the patient's (decrypted for this send only); the event records ids, never the address."""

from __future__ import annotations

from clinic_app.billing import catalog
from clinic_app.billing.events import record
from clinic_app.billing.invoices import get_invoice, lines_of
from clinic_app.billing.models import DRAFT, VOID
from clinic_app.billing.money import display
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid
from clinic_app.core.mail import send_after_commit
from clinic_app.orgs import service as orgs
from clinic_app.patients import service as patients
from clinic_app.patients.models import ENCRYPTED_FIELDS


def email_invoice(organization_id: str, invoice_id: str, *, actor: audit.Actor) -> None:
    """Send the invoice's summary to the patient's e-mail address. Raises Conflict for a draft or
    void invoice, Invalid when the patient has no readable address."""
    invoice = get_invoice(organization_id, invoice_id)
    if invoice.status in (DRAFT, VOID):
        raise Conflict("Only an issued invoice is sent to the patient.")
    patient = patients.get_patient(organization_id, invoice.patient_id)
    address = crypto.vault_for(organization_id).decrypt(
        ENCRYPTED_FIELDS["email"], patient.email_enc, target_id=patient.id
    )
    if not isinstance(address, str) or "@" not in address:
        raise Invalid(errors=[FieldError("email", "The patient has no e-mail address on their record.")])
    clinic = orgs.get_organization(organization_id).name
    settings = catalog.billing_settings(organization_id)

    def money(amount: int) -> str:
        return display(amount, invoice.currency)

    lines = [
        f"  {line.code + ' ' if line.code else ''}{line.description} x{line.quantity}: {money(line.net)}"
        f" + {line.tax_name} {money(line.tax)}"
        for line in lines_of(invoice.id)
    ]
    body = "\n".join(
        [
            f"Dear {patient.first_name} {patient.last_name},",
            "",
            f"Your invoice {invoice.number} from {clinic}"
            + (f" (ABN {settings.business_number})" if settings.business_number else "")
            + f", issued {invoice.issue_date:%d %b %Y}, due {invoice.due_date:%d %b %Y}:",
            "",
            *lines,
            "",
            f"Total: {money(invoice.total)} (GST {money(invoice.tax_total)})",
            f"Paid: {money(invoice.amount_paid)}",
            *([f"Credited: {money(invoice.amount_credited)}"] if invoice.amount_credited else []),
            f"Amount due: {money(invoice.balance_due)}",
            "",
            *([settings.payment_instructions, ""] if settings.payment_instructions else []),
            "Ask the clinic for a PDF copy if you need one.",
            "",
            clinic,
        ]
    )
    send_after_commit(address, f"Invoice {invoice.number} from {clinic}", body)
    record("invoice_emailed", organization_id, actor, target_type="invoice", target_id=invoice.id,
           patient_id=invoice.patient_id)  # fmt: skip
