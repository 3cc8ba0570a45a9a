"""Fixtures of the symptom catalogue tests."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.symptoms import service


@pytest.fixture
def catalogue(app: Flask) -> None:
    """The master list as the migration loads it. The suite's clean-up empties every table after
    each test, this one included, so tests that search it put it back first."""
    with app.app_context():
        service.sync_master_list()
        db.session.commit()


@pytest.fixture
def add_custom(app: Flask) -> Any:
    """``add_custom(organization_id, name, **fields)`` → the new custom symptom's id."""

    def add(organization_id: str, name: str, **fields: Any) -> str:
        with app.app_context():
            symptom = service.create_custom(organization_id, name, actor=audit.Actor(), **fields)
            db.session.commit()
            return symptom.id

    return add
