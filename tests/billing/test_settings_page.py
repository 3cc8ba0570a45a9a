"""The billing settings page: an admin sets the prefixes, terms, currency and what invoices print;
the next invoice issued carries the new prefix; bad values are field messages and change
nothing; roles without ``billing:settings`` are refused and another organization's admin changes
only their own."""

from __future__ import annotations

from clinic_app.billing import catalog
from clinic_app.billing import service as billing
from clinic_app.billing.models import BillingSettings, Invoice
from clinic_app.extensions import db
from tests.billing.conftest import ACTOR, draft_for, events, setup_billing
from tests.factories import csrf_from

GOOD = {
    "invoice_prefix": "HP-",
    "credit_note_prefix": "HPC-",
    "payment_terms_days": "30",
    "currency": "AUD",
    "business_number": "51 824 753 556",
    "payment_instructions": "EFT to BSB 062-000, account 1234 5678",
}


def _save(client, values):
    token = csrf_from(client.get("/billing/settings").get_data(as_text=True))
    return client.post("/billing/settings", data={"csrf_token": token, **values})


def test_an_admin_sets_the_prefix_and_the_next_invoice_carries_it(app, tenants, login_as):
    with app.app_context():
        setup = setup_billing(tenants.a.id)
        db.session.commit()
    admin = login_as("admin")
    page = admin.get("/billing/settings").get_data(as_text=True)
    assert 'value="INV-"' in page and 'value="14"' in page  # the defaults, shown
    assert "data-settings-link" in admin.get("/billing/invoices").get_data(as_text=True)
    answer = _save(admin, GOOD)
    assert answer.status_code in (302, 303)
    shown = admin.get("/billing/settings").get_data(as_text=True)
    assert 'value="HP-"' in shown and "EFT to BSB 062-000" in shown and 'value="30"' in shown
    with app.app_context():
        stored = db.session.get(BillingSettings, tenants.a.id)
        assert (stored.invoice_prefix, stored.credit_note_prefix, stored.payment_terms_days) == ("HP-", "HPC-", 30)
        assert stored.business_number == "51 824 753 556"
        invoice_id = draft_for(setup)
        billing.issue_invoice(tenants.a.id, invoice_id, actor=ACTOR)
        db.session.commit()
        assert db.session.get(Invoice, invoice_id).number == "HP-000001"
        assert len(events("billing.settings_changed")) == 1


def test_bad_values_are_field_messages_and_change_nothing(app, tenants, login_as):
    admin = login_as("admin")
    for values, message in (
        ({**GOOD, "invoice_prefix": "X" * 13}, "At most 12 characters."),
        ({**GOOD, "payment_terms_days": "400"}, "Between 0 and 365 days."),
        ({**GOOD, "payment_terms_days": "two weeks"}, "Enter a whole number of days"),
        ({**GOOD, "currency": "XYZ"}, "Choose one of"),
    ):
        answer = _save(admin, values)
        assert answer.status_code == 422
        assert message in answer.get_data(as_text=True)
    with app.app_context():
        assert catalog.billing_settings(tenants.a.id).invoice_prefix == "INV-"


def test_only_owners_and_admins_may_change_them_and_only_their_own(app, tenants, login_as):
    for role in ("clinician", "receptionist"):
        client = login_as(role)
        assert client.get("/billing/settings").status_code == 403
        token = csrf_from(client.get("/billing/invoices").get_data(as_text=True))
        assert client.post("/billing/settings", data={"csrf_token": token, **GOOD}).status_code == 403
    outsider = login_as("outsider")  # organization B's owner
    assert _save(outsider, GOOD).status_code in (302, 303)
    with app.app_context():
        assert catalog.billing_settings(tenants.a.id).invoice_prefix == "INV-"
        assert catalog.billing_settings(tenants.b.id).invoice_prefix == "HP-"
