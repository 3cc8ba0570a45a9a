"""The kept per-status totals (billing.totals) always equal a live sum over the invoices, whatever
happened to them: drafts made, changed and deleted, issues, payments, refunds, credit, voids,
credit notes, and work rolled back."""

from __future__ import annotations

import random

import pytest

from clinic_app.billing import queries
from clinic_app.billing import service as billing
from clinic_app.billing.models import Invoice
from clinic_app.core.errors import Conflict, Invalid
from clinic_app.extensions import db
from tests.billing.conftest import ACTOR, setup_billing


def live_totals(organization_id: str) -> queries.Totals:
    return queries.totals_of([Invoice.organization_id == organization_id])


def test_kept_totals_follow_every_change(app_context, tenants):
    setup = setup_billing(tenants.a.id)
    org = setup.organization_id
    rng = random.Random(17)
    invoices: list[str] = []
    for step in range(150):
        action = rng.choice(["draft", "line", "delete", "issue", "pay", "refund", "void", "credit", "apply"])
        target = rng.choice(invoices) if invoices else None
        try:
            if action == "draft" or target is None:
                lines = (billing.LineInput(item_id=rng.choice([setup.consult_item, setup.report_item])),)
                invoices.append(
                    billing.create_draft(
                        org, billing.DraftInput(patient_id=setup.clinic.patient, lines=lines), actor=ACTOR
                    ).id
                )
            elif action == "line":
                billing.add_line(org, target, billing.LineInput(item_id=setup.consult_item, quantity=2), actor=ACTOR)
            elif action == "delete":
                billing.delete_draft(org, target, actor=ACTOR)
                invoices.remove(target)
            elif action == "issue":
                billing.issue_invoice(org, target, actor=ACTOR)
            elif action == "pay":
                billing.record_payment(org, target, billing.PaymentInput(rng.randint(1, 20000), "card"), actor=ACTOR)
            elif action == "refund":
                billing.refund_payment(org, target, billing.PaymentInput(rng.randint(1, 3000), "cash"), actor=ACTOR)
            elif action == "void":
                billing.void_invoice(org, target, reason="Random", actor=ACTOR)
            elif action == "credit":
                billing.issue_credit_note(org, target, lines=None, reason="Random", actor=ACTOR)
            else:
                billing.apply_credit(org, target, amount=None, actor=ACTOR)
        except (Conflict, Invalid):
            db.session.rollback()
            invoices = [i for i in invoices if db.session.get(Invoice, i) is not None]
            continue
        if step % 7 == 3:
            db.session.rollback()  # work thrown away leaves the totals as they were
            invoices = [i for i in invoices if db.session.get(Invoice, i) is not None]
        else:
            db.session.commit()
        assert queries.kept_totals(org) == live_totals(org), f"after {action} (step {step})"
    final = live_totals(org)
    assert final.count >= 5 and final.invoiced > 0 and final.paid > 0  # the walk did real work
    page = queries.list_invoices(org, queries.InvoiceFilters())
    assert page.totals == final


@pytest.mark.parametrize("status", ["paid", "issued"])
def test_filtered_lists_sum_live(app_context, tenants, status):
    setup = setup_billing(tenants.a.id)
    draft = billing.create_draft(
        setup.organization_id,
        billing.DraftInput(patient_id=setup.clinic.patient, lines=(billing.LineInput(item_id=setup.consult_item),)),
        actor=ACTOR,
    )
    billing.issue_invoice(setup.organization_id, draft.id, actor=ACTOR)
    if status == "paid":
        billing.record_payment(setup.organization_id, draft.id, billing.PaymentInput(13200, "eft"), actor=ACTOR)
    db.session.commit()
    page = queries.list_invoices(setup.organization_id, queries.InvoiceFilters(status=status))
    assert page.totals.count == 1 and page.totals.invoiced == 13200
