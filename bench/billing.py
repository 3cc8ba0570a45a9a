"""Billing benchmarks (issue 17): the invoice list at 100,000 invoices, and issuing under
concurrency.

* ``billing_invoice_list`` (HTTP, wrk): ``GET /api/v1/billing/invoices?limit=50`` with an API token
  of the clinic's owner, on a clinic of 100,000 invoices (one line each; statuses mixed as a
  practice's books are: mostly paid, some open, partly paid, drafts and voids) spread over two
  years and 1,000 patients. The answer includes the totals of every invoice the (empty) filter
  matches, so each request sums all 100,000. Target: p95 under 50 ms; the harness prints p50/p95
  and the ratio to the bare baseline.
* ``billing_issue_concurrent`` (timing): each run issues 20 drafts at once, 20 threads released
  together against the app served in this process by a threaded server (each request is a real
  HTTP request and its own transaction, all taking numbers from one counter row); the baseline is
  20 concurrent ``GET /health`` to bare Flask served the same way. Each run prints the invoices per
  second it achieved and checks the numbers it got are consecutive (no gap, no duplicate).

The 100,000 invoices are inserted in bulk (SQL inserts of rows shaped as the service makes them;
the benchmark measures reading them, not making them), then vacuumed and analysed. For a smoke run::

    BENCH_BILLING_INVOICES=2000 .venv/bin/python bench/run.py --only billing_invoice_list --seconds 1 --warmup 0
    .venv/bin/python bench/run.py --only billing_issue_concurrent --seconds 5
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from werkzeug.serving import make_server

from bench.harness import BenchError, load_baseline_app
from bench.settings import HOST
from clinic_app.accounts import service as accounts
from clinic_app.appointments.models import Practitioner
from clinic_app.auth import api_tokens
from clinic_app.billing import service as billing
from clinic_app.billing.models import BillingCounter, Invoice, InvoiceLine
from clinic_app.core import audit
from clinic_app.core.db import new_id
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.patients import service as patients

INVOICES = int(os.environ.get("BENCH_BILLING_INVOICES", "100000"))
PATIENTS = 1_000
PASSWORD = "bench owner passphrase"
AT_ONCE = 20
LIST_PATH = "/api/v1/billing/invoices?limit=50"
ACTOR = audit.Actor()

_clinics: dict[tuple[str, str], str] = {}
_tokens: dict[str, str] = {}
_emails: dict[str, str] = {}


def _clinic(ctx: Any, name: str, scopes: list[str]) -> tuple[str, str]:
    """An organization with an owner, a practitioner and an item; and an API token of the owner."""
    key = (ctx.database_url, name)
    if key not in _clinics:
        with ctx.flask_app().app_context():
            organization = orgs.create_organization(name=name, time_zone="Australia/Sydney", region="AU")
            email = f"owner@{organization.slug}.example"
            owner = accounts.create_user(email=email, display_name="Bench Owner", password=PASSWORD)
            orgs.add_membership(organization_id=organization.id, user=owner, role="owner", actor=ACTOR)
            db.session.add(Practitioner(organization_id=organization.id, first_name="Priya", last_name="Kapoor"))
            billing.create_item(organization.id, billing.ItemInput(name="Consultation", unit_price=12000), actor=ACTOR)
            _token, plain = api_tokens.create_api_token(
                organization_id=organization.id,
                name="Bench billing",
                scopes=scopes,
                expires_in_days=1,
                creator=owner,
                creator_role="owner",
            )
            db.session.commit()
            _clinics[key] = organization.id
            _emails[organization.id] = email
            _tokens[organization.id] = plain
    organization_id = _clinics[key]
    return organization_id, _tokens[organization_id]


def _bulk_invoices(organization_id: str, count: int) -> None:
    """``count`` invoices of one line each, for 1,000 patients over two years (fixed seed)."""
    rng = random.Random(17)
    patient_ids = []
    for n in range(PATIENTS):
        data = patients.validate_for(organization_id, {"first_name": f"Patient{n:04d}", "last_name": "Bench"})
        patient_ids.append(patients.create_patient(organization_id, data, actor=ACTOR).id)
    practitioner_id = db.session.scalar(
        text("SELECT id FROM practitioners WHERE organization_id = :org"), {"org": organization_id}
    )
    rate = billing.tax_rates(organization_id)[0]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    number = 0
    for first in range(0, count, 5000):
        invoices, lines = [], []
        for n in range(first, min(count, first + 5000)):
            created = start + timedelta(minutes=n * 10)
            status = rng.choices(["paid", "issued", "partially_paid", "draft", "void"], [60, 20, 10, 7, 3])[0]
            issued = status != "draft"
            number += issued
            quantity = rng.choice([1, 1, 1, 2])
            net = quantity * 12000
            tax = net // 10
            paid = {"paid": net + tax, "partially_paid": 5000}.get(status, 0)
            invoice_id = new_id("inv")
            invoices.append({
                "id": invoice_id, "organization_id": organization_id, "number": f"INV-{number:06d}" if issued else None,
                "status": status, "patient_id": rng.choice(patient_ids), "practitioner_id": practitioner_id,
                "currency": "AUD", "issue_date": created.date() if issued else None,
                "due_date": created.date() + timedelta(days=14) if issued else None,
                "issued_at": created if issued else None, "subtotal": net, "tax_total": tax, "total": net + tax,
                "amount_paid": paid, "amount_credited": 0, "created_at": created, "updated_at": created,
            })  # fmt: skip
            lines.append({
                "id": new_id("inl"), "organization_id": organization_id, "invoice_id": invoice_id, "position": 1,
                "description": "Consultation", "quantity": quantity, "unit_price": 12000, "discount_basis_points": 0,
                "tax_name": rate.name, "tax_basis_points": rate.basis_points, "net": net, "tax": tax,
                "total": net + tax, "credited_quantity": 0,
            })  # fmt: skip
        db.session.execute(Invoice.__table__.insert(), invoices)
        db.session.execute(InvoiceLine.__table__.insert(), lines)
    db.session.add(BillingCounter(organization_id=organization_id, sequence="invoice", next_number=number + 1))
    # Rows inserted behind the ORM's back: their per-status totals are counted once here (the app
    # keeps them in step from now on).
    db.session.execute(
        text(
            "INSERT INTO billing_status_totals (organization_id, status, count, total, tax_total, amount_paid, "
            "amount_credited) SELECT organization_id, status, count(*), sum(total), sum(tax_total), "
            "sum(amount_paid), sum(amount_credited) FROM invoices WHERE organization_id = :org "
            "GROUP BY organization_id, status"
        ),
        {"org": organization_id},
    )
    db.session.commit()


def list_headers(ctx: Any) -> dict[str, str]:
    """The 100,000-invoice clinic (seeded once per bench database) and its owner's token."""
    fresh = (ctx.database_url, "Bench Billing Books") not in _clinics
    organization_id, token = _clinic(ctx, "Bench Billing Books", ["billing:read", "billing:read_own"])
    if fresh:
        print(f"  seeding {INVOICES:,} invoices (bulk insert)", flush=True)
        started = time.perf_counter()
        with ctx.flask_app().app_context():
            _bulk_invoices(organization_id, INVOICES)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE invoices, invoice_lines, patients"))
        print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)
    return {"Authorization": f"Bearer {token}"}


class _Served:
    """A WSGI app on 127.0.0.1 behind a threaded server in this process (stopped at exit)."""

    def __init__(self, app: Any) -> None:
        self.server = make_server(HOST, 0, app, threaded=True)
        self.url = f"http://{HOST}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _at_once(count: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(count)

    def one(index: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return send(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def prepare_issue(ctx: Any) -> tuple[Callable[[], object], Callable[[], object]]:
    """Drafts enough for every run, the app and the baseline served here, and the two callables."""
    organization_id, _token = _clinic(ctx, "Bench Billing Desk", ["billing:read", "billing:read_own", "billing:issue"])
    with ctx.flask_app().app_context():
        patient = patients.create_patient(
            organization_id, patients.validate_for(organization_id, {"first_name": "Ada", "last_name": "Desk"}),
            actor=ACTOR,
        )  # fmt: skip
        item = billing.items(organization_id)[0]
        drafts = []
        for _ in range(AT_ONCE * 15):
            data = billing.DraftInput(patient_id=patient.id, lines=(billing.LineInput(item_id=item.id),))
            drafts.append(billing.create_draft(organization_id, data, actor=ACTOR).id)
        db.session.commit()
    app, baseline = _Served(ctx.flask_app()), _Served(load_baseline_app())
    # A person's access token (an API token's use is recorded in a second, separate transaction,
    # which 20 threads of one process would queue for in a pool of 15 connections).
    login = httpx.post(
        f"{app.url}/api/v1/auth/login", json={"email": _emails[organization_id], "password": PASSWORD}, timeout=60
    )
    if login.status_code != 200:
        raise BenchError(f"the owner's log-in answered {login.status_code}")
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    pending = iter(drafts)
    issued: list[int] = []

    def issue_batch() -> object:
        batch = [next(pending) for _ in range(AT_ONCE)]
        started = time.perf_counter()
        answers = _at_once(
            AT_ONCE,
            lambda i: httpx.post(f"{app.url}/api/v1/billing/invoices/{batch[i]}/issue", headers=headers, timeout=60),
        )
        elapsed = time.perf_counter() - started
        if any(answer.status_code != 200 for answer in answers):
            raise BenchError(f"issuing answered {sorted({a.status_code for a in answers})}")
        numbers = sorted(int(answer.json()["number"].split("-")[1]) for answer in answers)
        expected_first = (issued[-1] + 1) if issued else 1
        if numbers != list(range(expected_first, expected_first + AT_ONCE)):
            raise BenchError(f"numbers are not consecutive: {numbers}")
        issued.extend(numbers)
        print(f"  {AT_ONCE} issued at once in {elapsed * 1000:.0f} ms: {AT_ONCE / elapsed:.0f} invoices/s", flush=True)
        return answers

    def health_batch() -> object:
        answers = _at_once(AT_ONCE, lambda _i: httpx.get(f"{baseline.url}/health", timeout=60))
        if any(answer.status_code != 200 for answer in answers):
            raise BenchError("the baseline did not answer 200")
        return answers

    return issue_batch, health_batch
