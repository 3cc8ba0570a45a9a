"""Checks of the things the app depends on. Each answers quickly and never raises."""

from __future__ import annotations

import time
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from clinic_app.config import PROJECT_ROOT
from clinic_app.core.jobs import redis_connection
from clinic_app.extensions import db


@dataclass
class DatabaseStatus:
    connected: bool
    dialect: str
    latency_ms: float | None
    error: str | None


@dataclass
class MigrationStatus:
    current: str | None
    head: str | None
    error: str | None

    @property
    def up_to_date(self) -> bool:
        return self.error is None and self.current is not None and self.current == self.head


def check_database() -> DatabaseStatus:
    dialect = db.engine.dialect.name
    started = time.perf_counter()
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return DatabaseStatus(False, dialect, None, type(error).__name__)
    return DatabaseStatus(True, dialect, round((time.perf_counter() - started) * 1000, 2), None)


def head_revisions() -> tuple[str, ...]:
    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    return tuple(sorted(script.get_heads()))


def check_migrations() -> MigrationStatus:
    heads = head_revisions()
    try:
        with db.engine.connect() as connection:
            current = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    except SQLAlchemyError as error:
        return MigrationStatus(None, ",".join(heads) or None, type(error).__name__)
    return MigrationStatus(",".join(current) or None, ",".join(heads) or None, None)


def check_redis() -> tuple[bool, bool, str | None]:
    """(configured, reachable, detail)."""
    if not current_app.config.get("REDIS_URL"):
        return False, False, "not configured: jobs run in-process"
    from redis.exceptions import RedisError

    try:
        redis_connection().ping()
    except RedisError as error:
        return True, False, type(error).__name__
    return True, True, None


def count_workers() -> int | None:
    """Live RQ workers, or None when RQ is not in use or unreachable."""
    if current_app.config["JOBS_BACKEND"] != "rq":
        return None
    from redis.exceptions import RedisError
    from rq import Worker

    try:
        return len(Worker.all(connection=redis_connection()))
    except RedisError:
        return None
