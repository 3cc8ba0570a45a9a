"""``flask scale-explain --org ID``: the plans of the dashboard's and the lists' queries, as they
run, for docs/performance.md.

Runs what the pages run, in this process, against the configured database: the dashboard's
snapshot read and a full recount (``dashboard.service``), the first page of the active-patients
list (``caseload.active``) and of the re-engagement worklist (``engagement.worklist``). Each
SELECT they send is recorded with its parameters and then run again under
``EXPLAIN (ANALYZE, BUFFERS)`` (PostgreSQL only), so the plan shown is the plan of the very
statement the app sent. It writes only what the first dashboard request would: a current
snapshot, stored before the snapshot read is recorded (that read is what a request costs); the
recount's result is not stored.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask
from sqlalchemy import event

from clinic_app.core.time import utcnow
from clinic_app.extensions import db


@contextmanager
def recorded() -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements sent inside the block, with their parameters."""
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def explain(statement: str, parameters: Any) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of one recorded statement, as text."""
    connection = db.session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)  # type: ignore[arg-type]
        return "\n".join(row[0] for row in cursor.fetchall())


def _parts(organization_id: str) -> list[tuple[str, Callable[[], Any]]]:
    from clinic_app.caseload import active
    from clinic_app.caseload.references import references
    from clinic_app.dashboard import service as dashboard
    from clinic_app.engagement import worklist

    def active_page() -> Any:
        names = references(organization_id)
        filters, _errors = active.parse_filters(names, {})
        return active.active_page(organization_id, filters, page=1, now=utcnow(), names=names)

    # What a request finds: a current snapshot (as the first request of the minute leaves it).
    dashboard.figures_for(organization_id)
    db.session.commit()
    return [
        ("dashboard: the snapshot read (every request)", lambda: dashboard.figures_for(organization_id)),
        ("dashboard: a recount (once a minute at most)", lambda: dashboard.compute(organization_id, utcnow())),
        ("active patients: the first page", active_page),
        ("worklist: the first page", lambda: worklist.worklist_page(organization_id)),
    ]


def _one_line(statement: str) -> str:
    return re.sub(r"\s+", " ", statement).strip()


def register(app: Flask) -> None:
    @app.cli.command("scale-explain")
    @click.option("--org", "organization_id", required=True, help="The organization whose pages to explain.")
    @click.option("--only", "only", default=None, help="Only the parts whose title contains this text.")
    def scale_explain_command(organization_id: str, only: str | None) -> None:
        """Print EXPLAIN (ANALYZE, BUFFERS) of every SELECT the dashboard and the lists send."""
        if db.engine.dialect.name != "postgresql":
            click.echo("Error: scale-explain reads PostgreSQL's plans; DATABASE_URL is not PostgreSQL.", err=True)
            sys.exit(2)
        for title, run in _parts(organization_id):
            if only and only not in title:
                continue
            with recorded() as statements:
                started = time.perf_counter()
                run()
                took = time.perf_counter() - started
            click.echo(f"## {title}: {len(statements)} statements, {took * 1000:.1f} ms in all\n")
            for statement, parameters in statements:
                click.echo(f"### {_one_line(statement)}\n")
                click.echo(f"parameters: {parameters!r}\n")
                click.echo(explain(statement, parameters) + "\n")
            db.session.rollback()  # reads only: nothing of the recount is kept
