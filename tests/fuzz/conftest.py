"""Fixtures of the fuzz runs: a fresh app with two clinics' records (see ``world.py``).

Hypothesis keeps caches (never examples: the runs use no database) under the system's temporary
directory rather than in the working tree.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tests.conftest import KeptRows
from tests.factories import access_token_for, build_tenants
from tests.fuzz.world import World, build_world

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "clinic-fuzz-hypothesis")


@dataclasses.dataclass
class _Kept:
    rows: KeptRows
    world: World | None = None


@pytest.fixture(scope="session")
def _kept_world(housekeeping_app: Any) -> Iterator[_Kept]:
    kept = _Kept(KeptRows("fuzz_world"))
    yield kept
    kept.rows.discard(housekeeping_app)


@pytest.fixture
def world(app: Any, _kept_world: _Kept) -> World:
    """The two clinics, built by the first fuzz test of the process and their rows put back for
    each later one (building them cost more than a second a test); the test's own app, and a fresh
    access token (the owner's bearer of the kept world may have expired since)."""
    kept = _kept_world
    if kept.world is None:
        with app.app_context():
            tenants = build_tenants()
        built = build_world(app, tenants)
        kept.rows.keep(app)
        kept.world = built
        return built
    kept.rows.put_back(app)
    world = dataclasses.replace(
        kept.world,
        app=app,
        a=dataclasses.replace(kept.world.a, ids=dict(kept.world.a.ids), markers=set(kept.world.a.markers)),
        b=dataclasses.replace(kept.world.b, ids=dict(kept.world.b.ids), markers=set(kept.world.b.markers)),
        bearer=dict(kept.world.bearer),
    )
    world.bearer["owner access token"] = f"Bearer {access_token_for(app, world.tenants.user('owner'))}"
    return world
