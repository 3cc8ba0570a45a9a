"""Gap-free invoice numbers under real concurrency: threads against a running server, on the
suite's database (PostgreSQL when DATABASE_URL names one) and on the embedded SQLite default."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from clinic_app.billing import lifecycle, queries
from clinic_app.billing.models import Invoice
from clinic_app.billing.payments import credit_balance
from clinic_app.core import audit
from clinic_app.extensions import db
from tests.billing.conftest import draft_for, setup_billing
from tests.concurrency.conftest import at_once
from tests.factories import access_token_for, build_tenants

COUNT = 50


def _prepare(app, drafts: int):
    with app.app_context():
        tenants = build_tenants()
        setup = setup_billing(tenants.a.id)
        ids = [draft_for(setup) for _ in range(drafts)]
    token = access_token_for(app, tenants.user("receptionist"))
    return ids, {"Authorization": f"Bearer {token}"}


def _numbers(app) -> list[str]:
    with app.app_context():
        return sorted(n for n in db.session.scalars(select(Invoice.number)) if n is not None)


def _expected(count: int) -> list[str]:
    return [f"INV-{n:06d}" for n in range(1, count + 1)]


def test_fifty_concurrent_issues_take_exactly_the_numbers_one_to_fifty(live, monkeypatch):
    ids, headers = _prepare(live.app, COUNT + 5)
    # Five of the issues fail after taking their number (the audit step raises): their
    # transactions roll back, and the numbers they held go to the others.
    poisoned = set(ids[::11])
    assert len(poisoned) == 5
    real_record = lifecycle.record

    def failing_record(action, organization_id, actor, **values):
        if values.get("target_id") in poisoned:
            raise RuntimeError("the issuing transaction fails after taking a number")
        return real_record(action, organization_id, actor, **values)

    monkeypatch.setattr(lifecycle, "record", failing_record)
    answers = at_once(
        len(ids),
        lambda i: httpx.post(f"{live.url}/api/v1/billing/invoices/{ids[i]}/issue", headers=headers, timeout=120),
    )
    by_id = dict(zip(ids, answers, strict=True))
    assert all(by_id[i].status_code == 500 for i in poisoned)
    good = [by_id[i] for i in ids if i not in poisoned]
    assert [a.status_code for a in good] == [200] * COUNT, [a.text[:200] for a in good if a.status_code != 200]
    assert sorted(a.json()["number"] for a in good) == _expected(COUNT)
    assert _numbers(live.app) == _expected(COUNT)  # no gap, no duplicate, nothing kept by the failures
    with live.app.app_context():
        organization_id = db.session.get(Invoice, ids[0]).organization_id
        live_sum = queries.totals_of([Invoice.organization_id == organization_id])
        assert queries.kept_totals(organization_id) == live_sum and live_sum.invoiced == COUNT * 13200

    monkeypatch.setattr(lifecycle, "record", real_record)
    late = httpx.post(f"{live.url}/api/v1/billing/invoices/{sorted(poisoned)[0]}/issue", headers=headers, timeout=60)
    assert late.status_code == 200 and late.json()["number"] == "INV-000051"
    with live.app.app_context():
        _checked, problems = audit.verify_chains()
    assert problems == []


def test_one_draft_issued_at_once_by_many_gets_one_number(live):
    ids, headers = _prepare(live.app, 2)
    answers = at_once(
        10, lambda _i: httpx.post(f"{live.url}/api/v1/billing/invoices/{ids[0]}/issue", headers=headers, timeout=60)
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 9, statuses
    after = httpx.post(f"{live.url}/api/v1/billing/invoices/{ids[1]}/issue", headers=headers, timeout=60)
    assert after.json()["number"] == "INV-000002"
    assert _numbers(live.app) == _expected(2)


@pytest.mark.parametrize("amounts", [(5000, 5000, 5000)])
def test_concurrent_payments_are_all_counted(live, amounts):
    ids, headers = _prepare(live.app, 1)
    issued_answer = httpx.post(f"{live.url}/api/v1/billing/invoices/{ids[0]}/issue", headers=headers, timeout=60)
    assert issued_answer.status_code == 200
    answers = at_once(
        len(amounts),
        lambda i: httpx.post(
            f"{live.url}/api/v1/billing/invoices/{ids[0]}/payments",
            json={"amount": amounts[i], "method": "card"},
            headers=headers,
            timeout=60,
        ),
    )
    assert [a.status_code for a in answers] == [201] * len(amounts)
    with live.app.app_context():
        invoice = db.session.get(Invoice, ids[0])
        # $132.00 due, $150.00 paid: nothing lost, the $18.00 over is the patient's credit.
        assert invoice.amount_paid == 13200 and invoice.status == "paid"
        assert credit_balance(invoice.organization_id, invoice.patient_id) == sum(amounts) - 13200
