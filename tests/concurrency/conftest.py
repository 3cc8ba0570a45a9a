"""Concurrent requests against a running server, on the suite's database (PostgreSQL in CI) and,
always, on the embedded SQLite default: what a new user runs first."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from flask import Flask

from clinic_app import create_app
from clinic_app.extensions import db
from tests.conftest import wipe_tables
from tests.live_server import LiveServer


@pytest.fixture(scope="session")
def sqlite_config(base_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A migrated SQLite database of its own, whatever database the rest of the suite uses."""
    from flask_migrate import upgrade

    folder = tmp_path_factory.mktemp("embedded")
    config = {**base_config, "DATABASE_URL": f"sqlite:///{folder / 'clinic.db'}", "INSTANCE_PATH": str(folder)}
    config.pop("REDIS_URL", None)
    app = create_app(dict(config))
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()
    yield config


@pytest.fixture(params=["suite database", "embedded sqlite"])
def concurrent_app(request: pytest.FixtureRequest, make_app: Any) -> Iterator[Flask]:
    """The app (jobs on the in-process thread, request rate limits off so only the rules under
    test answer), on each of the two databases."""
    overrides = {"JOBS_BACKEND": "thread", "RATELIMIT_ENABLED": False}
    if request.param == "suite database":
        yield make_app(**overrides)
        return
    config = request.getfixturevalue("sqlite_config")
    app = create_app({**config, **overrides})
    yield app
    with app.app_context():
        from clinic_app.core.jobs import wait_for_local_jobs

        wait_for_local_jobs(app)
        db.session.remove()
        wipe_tables()
        db.engine.dispose()


@pytest.fixture
def live(concurrent_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(concurrent_app) as server:
        yield server


def at_once(count: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Send ``count`` requests from as many threads, released together by a barrier."""
    barrier = threading.Barrier(count)

    def one(index: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return send(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))
