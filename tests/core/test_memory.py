"""The serving process keeps its long-lived objects out of full collections (core/memory.py)."""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from clinic_app.core.memory import WARM_AFTER_REQUESTS, keep_long_lived_out_of_collections

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()  # the rest of the suite collects as usual


def test_the_app_is_frozen_when_built_and_again_once_warm(unfrozen: None) -> None:
    app = Flask(__name__)
    app.add_url_rule("/", "home", lambda: "ok")
    keep_long_lived_out_of_collections(app, warm_after=3)
    assert gc.get_freeze_count() > 0  # everything alive when the app was built
    gc.unfreeze()
    client = app.test_client()
    for _ in range(2):
        assert client.get("/").status_code == 200
        assert gc.get_freeze_count() == 0
    assert client.get("/").status_code == 200  # the third request: warm, frozen again
    frozen = gc.get_freeze_count()
    assert frozen > 0
    for _ in range(5):
        assert client.get("/").status_code == 200
    assert gc.get_freeze_count() == frozen  # once, not on every request after


def test_the_wsgi_entry_point_freezes_the_app_it_serves(
    unfrozen: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An app of its own: an in-memory database, no background clock, its own rate limits. (With
    # the suite's REDIS_URL, its requests would count against the limits other tests' apps share.)
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, "wsgi", raising=False)
    try:
        wsgi = importlib.import_module("wsgi")
        assert gc.get_freeze_count() > 100_000  # the app and everything loaded with it
        gc.unfreeze()
        client = wsgi.app.test_client()
        for _ in range(WARM_AFTER_REQUESTS):
            assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > 0  # and again once warm
    finally:
        sys.modules.pop("wsgi", None)
