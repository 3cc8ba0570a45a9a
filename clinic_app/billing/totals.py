"""The per-organization, per-status counts and sums of invoices (``billing_status_totals``), kept
in step with the invoices in the same transaction, so the unfiltered invoice list reads five rows
instead of summing every invoice (bench/billing.py: 100,000 invoices).

How: every flush notes what changed on ``Invoice`` rows (inserted, deleted, or a change of status
or amounts, from the ORM's attribute history); ``issue_invoice``'s conditional UPDATE, which the ORM
does not see, notes its move from draft to issued itself (``note_move``). The deltas are applied
just before the transaction commits, as ``UPDATE … SET count = count + :d …`` (after an insert of
the row if it is missing), in a fixed order: so the rows are locked for the commit alone, and two
transactions never wait on each other in opposite orders. A rollback drops the deltas with
everything else. ``tests/billing/test_totals.py`` checks them against a live sum.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from clinic_app.billing.models import BillingStatusTotals, Invoice
from clinic_app.extensions import db

FIELDS = ("total", "tax_total", "amount_paid", "amount_credited")
_PENDING = "billing_totals_pending"

Key = tuple[str, str]  # organization, status


def _values(invoice: Invoice, *, old: bool = False) -> tuple[str, tuple[int, ...]]:
    state = inspect(invoice)

    def value(name: str) -> Any:
        history = state.attrs[name].history
        return history.deleted[0] if old and history.deleted else getattr(invoice, name)

    return value("status"), (1, *(int(value(name) or 0) for name in FIELDS))


def _pending(session: Session) -> dict[Key, list[int]]:
    return session.info.setdefault(_PENDING, defaultdict(lambda: [0, 0, 0, 0, 0]))


def _add(session: Session, key: Key, values: tuple[int, ...], sign: int) -> None:
    row = _pending(session)[key]
    for index, value in enumerate(values):
        row[index] += sign * value


def note_move(session: Session, invoice: Invoice, old_status: str, new_status: str) -> None:
    """An invoice changed status by a statement the ORM does not track."""
    values = (1, *(int(getattr(invoice, name) or 0) for name in FIELDS))
    _add(session, (invoice.organization_id, old_status), values, -1)
    _add(session, (invoice.organization_id, new_status), values, +1)


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, _context: Any, _instances: Any) -> None:
    for invoice in session.new:
        if isinstance(invoice, Invoice):
            status, values = _values(invoice)
            _add(session, (invoice.organization_id, status), values, +1)
    for invoice in session.deleted:
        if isinstance(invoice, Invoice):
            status, values = _values(invoice, old=True)
            _add(session, (invoice.organization_id, status), values, -1)
    for invoice in session.dirty:
        if not isinstance(invoice, Invoice) or not session.is_modified(invoice):
            continue
        state = inspect(invoice)
        if not any(state.attrs[name].history.has_changes() for name in ("status", *FIELDS)):
            continue
        old_status, old_values = _values(invoice, old=True)
        new_status, new_values = _values(invoice)
        _add(session, (invoice.organization_id, old_status), old_values, -1)
        _add(session, (invoice.organization_id, new_status), new_values, +1)


def _apply(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for (organization_id, status), deltas in sorted(pending.items()):
        if not any(deltas):
            continue
        session.execute(
            insert(BillingStatusTotals)
            .values(
                organization_id=organization_id,
                status=status,
                count=0,
                total=0,
                tax_total=0,
                amount_paid=0,
                amount_credited=0,
            )
            .on_conflict_do_nothing(index_elements=["organization_id", "status"])
        )
        table = BillingStatusTotals.__table__.c
        session.execute(
            update(BillingStatusTotals)
            .where(table.organization_id == organization_id, table.status == status)
            .values(
                count=table.count + deltas[0],
                **{name: getattr(table, name) + delta for name, delta in zip(FIELDS, deltas[1:], strict=True)},
            )
            .execution_options(synchronize_session=False)
        )


@event.listens_for(Session, "before_commit")
def _apply_before_commit(session: Session) -> None:
    session.flush()  # the last changes are noted by the flush
    _apply(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


def organization_totals(organization_id: str) -> dict[str, tuple[int, ...]]:
    """status -> (count, total, tax_total, amount_paid, amount_credited), as this transaction sees them."""
    rows = db.session.scalars(select(BillingStatusTotals).where(BillingStatusTotals.organization_id == organization_id))
    return {row.status: (row.count, row.total, row.tax_total, row.amount_paid, row.amount_credited) for row in rows}
