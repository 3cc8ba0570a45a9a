"""The serving process keeps its long-lived objects out of full collections (core/memory.py)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from clinic_app.core.memory import keep_long_lived_out_of_collections

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


def test_the_wsgi_entry_point_freezes_the_app_it_serves(tmp_path: Path) -> None:
    env = {**os.environ, "APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)}
    probe = "import gc, wsgi; print(gc.get_freeze_count())"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 100_000  # the app, not a handful of objects
