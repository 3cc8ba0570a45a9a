"""Shared fixtures: one migrated database per run, a fresh app per test, rows wiped after each.

The suite runs against PostgreSQL and Redis when ``DATABASE_URL`` / ``REDIS_URL`` are set (CI sets
both; with ``CI=true`` their absence fails the run rather than quietly testing less) and against a
SQLite file otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import email
import email.policy
import os
import secrets
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import text
from werkzeug.routing.rules import Rule

from clinic_app.core.mail import wait_for_outbox
from clinic_app.extensions import db
from devtools import create_app  # the product app with the seed-demo, seed-scale and sandbox commands


def _share_url_builders_between_apps() -> None:
    """Every test builds a fresh app, and werkzeug compiles two small Python functions per URL
    rule (``url_for``'s builders) each time: with ~370 rules that was four fifths of
    ``create_app``. A builder is made from the rule's text, parsed parts, defaults and converters
    only (it reads the rule it is bound to when called), so apps built from the same code can
    share them: the tests compile each rule's builders once per process."""
    compile_builder = Rule._compile_builder
    built: dict[tuple[Any, ...], Any] = {}

    def shared(self: Rule, append_unknown: bool = True) -> Any:
        key = (
            self.rule,
            self.host,
            self.subdomain,
            tuple(self._trace),
            append_unknown,
            repr(sorted((self.defaults or {}).items())),
            tuple(sorted((name, type(converter)) for name, converter in self._converters.items())),
        )
        builder = built.get(key)
        if builder is None:
            builder = built[key] = compile_builder(self, append_unknown)
        return builder

    Rule._compile_builder = shared  # type: ignore[method-assign]


def _share_parsed_rules_between_apps() -> None:
    """The other half of ``create_app``'s cost was werkzeug parsing each rule's text into the parts
    its matcher uses, again for every app. A rule's parse depends on its text and the map's
    converter classes only, so apps built from the same code reuse it: the rule gets the same
    parts and trace, and converters of its own (copies bound to its own map)."""
    parse_rule = Rule._parse_rule
    parsed: dict[tuple[Any, ...], tuple[list[Any], list[Any], dict[str, Any]]] = {}

    def shared(self: Rule, rule: str) -> Iterator[Any]:
        key = (rule, tuple(sorted(self.map.converters.items(), key=lambda item: item[0])))
        found = parsed.get(key)
        if found is None:
            trace_from, before = len(self._trace), dict(self._converters)
            parts = list(parse_rule(self, rule))  # (sets this rule's trace and converters as it goes)
            added = {
                name: converter for name, converter in self._converters.items() if before.get(name) is not converter
            }
            parsed[key] = (parts, self._trace[trace_from:], added)
            return iter(parts)
        parts, trace, converters = found
        self._trace.extend(trace)
        for name, converter in converters.items():
            own = copy.copy(converter)
            own.map = self.map
            self._converters[name] = own
            self.arguments.add(name)
        return iter(parts)

    Rule._parse_rule = shared  # type: ignore[method-assign]


def _share_openapi_documents_between_apps() -> None:
    """The OpenAPI document (built once per app, ``site.views.openapi_document``) took half a second
    to build, and the fuzz and API tests ask a fresh app for it some 250 times a run. It is made
    from the app's URL rules, their views' declared operations and access policies, the title and
    the version only: an app whose rules, operations (with their models) and policies are all the
    same as an earlier one's gets a copy of that one's document (a route planted or a policy
    changed by a test is a different key, and a new build)."""
    from clinic_app.core.access import policy_for
    from clinic_app.site import views

    build = views.build_openapi
    built: dict[tuple[Any, ...], dict[str, Any]] = {}

    def declared(app: Flask, rule: Rule) -> tuple[Any, ...]:
        """What the document reads of one rule; the models themselves too (a model planted by a
        test may share its name, and so its repr, with another)."""
        operation = getattr(app.view_functions.get(rule.endpoint), "api_operation", None)
        models = (operation.body, operation.query, operation.response) if operation is not None else ()
        return (rule.rule, rule.endpoint, repr(operation), models, repr(policy_for(app, rule.endpoint)))

    def shared(app: Flask, *, title: str, version: str) -> dict[str, Any]:
        key = (title, version, tuple(declared(app, rule) for rule in app.url_map.iter_rules()))
        document = built.get(key)
        if document is None:
            document = built[key] = build(app, title=title, version=version)
        return copy.deepcopy(document)  # each app its own, as when each built it

    views.build_openapi = shared  # type: ignore[assignment]


class _SharedTemplateCode(BytecodeCache):
    """Jinja's compiled templates, kept in memory for every app of the process. Each app has its own
    Jinja environment, so each test compiled again every template it rendered (a fifth of the route
    matrix's time). Jinja keys a template's code by its name and file and checks the source's
    checksum before using it: a changed or stand-in template (a test's own loader) is compiled
    afresh. The apps all have the same filters, tests and options, so the code is the same."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        stored = self.code.get(bucket.key)
        if stored is not None:
            bucket.bytecode_from_string(stored)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


_share_url_builders_between_apps()
_share_parsed_rules_between_apps()
_share_openapi_documents_between_apps()
Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _SharedTemplateCode()}

IN_CI = os.environ.get("CI", "").lower() == "true"
# Under pytest-xdist (``make test`` runs TEST_WORKERS, four by default) each worker has its own PostgreSQL database
# and Redis database, so one worker's wipe or queue never touches the other's tests.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1"... or None


def _worker_number() -> int:
    return int(WORKER[2:]) if WORKER and WORKER[2:].isdigit() else 0


def _worker_redis_url(url: str | None) -> str | None:
    """The Redis database ``url`` names, minus the worker's number (15, 14... under xdist)."""
    if not url or not WORKER:
        return url
    base, _, number = url.rpartition("/")
    if not number.isdigit():
        return url
    return f"{base}/{max(int(number) - _worker_number(), 0)}"


def _worker_database_url(url: str | None) -> str | None:
    """``url`` with the worker's name appended to the PostgreSQL database's (created by
    ``worker_database`` below); unchanged outside xdist and for SQLite."""
    if not url or not WORKER or not url.startswith("postgresql"):
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{WORKER}").render_as_string(hide_password=False)


DATABASE_URL = _worker_database_url(os.environ.get("DATABASE_URL"))
REDIS_URL = _worker_redis_url(os.environ.get("REDIS_URL"))


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI:
        missing = [name for name, value in (("DATABASE_URL", DATABASE_URL), ("REDIS_URL", REDIS_URL)) if not value]
        if missing:
            raise pytest.UsageError(
                f"CI=true but {', '.join(missing)} is not set: CI must test against the real services."
            )


def _test_key() -> str:
    return "t1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@pytest.fixture(scope="session")
def worker_database() -> Iterator[None]:
    """Under xdist on PostgreSQL: this worker's own database, created fresh and dropped at the end."""
    if DATABASE_URL is None or os.environ.get("DATABASE_URL") == DATABASE_URL:
        yield
        return
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    target = make_url(DATABASE_URL)
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = sql.Identifier(target.database)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
    yield
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@pytest.fixture(scope="session")
def base_config(tmp_path_factory: pytest.TempPathFactory, worker_database: None) -> dict[str, Any]:
    instance = tmp_path_factory.mktemp("instance")
    config: dict[str, Any] = {
        "APP_ENV": "test",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "FIELD_ENCRYPTION_KEYS": _test_key(),
        "DATABASE_URL": DATABASE_URL or f"sqlite:///{instance / 'test.db'}",
        "JOBS_BACKEND": "eager",
        # Counters per app (so tests do not share them); the Redis storage has its own test.
        "RATELIMIT_STORAGE_URI": "memory://",
        # Cheap argon2id for speed; production uses the library's RFC 9106 defaults.
        "PASSWORD_HASH_COST": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        "LOG_LEVEL": "INFO",
    }
    if REDIS_URL:
        config["REDIS_URL"] = REDIS_URL
    return config


@pytest.fixture(scope="session")
def migrated_database(base_config: dict[str, Any]) -> Iterator[None]:
    """Build the schema once by running the real migrations (so they are tested on every run)."""
    from flask_migrate import downgrade, upgrade

    app = create_app(dict(base_config))
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # A previous interrupted run may have left tables behind: start from nothing.
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        else:
            db.drop_all()
            with db.engine.begin() as connection:
                connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(revision="heads")
    yield
    with app.app_context():
        downgrade(revision="base")  # every migration must also reverse cleanly
        db.engine.dispose()


def wipe_tables() -> None:
    """Remove every row; faster than dropping and recreating per test. On PostgreSQL the deletes
    run as a replica session (``session_replication_role``, the test user is a superuser): no
    trigger fires, so neither the foreign keys' checks nor the audit trail's append-only trigger
    (which a real session cannot get past) stand in the way. For the few rows a test leaves, that
    is some 15 ms where one TRUNCATE of every table took 200; sent as one script (one round trip, no
    statement built per table per test), 2 or 3 ms."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(_wipe_script(connection))
            return
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


_wipe_scripts: dict[int, str] = {}


def _wipe_script(connection: Any) -> str:
    """PostgreSQL: every table's DELETE as one script, in a replica session (built once per schema)."""
    tables = tuple(reversed(db.metadata.sorted_tables))
    script = _wipe_scripts.get(hash(tables))
    if script is None:
        deletes = [str(table.delete().compile(dialect=connection.dialect)) for table in tables]
        script = _wipe_scripts[hash(tables)] = "; ".join(["SET LOCAL session_replication_role = replica", *deletes])
    return script


class KeptRows:
    """Every row of the test database at one moment, written back at the start of later tests: for
    a costly starting state that many tests share (the route matrix's and the fuzz runs' records of
    two clinics), built by the first test and put back for each later one in a few milliseconds.
    Each test still gets its own fresh app, and its rows are wiped after it as for any other test.
    On PostgreSQL the copies are tables in a schema of their own beside ``public``; on SQLite, the
    stored values themselves in memory."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.kept = False
        self.copied: list[str] = []  # PostgreSQL: the tables with rows, parents first
        self.rows: dict[str, tuple[str, list[tuple[Any, ...]]]] = {}  # SQLite

    def keep(self, app: Flask) -> None:
        from clinic_app.core.jobs import wait_for_local_jobs

        wait_for_local_jobs(app)  # the state kept is a settled one: no job still writing
        with app.app_context():
            db.session.remove()
            with db.engine.begin() as connection:
                quote = connection.dialect.identifier_preparer.quote
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
                    connection.exec_driver_sql(f"CREATE SCHEMA {self.schema}")
                # (table names from the app's own metadata: nothing here comes from outside)
                for table in db.metadata.sorted_tables:
                    name = quote(table.name)
                    if connection.dialect.name == "postgresql":
                        if connection.execute(db.select(db.exists().select_from(table))).scalar():
                            connection.exec_driver_sql(f"CREATE TABLE {self.schema}.{name} AS SELECT * FROM {name}")  # noqa: S608
                            self.copied.append(name)
                        continue
                    result = connection.exec_driver_sql(f"SELECT * FROM {name}")  # noqa: S608  (values as stored)
                    columns = ", ".join(quote(column) for column in result.keys())  # noqa: SIM118
                    rows = [tuple(row) for row in result]
                    if rows:
                        self.rows[name] = (columns, rows)
        self.kept = True

    def put_back(self, app: Flask) -> None:
        assert self.kept
        with app.app_context():
            with db.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # as the wipe does: a replica session, so the rows go back exactly as they were
                    connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
                    for name in self.copied:
                        connection.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM {self.schema}.{name}")  # noqa: S608
                else:
                    connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
                    for name, (columns, rows) in self.rows.items():
                        marks = ", ".join("?" * len(rows[0]))
                        connection.exec_driver_sql(f"INSERT INTO {name} ({columns}) VALUES ({marks})", rows)  # noqa: S608
            db.session.remove()

    def discard(self, app: Flask) -> None:
        with app.app_context():
            if db.engine.dialect.name == "postgresql":
                with db.engine.begin() as connection:
                    connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


@pytest.fixture(scope="session")
def housekeeping_app(base_config: dict[str, Any], migrated_database: None) -> Iterator[Flask]:
    """An app on the test database used only to wipe rows between tests."""
    app = create_app(dict(base_config))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def make_app(base_config: dict[str, Any], housekeeping_app: Flask, tmp_path: Path) -> Iterator[Any]:
    """Build an app with extra settings; every app built is cleaned up after the test. The apps of
    one test share a folder for uploaded files of their own (a file one test leaves behind is
    never another test's)."""
    built: list[Flask] = []
    uploads = str(tmp_path / "health_uploads")

    def build(**overrides: Any) -> Flask:
        app = create_app({**base_config, "HEALTH_UPLOAD_DIR": uploads, **overrides})
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            from clinic_app.core.jobs import wait_for_local_jobs

            wait_for_local_jobs(app)
            db.session.remove()
    with housekeeping_app.app_context():
        wipe_tables()
    for app in built:
        with app.app_context():
            db.engine.dispose()
        redis = app.extensions.get("clinic_redis")
        if redis is not None:
            redis.close()


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.fail(
            f"Chromium not found at {path}: run `make test` (it installs Debian's chromium) or set CHROMIUM_PATH."
        )
    return path


@pytest.fixture
def tenants(app: Flask) -> Any:
    """Organization A (one user per role) and organization B (its own owner)."""
    from tests.factories import build_tenants

    with app.app_context():
        return build_tenants()


@pytest.fixture
def login_as(app: Flask, tenants: Any) -> Any:
    """``login_as("clinician")`` → a test client signed in as that role of organization A;
    ``login_as("outsider")`` → the owner of organization B."""
    from tests.factories import sign_in

    def sign_in_as(role: str) -> FlaskClient:
        client = app.test_client()
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        response = sign_in(client, user.email)
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return sign_in_as


class SmtpServer:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that keeps every message it
    accepts, for tests that read the app's mail as a person would. ``delay`` (seconds) makes it
    slow to accept each message, as a distant mail server can be."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        server = self

        class Collector:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
                if server.delay:
                    await asyncio.sleep(server.delay)
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                with server._arrived:
                    server.messages.append(message)
                    server._arrived.notify_all()
                return "250 Message accepted for delivery"

        class AnyPortController(Controller):
            # Bound to a free port chosen by the system (port 0), then reached on the one it got.
            def _trigger_server(self) -> None:
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        self.messages: list[EmailMessage] = []
        self.delay = 0.0
        self._arrived = threading.Condition()
        self._controller = AnyPortController(Collector(), hostname="127.0.0.1", port=0, server_hostname="smtp.test")

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def settings(self) -> dict[str, Any]:
        """The app settings that send mail here (plain SMTP on loopback, no log-in)."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self._controller.port,
            "SMTP_STARTTLS": False,
            "SMTP_USERNAME": None,
        }

    def wait_for(self, count: int = 1, *, to: str | None = None, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages received so far (those addressed to ``to`` only, when given), once there are
        at least ``count`` of them; fails the test after ``timeout`` seconds."""

        def matching() -> list[EmailMessage]:
            return [m for m in self.messages if to is None or to.lower() in str(m["To"]).lower()]

        with self._arrived:
            if not self._arrived.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                pytest.fail(f"expected {count} e-mail(s){f' to {to}' if to else ''}, got {len(matching())}")
            return matching()


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[SmtpServer]:
    """A local SMTP server the ``app`` fixture's mail goes to (``smtp_server.settings`` configures
    another app the same way); ``smtp_server.messages`` are the messages received."""
    server = SmtpServer().start()
    app.config.update(server.settings)
    yield server
    wait_for_outbox()  # nothing the test caused is still on its way here
    server.stop()
