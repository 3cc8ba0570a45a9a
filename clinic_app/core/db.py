"""The declarative base shared by every table: unguessable public ids and UTC timestamps."""

from __future__ import annotations

import secrets
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, String, TypeDecorator, event, exc
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.pool import ConnectionPoolEntry, Pool

from clinic_app.core.time import utcnow

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# Stable constraint names, so migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id(prefix: str, length: int = 22) -> str:
    """A prefixed random id such as ``org_2xwHiNrj68eaRUlX10anlX`` (~131 bits of randomness).

    One read from the OS's generator per id (not one per character): each random byte below 248
    (= 4 x 62) picks a character uniformly, the rest are thrown away."""
    chars: list[str] = []
    while len(chars) < length:
        chars += [_ALPHABET[byte % 62] for byte in secrets.token_bytes(length + 4) if byte < 248]
    return f"{prefix}_" + "".join(chars[:length])


@event.listens_for(Engine, "connect")
def _sqlite_secure_delete(connection: Any, _record: Any) -> None:
    """On SQLite, deleted and overwritten content is zeroed in the file rather than left in free
    space, so an erased patient's values are not in a raw copy of the database file either
    (docs/retention.md, "Erasure"). Every SQLite connection of every engine; PostgreSQL dumps
    never include dead rows."""
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


# A pooled PostgreSQL connection is checked ("pinged") before use only when it has sat idle this
# long. The checks that matter (a server restart, an idle timeout, a dropped firewall state) happen
# to connections left unused; a connection returned a moment ago was working a moment ago, and
# pinging it on every checkout (SQLAlchemy's pool_pre_ping) added a round trip to every request.
# A connection that died within the window fails its first statement; SQLAlchemy then discards
# every connection older than that failure, so each worker sees at most one such error.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "clinic_idle_since"


@event.listens_for(Pool, "connect")
def _fresh(connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


@event.listens_for(Pool, "checkin")
def _returned(connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Raise DisconnectionError (the pool then replaces the connection and tries again) for a
    connection idle past PING_AFTER_IDLE_SECONDS that no longer answers. SQLite has nothing to ping."""
    if isinstance(connection, sqlite3.Connection):
        return
    if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < PING_AFTER_IDLE_SECONDS:
        return
    if not ping(connection):
        raise exc.DisconnectionError("the pooled database connection no longer answers")


def ping(connection: Any) -> bool:
    """Whether a DB-API (psycopg) connection still answers: one round trip, in autocommit so that
    no transaction is left open on the connection handed out."""
    try:
        connection.autocommit = True
        try:
            cursor = connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        finally:
            connection.autocommit = False
    except Exception:  # any failure means the connection cannot be used
        return False
    return True


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always hands back timezone-aware UTC datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use clinic_app.core.time.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Model(DeclarativeBase):
    """Base of every table. Subclasses set ``id_prefix`` for their public ids."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class PublicIdMixin:
    """A string primary key that is safe to show in URLs."""

    id_prefix: ClassVar[str]

    id: Mapped[str] = mapped_column(String(40), primary_key=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("id", new_id(self.id_prefix))
        super().__init__(**kwargs)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
