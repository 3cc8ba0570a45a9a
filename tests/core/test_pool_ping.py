"""A pooled connection is checked before use only after it sat idle (clinic_app.core.db): a dead
one is then replaced without the request seeing an error, and a busy worker pays no round trip."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import create_engine, exc, text
from sqlalchemy.pool import NullPool

from clinic_app.core import db as core_db
from clinic_app.extensions import db


def _backend_pid(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(engine: Any, pid: int) -> None:
    """End ``pid``'s session from another connection, as a server restart or an idle timeout would."""
    outside = create_engine(engine.url, poolclass=NullPool)
    try:
        with outside.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        outside.dispose()


def _counting_pings(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    pinged: list[Any] = []
    real = core_db.ping

    def counted(connection: Any) -> bool:
        pinged.append(connection)
        return real(connection)

    monkeypatch.setattr(core_db, "ping", counted)
    return pinged


def _check_out(engine: Any, times: int) -> None:
    """Take a connection from the pool ``times`` times and use it (a request's checkout)."""
    for _ in range(times):
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1


def test_a_connection_used_a_moment_ago_is_handed_out_without_a_ping(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinged = _counting_pings(monkeypatch)
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with app.app_context():
        _check_out(db.engine, 3)
    assert pinged == []


def test_an_idle_connection_is_pinged_on_postgresql_and_never_on_sqlite(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinged = _counting_pings(monkeypatch)
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 0.0)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        _check_out(db.engine, 2)
    # SQLite's connections are files in this process: nothing to lose, nothing to ping.
    assert len(pinged) == (2 if postgres else 0)


def test_a_dead_idle_connection_is_replaced_before_the_request_uses_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "postgresql":
            # Nothing can end a SQLite connection from outside; the checkout leaves them alone.
            monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 0.0)
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar_one() == 1
            return
        pid = _backend_pid(engine)
        assert _backend_pid(engine) == pid  # the pool hands the same connection back
        _terminate(engine, pid)
        monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had sat idle
        with engine.connect() as connection:
            # The ping (on the replacement too) leaves no transaction open on the connection handed out.
            status = connection.connection.dbapi_connection.info.transaction_status
            assert status == psycopg.pq.TransactionStatus.IDLE
            replaced = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
        assert replaced != pid


def test_a_connection_that_died_within_the_window_fails_once_then_the_pool_recovers(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented cost of not pinging busy connections: one error for the statement that
    finds the connection dead, none after it (the pool discards connections older than that)."""
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "postgresql":
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar_one() == 1
            return
        pid = _backend_pid(engine)
        _terminate(engine, pid)
        with pytest.raises(exc.DBAPIError) as raised, engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert raised.value.connection_invalidated
        assert _backend_pid(engine) != pid
