"""The audit trail: append-only, hash-chained per organization.

Each event stores the SHA-256 of its own canonical content together with the previous event's
hash in the same chain (one chain per organization, plus a ``system`` chain for events with no
organization, such as a failed log-in for an unknown address). Changing, deleting or reordering a
row breaks the chain, which ``verify_chains()`` (``flask audit-verify``) reports. ``verify_chain()``
can start from a checkpoint (an event's seq and hash, kept by the audit feature's verification
job), so routine checks read only the events recorded since.

Events never carry PHI values: ids, actions and outcomes only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    select,
    text,
    true,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, SessionTransaction, mapped_column

from clinic_app.core import metrics
from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.http import after_this_transaction
from clinic_app.core.time import isoformat, utcnow
from clinic_app.extensions import db

log = logging.getLogger("clinic_app.audit")

SUCCESS, FAILURE, DENIED, ALARM = "success", "failure", "denied", "alarm"
SYSTEM_CHAIN = "system"
GENESIS = "0" * 64


class AuditEvent(PublicIdMixin, Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_events_org_time", "organization_id", "created_at"),
    )
    id_prefix = "aud"

    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    organization_id: Mapped[str | None] = mapped_column(String(40))
    actor_user_id: Mapped[str | None] = mapped_column(String(40), index=True)
    actor_token_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(80), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(80))
    patient_id: Mapped[str | None] = mapped_column(String(40), index=True)
    outcome: Mapped[str] = mapped_column(String(16), default=SUCCESS)
    request_id: Mapped[str | None] = mapped_column(String(128))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def canonical(self) -> bytes:
        content = {
            "id": self.id,
            "chain": self.chain,
            "seq": self.seq,
            "organization_id": self.organization_id,
            "actor_user_id": self.actor_user_id,
            "actor_token_id": self.actor_token_id,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "patient_id": self.patient_id,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "ip_address": self.ip_address,
            "details": self.details or {},
            "created_at": isoformat(self.created_at),
            "prev_hash": self.prev_hash,
        }
        return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


@dataclass(frozen=True)
class Actor:
    """Who did it, for the audit record (a person, an API token, or the system)."""

    user_id: str | None = None
    token_id: str | None = None


_COLUMNS = tuple(AuditEvent.__table__.columns)


def _request_facts() -> tuple[str | None, str | None]:
    if not has_request_context():
        return None, None
    return g.get("request_id"), request.remote_addr


class AuditChainHead(Model):
    """Where each chain ends: the last event's ``seq`` and ``hash``.

    Appending advances the head in one statement (an upsert that returns the previous head), which
    both serialises writers of one chain (the row stays locked until the transaction ends) and
    reads where the chain ends: no separate lock and no search of the events for the last one.
    """

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


_HEADS = AuditChainHead.__table__


@functools.cache
def _statements(dialect: str) -> tuple[Any, Any, Any, Any]:
    """The chain's statements for ``dialect``, built once with named parameters, so appending an
    event (every page view records one) neither builds nor compiles a statement: (advance the
    head, insert one event and move the head's hash in one statement or None where the dialect
    cannot, insert events, move the head's hash)."""
    # Written out rather than built with the dialects' insert().on_conflict_do_update(): SQLAlchemy
    # (2.0) does not cache those constructs' compiled form, and compiling this statement on every
    # page view was 4 % of a search request. The same SQL runs on PostgreSQL and SQLite (3.35+).
    advance = text(
        "INSERT INTO audit_chain_heads (chain, seq, hash) VALUES (:h_chain, :h_count, :h_genesis) "
        "ON CONFLICT (chain) DO UPDATE SET seq = audit_chain_heads.seq + excluded.seq RETURNING seq, hash"
    ).bindparams(
        bindparam("h_chain", type_=String),
        bindparam("h_count", type_=Integer),
        bindparam("h_genesis", GENESIS, type_=String),
    )
    insert_events = AuditEvent.__table__.insert().values(
        {column.key: bindparam(f"e_{column.key}", type_=column.type) for column in _COLUMNS}
    )
    move_head = (
        _HEADS.update()
        .where(_HEADS.c.chain == bindparam("h_chain", type_=String))
        .values(hash=bindparam("h_hash", type_=String))
    )
    # On PostgreSQL one round trip inserts an event and moves the head's hash (a data-modifying CTE).
    insert_and_move = insert_events.add_cte(move_head.cte("moved_head")) if dialect == "postgresql" else None
    return advance, insert_and_move, insert_events, move_head


def _advance_head(connection: Connection, chain: str, count: int) -> tuple[int, str]:
    """Reserve ``count`` places at the end of ``chain``: the first seq, and the hash before it."""
    advance = _statements(connection.dialect.name)[0]
    # The hash returned is the head's before this statement (only seq changes here): the previous
    # event's, or the genesis hash for a new chain.
    last_seq, previous_hash = connection.execute(advance, {"h_chain": chain, "h_count": count}).one()
    return last_seq - count + 1, previous_hash


def _append_many(session: Session, chain: str, events: list[AuditEvent]) -> None:
    """Chain ``events`` (all of ``chain``, in the order recorded) and insert them."""
    connection = session.connection()
    seq, previous_hash = _advance_head(connection, chain, len(events))
    for event in events:
        event.seq = seq
        event.prev_hash = previous_hash
        event.hash = previous_hash = event.compute_hash()
        seq += 1
    # Plain INSERTs: an event is never changed afterwards, so the unit of work has nothing to
    # track, and skipping it is a good share of the cost of auditing every page view.
    rows = [{f"e_{column.key}": getattr(event, column.key) for column in _COLUMNS} for event in events]
    head = {"h_chain": chain, "h_hash": previous_hash}
    _advance, insert_and_move, insert_events, move_head = _statements(connection.dialect.name)
    if insert_and_move is not None and len(rows) == 1:
        connection.execute(insert_and_move, rows[0] | head)
    else:
        connection.execute(insert_events, rows)
        connection.execute(move_head, head)


def _append(session: Session, event: AuditEvent) -> None:
    _append_many(session, event.chain, [event])


_PENDING = "audit_pending"


def _defer(session: Session, event: AuditEvent) -> None:
    """Queue an event to be chained when its transaction commits.

    Chaining locks the chain's head row (``audit_chain_heads``) until the transaction ends; taken
    at the moment of recording, it would be held while the rest of the request runs (queries,
    rendering), and every other request of the same organization would queue behind it. Taken just
    before commit, it is held for the commit alone. Events keep the order they were recorded in; a
    rollback drops them with the rest of the work; a query that reads the trail in the same
    transaction chains them first (``_chain_before_reading``)."""
    if not session.in_transaction():
        session.begin()  # what autobegin would do at the first statement: a rollback now drops it
    session.info.setdefault(_PENDING, []).append(event)


def _chain_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    by_chain: dict[str, list[AuditEvent]] = {}
    for event in pending or ():
        by_chain.setdefault(event.chain, []).append(event)
    # Chains in a fixed order, so two transactions that append to the same two chains take their
    # heads' locks in the same order and cannot deadlock.
    for chain in sorted(by_chain):
        _append_many(session, chain, by_chain[chain])


@sa_event.listens_for(Session, "before_commit")
def _chain_before_commit(session: Session) -> None:
    _chain_pending(session)


@sa_event.listens_for(Session, "do_orm_execute")
def _chain_before_reading(state: ORMExecuteState) -> None:
    if state.session.info.get(_PENDING) and any(m.class_ is AuditEvent for m in state.all_mappers):
        _chain_pending(state.session)


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


def record(
    action: str,
    *,
    organization_id: str | None,
    actor: Actor | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    patient_id: str | None = None,
    outcome: str = SUCCESS,
    details: dict[str, Any] | None = None,
    independent: bool = False,
) -> AuditEvent:
    """Append an event.

    By default it joins the caller's transaction, so an action that rolls back leaves no event
    (it is chained when that transaction commits: ``seq`` and ``hash`` are set then).
    ``independent=True`` commits it in its own transaction after the request's unit of work ends
    (at once outside a request): for denials and failures, which must be kept although the
    request that caused them fails, and must not wait on the request's own locks.
    """
    request_id, ip_address = _request_facts()
    actor = actor or Actor()
    event = AuditEvent(
        chain=organization_id or SYSTEM_CHAIN,
        organization_id=organization_id,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        patient_id=patient_id,
        outcome=outcome,
        request_id=request_id,
        ip_address=ip_address,
        details=details or {},
        created_at=utcnow(),
    )
    if independent:

        def write() -> None:
            with Session(db.engine, expire_on_commit=False) as session:
                _append(session, event)
                session.commit()

        # Denials, failures and alarms must never be lost: retried, and logged whole if they fail.
        described = {c.key: getattr(event, c.key) for c in _COLUMNS if c.key not in ("seq", "prev_hash", "hash")}
        after_this_transaction(write, describe={**described, "created_at": isoformat(event.created_at)})
    else:
        _defer(db.session(), event)
    log.info("audit", extra={"event": "audit", "action": action, "outcome": outcome, "audit_id": event.id})
    metrics.audit_appended(action, outcome)
    return event


@dataclass
class ChainProblem:
    chain: str
    seq: int
    event_id: str
    problem: str


@dataclass(frozen=True)
class Checkpoint:
    """A position in a chain: the event ``seq`` and the hash it had when it was verified. Seq 0
    with the genesis hash is the start of every chain."""

    seq: int
    hash: str


START = Checkpoint(0, GENESIS)
VERIFY_BATCH = 5000


@dataclass
class ChainReport:
    """What verifying one chain found: events checked, problems in sequence order, and the next
    checkpoint: the last event checked, or the starting checkpoint when a problem was found."""

    checked: int
    problems: list[ChainProblem]
    verified_to: Checkpoint


def _read_events(session: Session, chain: str, *, where: ColumnElement[bool], limit: int) -> list[AuditEvent]:
    """Events of ``chain`` in sequence order, as detached copies: selected as columns, so the
    session's identity map does not grow with the chain (nor hand back objects it already holds)."""
    columns = [getattr(AuditEvent, column.key) for column in _COLUMNS]
    rows = session.execute(
        select(*columns).where(AuditEvent.chain == chain, where).order_by(AuditEvent.seq).limit(limit)
    )
    return [AuditEvent(**row._asdict()) for row in rows]


def verify_chain(
    name: str,
    session: Session | None = None,
    *,
    since: Checkpoint = START,
    until_seq: int | None = None,
    batch_size: int = VERIFY_BATCH,
    on_batch: Callable[[int], None] | None = None,
) -> ChainReport:
    """Check one chain from ``since`` (exclusive) to ``until_seq`` (inclusive; None: the end).

    Reads ``batch_size`` events at a time in sequence order (keyset on ``seq``), so memory stays
    flat however long the chain is; ``on_batch(checked so far)`` runs after each batch. From a
    checkpoint, the checkpoint's own event is read again and must still carry the checkpoint's
    hash (so a checkpointed event that was removed or rewritten is noticed); the events before
    it are not read: a checkpoint only says they were intact when it was taken.
    """
    session = session or db.session
    problems: list[ChainProblem] = []
    if since.seq > 0:
        anchor = next(iter(_read_events(session, name, where=AuditEvent.seq == since.seq, limit=1)), None)
        if anchor is None:
            problems.append(ChainProblem(name, since.seq, "", "the checkpoint's event is missing"))
        elif anchor.hash != since.hash or anchor.compute_hash() != since.hash:
            problems.append(ChainProblem(name, since.seq, anchor.id, "the checkpoint's event was changed"))
    checked = 0
    expected_prev, expected_seq, after = since.hash, since.seq + 1, since.seq
    verified_to = since if not problems else None
    while True:
        upper = AuditEvent.seq <= until_seq if until_seq is not None else true()
        batch = _read_events(session, name, where=and_(AuditEvent.seq > after, upper), limit=batch_size)
        for event in batch:
            checked += 1
            found = len(problems)
            if event.seq != expected_seq:
                problems.append(ChainProblem(name, event.seq, event.id, f"expected sequence {expected_seq}"))
            if event.prev_hash != expected_prev:
                problems.append(ChainProblem(name, event.seq, event.id, "previous-hash link is broken"))
            if event.compute_hash() != event.hash:
                problems.append(ChainProblem(name, event.seq, event.id, "content does not match its hash"))
            if verified_to is not None and len(problems) == found:
                verified_to = Checkpoint(event.seq, event.hash)
            elif len(problems) > found:
                verified_to = None  # nothing after a break counts as verified
            expected_prev, expected_seq, after = event.hash, event.seq + 1, event.seq
        if on_batch is not None and batch:
            on_batch(checked)
        if len(batch) < batch_size:
            break
    return ChainReport(checked, problems, verified_to or since)


def verify_chains(
    session: Session | None = None,
    *,
    chain: str | None = None,
    since: Checkpoint | None = None,
    batch_size: int = VERIFY_BATCH,
) -> tuple[int, list[ChainProblem]]:
    """Check every chain from its first event, or only ``chain`` (an organization id, or
    ``SYSTEM_CHAIN``), from its first event or from the checkpoint ``since`` (which needs
    ``chain``); returns (events checked, problems found), problems in chain and sequence order.
    Raises ValueError for ``since`` without ``chain``."""
    if since is not None and chain is None:
        raise ValueError("a checkpoint belongs to one chain: name it")
    session = session or db.session
    problems: list[ChainProblem] = []
    checked = 0
    chains = [chain] if chain is not None else session.scalars(select(AuditEvent.chain).distinct()).all()
    for name in chains:
        report = verify_chain(name, session, since=since or START, batch_size=batch_size)
        checked += report.checked
        problems.extend(report.problems)
    return checked, problems
