"""Shared helpers for the health-data tests: the public example recording and small series builders."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from clinic_app.health_data.parsers.awd import read_awd_file
from clinic_app.health_data.series import Series

DATA = Path(__file__).parent / "data"
EXAMPLE_01 = DATA / "example_01.AWD"


@pytest.fixture(scope="session")
def example_01():
    """pyActigraphy's example_01.AWD (downloaded by `make test-data`); fails, never skips, without it."""
    if not EXAMPLE_01.exists():
        pytest.fail(f"{EXAMPLE_01} is missing: run make test-data (downloads it from pyActigraphy 1.2.2 on PyPI)")
    return read_awd_file(EXAMPLE_01)


def hourly(values, start=datetime(2024, 3, 4, 0, 0)):
    return Series(start, timedelta(hours=1), [float(v) for v in values])


def minutely(values, start=datetime(2024, 3, 4, 0, 0)):
    return Series(start, timedelta(minutes=1), [None if v is None else float(v) for v in values])


def register_patient(app, organization, **values):
    """A patient of ``organization`` made through the patients service; returns the id."""
    from clinic_app.core import audit
    from clinic_app.extensions import db
    from clinic_app.patients import service

    raw = {"first_name": "Mia", "last_name": "Okafor", **values}
    with app.app_context():
        patient = service.create_patient(
            organization.id, service.validate_for(organization.id, raw), actor=audit.Actor()
        )
        db.session.commit()
        return patient.id


def raw_dump(app):
    """Every row of every table as the database holds it, as one text (for leak checks)."""
    from sqlalchemy import text

    from clinic_app.extensions import db

    parts = []
    with app.app_context(), db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(text(f"SELECT * FROM {table.name}")):  # noqa: S608
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def table_rows(app, table, **where):
    """The rows of ``table`` (optionally filtered by equal columns), read with plain SQL."""
    from sqlalchemy import text

    from clinic_app.extensions import db

    clause = " AND ".join(f"{k} = :{k}" for k in where)
    sql = f"SELECT * FROM {table}" + (f" WHERE {clause}" if clause else "")  # noqa: S608
    with app.app_context(), db.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(text(sql), where)]
