"""Fixtures for the dashboard tests: a frozen clock and a generated clinic in organization A.

The sandbox Cliniko fixtures of the sync tests are reused for the after-a-sync recount."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from clinic_app.extensions import db
from clinic_app.figures import service as figures
from tests.dashboard.dataset import build_clinic, recount
from tests.sync.conftest import cliniko_sandbox, make_cliniko_sandbox  # noqa: F401 (fixtures)

# A Wednesday; 12:30 in Sydney (AEST, after daylight saving ended on 5 April).
NOW = datetime(2026, 4, 15, 2, 30, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def clinic(app, tenants, frozen):
    """Organization A (Australia/Sydney) with the generated clinic, statistics computed at NOW;
    organization B has a few patients and appointments of its own. Built in its own app context:
    requests made while one is pushed would share ``g`` (and so the signed-in identity)."""
    with app.app_context():
        built = build_clinic(tenants.a.id, NOW)
        build_clinic(tenants.b.id, NOW, seed=5, patients_count=6)
        figures.recompute(tenants.a.id, now=NOW)
        figures.recompute(tenants.b.id, now=NOW)
        db.session.commit()
    return built


@pytest.fixture
def counted(app):
    """``counted(organization_id, time_zone)``: the independent recount at NOW."""

    def count(organization_id, time_zone="Australia/Sydney"):
        with app.app_context():
            return recount(organization_id, NOW, time_zone)

    return count
