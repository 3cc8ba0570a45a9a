"""Gap-free numbers per organization and sequence (invoices, credit notes).

A number is taken by one statement inside the transaction that uses it::

    UPDATE billing_counters SET next_number = next_number + 1
    WHERE organization_id = :org AND sequence = :seq RETURNING next_number - 1

The row stays write-locked until that transaction ends (PostgreSQL: a row lock that the next issuer
waits for; SQLite: the database's single write lock, taken by the UPDATE with the busy timeout). If
the transaction commits, the number is used exactly once; if it rolls back, the counter goes back
with everything else, so the next issuer gets the same number. A database sequence would not do:
PostgreSQL sequences are never rolled back, so a failed issue would leave a hole.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from clinic_app.billing.models import BillingCounter
from clinic_app.extensions import db

DIGITS = 6  # INV-000001


def _ensure_counter(organization_id: str, sequence: str) -> None:
    """Create the counter row at 1 if it is missing; a concurrent creator wins harmlessly."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(BillingCounter)
        .values(organization_id=organization_id, sequence=sequence, next_number=1)
        .on_conflict_do_nothing(index_elements=["organization_id", "sequence"])
    )
    db.session.execute(statement)


def take_number(organization_id: str, sequence: str) -> int:
    """The next number of the sequence, taken inside the caller's transaction (given back if it
    rolls back)."""
    taken = db.session.execute(
        text(
            "UPDATE billing_counters SET next_number = next_number + 1 "
            "WHERE organization_id = :org AND sequence = :seq RETURNING next_number - 1"
        ),
        {"org": organization_id, "seq": sequence},
    ).scalar()
    if taken is None:
        _ensure_counter(organization_id, sequence)
        return take_number(organization_id, sequence)
    return int(taken)


def peek_next(organization_id: str, sequence: str) -> int:
    """The number the next issue would take (for the settings page; never used to issue)."""
    counter = db.session.get(BillingCounter, (organization_id, sequence))
    return counter.next_number if counter else 1


def formatted(prefix: str, number: int) -> str:
    return f"{prefix}{number:0{DIGITS}d}"
