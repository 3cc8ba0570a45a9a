"""Fixtures of the fuzz runs: a fresh app with two clinics' records (see ``world.py``).

Hypothesis keeps caches (never examples: the runs use no database) under the system's temporary
directory rather than in the working tree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tests.fuzz.world import World, build_world

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "clinic-fuzz-hypothesis")


@pytest.fixture
def world(app: Any, tenants: Any) -> World:
    return build_world(app, tenants)
