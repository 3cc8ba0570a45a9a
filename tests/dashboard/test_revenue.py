"""The dashboard's Revenue page: invoiced and received per week, outstanding, per practitioner and
per appointment type, each chart with its numbers as a table; for billing readers only."""

from __future__ import annotations

from clinic_app.billing import service as billing
from clinic_app.billing.revenue import revenue
from clinic_app.extensions import db
from tests.billing.conftest import ACTOR, HTMX, issued, setup_billing


def test_revenue_counts_invoiced_received_and_outstanding(app, tenants, login_as):
    with app.app_context():
        setup = setup_billing(tenants.a.id)
        from_appointment = issued(setup, appointment_id=setup.appointment_id)  # $177.50, Standard consultation
        by_hand = issued(setup)  # $132.00, no appointment
        billing.record_payment(tenants.a.id, from_appointment, billing.PaymentInput(10000, "card"), actor=ACTOR)
        billing.record_payment(tenants.a.id, by_hand, billing.PaymentInput(13200, "cash"), actor=ACTOR)
        billing.refund_payment(tenants.a.id, by_hand, billing.PaymentInput(200, "cash"), actor=ACTOR)
        db.session.commit()
        figures = revenue(tenants.a.id)
    assert figures.weeks[-1].invoiced == 30950 and figures.weeks[-1].received == 23000
    assert figures.outstanding == 7750 + 200
    assert dict(figures.by_type) == {"Standard consultation": 17750, "Not from an appointment": 13200}
    assert dict(figures.by_practitioner) == {"Priya Kapoor": 30950}

    page = login_as("admin").get("/dashboard/revenue").get_data(as_text=True)
    assert 'data-card-value="outstanding">$79.50<' in page and "$309.50" in page
    assert page.count("Show the numbers as a table") == 3
    assert "<td>$230.00</td>" in page and "Priya Kapoor" in page
    partial = login_as("receptionist").get("/dashboard/revenue", headers=HTMX).get_data(as_text=True)
    assert "<html" not in partial and 'id="revenue"' in partial
    assert login_as("clinician").get("/dashboard/revenue").status_code == 403
    assert "data-revenue-link" in login_as("admin").get("/dashboard").get_data(as_text=True)
