"""The billing pages: invoicing an appointment from Today and from the appointment page, lines,
issue, payments, void with confirmation, credit notes; 409 on changing an issued invoice through
the page; 403 for clinicians; 404 for another organization; the htmx partials."""

from __future__ import annotations

import re

import pytest

from clinic_app.billing import service as billing
from clinic_app.billing.models import Invoice
from clinic_app.extensions import db
from clinic_app.patients import service as patients
from tests.billing.conftest import ACTOR, HTMX, issued, setup_billing
from tests.factories import csrf_from


@pytest.fixture
def setup(app, tenants):
    with app.app_context():
        return setup_billing(tenants.a.id, clinician_user_id=tenants.user("clinician").id)


def _post(client, path, data=None, *, page="/billing/invoices", headers=None):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **(data or {})}, headers=headers or {})


def test_a_receptionist_invoices_an_appointment_from_today_and_is_paid_in_two_parts(app, setup, login_as):
    desk = login_as("receptionist")
    today = desk.get("/today?date=2026-12-01&practitioner=all").get_data(as_text=True)
    link = re.search(r'href="([^"]+)" data-invoice-appointment', today)
    assert link, "no 'Invoice this appointment' on Today"
    new = desk.get(link.group(1).replace("&amp;", "&"))
    assert new.status_code == 200 and "Standard consultation" in new.get_data(as_text=True)
    created = _post(desk, "/billing/invoices/new", {"appointment_id": setup.appointment_id})
    assert created.status_code == 303
    invoice_url = created.headers["Location"]
    invoice_id = invoice_url.rsplit("/", 1)[1]
    assert _post(desk, f"/billing/invoices/{invoice_id}/issue").status_code == 303
    page = desk.get(invoice_url).get_data(as_text=True)
    assert "INV-000001" in page and "$177.50" in page

    first = _post(desk, f"/billing/invoices/{invoice_id}/payments", {"amount": "100.00", "method": "card"})
    assert first.status_code == 303
    assert "Partially paid" in desk.get(invoice_url).get_data(as_text=True)
    rest = _post(desk, f"/billing/invoices/{invoice_id}/payments", {"amount": "77.50", "method": "cash"})
    assert rest.status_code == 303
    page = desk.get(invoice_url).get_data(as_text=True)
    assert "data-invoice-status>Paid<" in page and 'data-amount="due">$0.00<' in page
    account = desk.get(f"/billing/patients/{setup.clinic.patient}").get_data(as_text=True)
    assert 'data-account="balance">$0.00<' in account
    assert "$100.00 · INV-000001" in account and "$77.50 · INV-000001" in account  # the payments
    # Once there is an invoice, the appointment's new-invoice page points to it.
    again = desk.get(f"/billing/invoices/new?appointment_id={setup.appointment_id}").get_data(as_text=True)
    assert "data-existing-invoice" in again and "INV-000001" in again


def test_the_appointment_page_links_to_invoicing_it(app, setup, login_as):
    page = login_as("receptionist").get(f"/appointments/{setup.appointment_id}").get_data(as_text=True)
    assert f"/billing/invoices/new?appointment_id={setup.appointment_id}" in page
    assert "data-invoice-appointment" not in login_as("clinician").get(
        f"/appointments/{setup.appointment_id}"
    ).get_data(as_text=True)


def test_changing_an_issued_invoice_through_the_page_is_409(app, setup, login_as):
    with app.app_context():
        invoice_id = issued(setup)
        line_id = db.session.execute(
            db.text("SELECT id FROM invoice_lines WHERE invoice_id = :id"), {"id": invoice_id}
        ).scalar()
    owner = login_as("owner")
    for path, data in [
        (f"/billing/invoices/{invoice_id}/lines", {"description": "Extra", "unit_price": "1.00"}),
        (f"/billing/invoices/{invoice_id}/lines/{line_id}/remove", {}),
        (f"/billing/invoices/{invoice_id}/delete", {}),
        (f"/billing/invoices/{invoice_id}/issue", {}),
    ]:
        assert _post(owner, path, data).status_code == 409, path
    with app.app_context():
        assert db.session.get(Invoice, invoice_id).total == 13200


def test_void_asks_first_then_keeps_the_number(app, setup, login_as):
    with app.app_context():
        invoice_id = issued(setup)
    admin = login_as("admin")
    missing = _post(admin, f"/billing/invoices/{invoice_id}/void", {"void-reason": ""})
    assert missing.status_code == 422 and "Give the reason" in missing.get_data(as_text=True)
    asked = _post(admin, f"/billing/invoices/{invoice_id}/void", {"void-reason": "Wrong patient"})
    assert asked.status_code == 200 and "data-confirm-question" in asked.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Invoice, invoice_id).status == "issued"
    voided = _post(admin, f"/billing/invoices/{invoice_id}/void", {"void-reason": "Wrong patient", "confirmed": "yes"})
    assert voided.status_code == 303
    page = admin.get(f"/billing/invoices/{invoice_id}").get_data(as_text=True)
    assert "INV-000001" in page and "Wrong patient" in page and "data-invoice-status>Void<" in page


def test_a_credit_note_from_the_page(app, setup, login_as):
    with app.app_context():
        invoice_id = issued(setup)
    admin = login_as("admin")
    done = _post(
        admin, f"/billing/invoices/{invoice_id}/credit-note", {"credit-reason": "Goodwill", "confirmed": "yes"}
    )
    assert done.status_code == 303
    page = admin.get(f"/billing/invoices/{invoice_id}").get_data(as_text=True)
    assert 'data-credit-note="CN-000001"' in page and 'data-amount="due">$0.00<' in page


def test_clinicians_read_their_invoices_but_cannot_issue_or_take_money(app, setup, login_as):
    with app.app_context():
        invoice_id = issued(setup)
    clinician = login_as("clinician")
    page = clinician.get(f"/billing/invoices/{invoice_id}")
    assert page.status_code == 200 and "Record payment" not in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    for action in ("issue", "payments", "void", "credit-note"):
        answer = clinician.post(f"/billing/invoices/{invoice_id}/{action}", data={"csrf_token": token})
        assert answer.status_code == 403, action


def test_another_organization_gets_404_on_the_pages(app, setup, login_as):
    with app.app_context():
        invoice_id = issued(setup)
    outsider = login_as("outsider")
    for path in (
        f"/billing/invoices/{invoice_id}",
        f"/billing/patients/{setup.clinic.patient}",
        f"/billing/invoices/new?appointment_id={setup.appointment_id}",
    ):
        assert outsider.get(path).status_code == 404, path
    assert (
        _post(outsider, f"/billing/invoices/{invoice_id}/payments", {"amount": "1", "method": "cash"}).status_code
        == 404
    )


def test_the_list_filters_totals_and_answers_htmx_with_the_partial(app, setup, login_as):
    with app.app_context():
        issued(setup)
    owner = login_as("owner")
    full = owner.get("/billing/invoices?status=issued").get_data(as_text=True)
    assert "<html" in full and "INV-000001" in full and 'data-total="invoiced">$132.00<' in full
    partial = owner.get("/billing/invoices?status=paid", headers=HTMX).get_data(as_text=True)
    assert "<html" not in partial and "INV-000001" not in partial and 'id="invoice-list"' in partial


def test_items_and_receivables_pages(app, setup, login_as):
    admin = login_as("admin")
    assert "Progress report" in admin.get("/billing/items").get_data(as_text=True)
    bad = _post(admin, "/billing/items", {"name": "Bad", "unit_price": "12.345"}, page="/billing/items")
    assert bad.status_code == 422 and "at most two decimals" in bad.get_data(as_text=True)
    added = _post(admin, "/billing/items", {"name": "Group session", "unit_price": "55.00"}, page="/billing/items")
    assert added.status_code == 303 and "Group session" in admin.get("/billing/items").get_data(as_text=True)
    assert login_as("receptionist").get("/billing/items").status_code == 403
    assert admin.get("/billing/receivables").status_code == 200


def test_a_draft_for_a_patient_gets_lines_by_hand(app, setup, login_as):
    desk = login_as("receptionist")
    created = _post(desk, "/billing/invoices/new", {"patient_id": setup.clinic.patient})
    invoice_id = created.headers["Location"].rsplit("/", 1)[1]
    lines = f"/billing/invoices/{invoice_id}/lines"
    added = _post(desk, lines, {"description": "Home visit", "quantity": "2", "unit_price": "80.00"})
    assert added.status_code == 303
    page = desk.get(f"/billing/invoices/{invoice_id}").get_data(as_text=True)
    assert "Home visit" in page and 'data-amount="total">$176.00<' in page  # 2 x $80.00 + GST
    assert _post(desk, lines, {"description": "Bad", "quantity": "abc"}).status_code == 422
    assert _post(desk, lines, {"description": "Bad", "unit_price": "1.234"}).status_code == 422
    assert _post(desk, lines, {"unit_price": "5.00"}).status_code == 422  # no item, no description
    with app.app_context():
        assert db.session.get(Invoice, invoice_id).total == 17600


def test_e_mail_to_patient_sends_the_invoice_summary(app, setup, login_as, smtp_server):
    with app.app_context():
        data = patients.validate_for(
            setup.organization_id, {"first_name": "Ada", "last_name": "Mail", "email": "ada@example.com"}
        )
        patient = patients.create_patient(setup.organization_id, data, actor=ACTOR)
        lines = (billing.LineInput(item_id=setup.consult_item),)
        draft = billing.create_draft(
            setup.organization_id, billing.DraftInput(patient_id=patient.id, lines=lines), actor=ACTOR
        )
        db.session.commit()
        invoice_id, no_mail = draft.id, issued(setup)
    desk = login_as("receptionist")
    assert _post(desk, f"/billing/invoices/{invoice_id}/email").status_code == 409  # a draft is not sent
    assert _post(desk, f"/billing/invoices/{invoice_id}/issue").status_code == 303
    assert _post(desk, f"/billing/invoices/{invoice_id}/email").status_code == 303
    message = smtp_server.wait_for(1, to="ada@example.com")[0]
    body = message.get_content()
    assert "INV-000002" in message["Subject"] and "Amount due: $132.00" in body and "10960" in body
    assert _post(desk, f"/billing/invoices/{no_mail}/email").status_code == 422  # no address on record
    assert _post(login_as("clinician"), f"/billing/invoices/{invoice_id}/email").status_code == 403
