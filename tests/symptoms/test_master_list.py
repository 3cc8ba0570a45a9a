"""The shipped ICD-11 master list: its CSV is well-formed, the data migration loads every row (and
its downgrade removes them), the models match the migration, and ``sync_master_list`` keeps a
database in line with the CSV."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import func, select, text

from clinic_app.config import PROJECT_ROOT
from clinic_app.extensions import db
from clinic_app.symptoms import service
from clinic_app.symptoms.catalogue import CATEGORIES, CSV_COLUMNS, MASTER_LIST_CSV, MasterRow, read_master_list
from clinic_app.symptoms.models import MasterSymptom

CODE = re.compile(r"^M[A-H][0-9A-Z]{2}(\.[0-9A-Z]{1,2})?$")
ROWS = read_master_list()


# --- the CSV ---------------------------------------------------------------------------------


def test_the_csv_has_the_expected_columns_and_at_least_170_unique_codes():
    header = MASTER_LIST_CSV.read_text(encoding="utf-8").splitlines()[0]
    assert tuple(header.split(",")) == CSV_COLUMNS
    codes = Counter(row.code for row in ROWS)
    assert [code for code, n in codes.items() if n > 1] == []
    assert len(codes) >= 170


@pytest.mark.parametrize("row", ROWS, ids=[row.code for row in ROWS])
def test_each_row_is_a_chapter_21_code_with_a_title_category_and_synonyms(row: MasterRow):
    assert CODE.match(row.code), row.code
    assert row.chapter == "21"
    assert row.title and row.title == row.title.strip() and "  " not in row.title
    assert row.category in CATEGORIES and row.category != "other"
    assert row.synonyms, f"{row.code} has no everyday synonyms"
    assert all(term == term.lower() for term in row.synonyms), f"{row.code}: synonyms are lower case"


def test_titles_are_unique_ignoring_case():
    titles = Counter(row.title.casefold() for row in ROWS)
    assert [title for title, n in titles.items() if n > 1] == []


def test_the_list_covers_what_physiotherapy_and_mental_health_clinics_record():
    by_code = {row.code: row for row in ROWS}
    for code in ("MB24.5", "MB24.3", "MB23.H", "MB26.A", "MB21.A", "MB48", "MG22", "ME84.2", "ME85", "MG30.01"):
        assert code in by_code, code
    assert {"mood", "anxiety", "cognition", "sleep", "pain", "musculoskeletal", "neurological"} <= {
        row.category for row in ROWS
    }


# --- the migration ---------------------------------------------------------------------------


def _migration() -> ModuleType:
    (path,) = (PROJECT_ROOT / "migrations" / "versions").glob("*5e2c3a7f9b03*.py")
    spec = importlib.util.spec_from_file_location("symptom_catalogue_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _empty_database(app) -> Iterator[sa.Connection]:
    """A connection to a database holding only the two tables the migration refers to: a schema
    that is rolled back on PostgreSQL, an in-memory database on SQLite."""
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        engine = db.engine if postgres else sa.create_engine("sqlite://")
    with engine.connect() as connection:
        transaction = connection.begin()
        if postgres:
            connection.execute(text("CREATE SCHEMA symptom_migration_check"))
            connection.execute(text("SET LOCAL search_path TO symptom_migration_check"))
        stubs = sa.MetaData()
        for name in ("organizations", "users"):
            sa.Table(name, stubs, sa.Column("id", sa.String(40), primary_key=True))
        stubs.create_all(connection)
        try:
            yield connection
        finally:
            transaction.rollback()
    if not postgres:
        engine.dispose()


def _run(module: ModuleType, step: str, connection: sa.Connection) -> None:
    with Operations.context(MigrationContext.configure(connection)):
        getattr(module, step)()


def test_the_migration_loads_every_csv_row_and_its_downgrade_removes_them(app):
    module = _migration()
    assert (module.revision, module.down_revision) == ("5e2c3a7f9b03", "3c0a1e5d7f01")
    with _empty_database(app) as connection:
        _run(module, "upgrade", connection)
        loaded = connection.execute(
            text("SELECT code, title, chapter, category, search_terms, id FROM master_symptoms")
        ).all()
        assert len(loaded) == len(ROWS)
        assert {tuple(row[:5]) for row in loaded} == {
            (r.code, r.title, r.chapter, r.category, r.search_terms) for r in ROWS
        }
        assert all(re.fullmatch(r"sym_[0-9A-Za-z]{22}", row.id) for row in loaded)
        assert connection.execute(text("SELECT count(*) FROM custom_symptoms")).scalar() == 0

        _run(module, "downgrade", connection)
        assert not {"master_symptoms", "custom_symptoms"} & set(sa.inspect(connection).get_table_names())


def test_the_models_match_the_migrated_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)
    assert [d for d in differences if "symptom" in repr(d)] == []


# --- keeping a database in line with the CSV ------------------------------------------------


def test_sync_adds_missing_codes_corrects_changed_rows_and_is_idempotent(app, catalogue):
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MasterSymptom)) == len(ROWS)
        depressed = db.session.scalar(select(MasterSymptom).where(MasterSymptom.code == "MB24.5"))
        kept_id = depressed.id
        depressed.title = "Something else"
        db.session.delete(db.session.scalar(select(MasterSymptom).where(MasterSymptom.code == "MB24.3")))
        db.session.commit()

        outcome = service.sync_master_list()
        db.session.commit()
        assert (outcome.added, outcome.updated, outcome.unchanged) == (1, 1, len(ROWS) - 2)
        db.session.expire_all()  # the sync wrote with Core, behind the session's back
        depressed = db.session.get(MasterSymptom, kept_id)  # ids survive a sync
        assert depressed.title == "Depressed mood"

        again = service.sync_master_list()
        assert (again.added, again.updated, again.unchanged) == (0, 0, len(ROWS))


def test_the_sync_command(app):
    result = app.test_cli_runner().invoke(args=["symptoms", "sync"])
    assert result.exit_code == 0, result.output
    assert f"{len(ROWS)} added" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MasterSymptom)) == len(ROWS)
