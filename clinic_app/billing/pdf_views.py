"""Download an invoice as PDF (billing.pdf); the download is audited."""

from __future__ import annotations

from flask import make_response
from flask.typing import ResponseReturnValue

from clinic_app.billing import bp, pdf, queries
from clinic_app.billing.access import reader_scope
from clinic_app.billing.document import invoice_document
from clinic_app.billing.events import record
from clinic_app.core.access import requires
from clinic_app.core.tenancy import current_actor, current_organization_id


@bp.get("/billing/invoices/<invoice_id>/pdf")
@requires("billing:read_own")
def invoice_pdf(invoice_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    detail = queries.invoice_detail(organization_id, invoice_id, own=reader_scope(), actor=current_actor())
    body = pdf.render_pdf(invoice_document(detail))
    invoice = detail.invoice
    record(
        "invoice_downloaded",
        organization_id,
        current_actor(),
        target_type="invoice",
        target_id=invoice.id,
        patient_id=invoice.patient_id,
    )
    response = make_response(body)
    response.headers["Content-Type"] = "application/pdf"
    name = invoice.number or f"draft-{invoice.id}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response
