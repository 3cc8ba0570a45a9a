"""Builders for intake tests: the symptom catalogue, drafts driven through the step pages, raw
table reads and audit events."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from clinic_app.core.audit import AuditEvent
from clinic_app.extensions import db
from clinic_app.symptoms import service as symptoms
from clinic_app.symptoms.models import MasterSymptom
from tests.factories import page_csrf

DEMOGRAPHICS = {
    "first_name": "Ada",
    "last_name": "Intake",
    "date_of_birth": "1980-02-03",
    "sex": "female",
    "mobile_phone": "0412 555 111",
    "email": "ada.intake@example.com",
}
PRESENTING = {
    "presenting_problem": "Low mood since winter",
    "informants": ["self", "spouse"],
    "informant_details": "Husband came along",
    "illness_duration_value": "3",
    "illness_duration_unit": "months",
    "referred_by": "Dr Who",
    "precipitating_factors": "Lost job in June",
    "precipitating_tags": "work, loss",
}


@pytest.fixture
def catalogue(app: Flask) -> None:
    """The ICD-11 master list as the migration loads it (the suite empties every table after each test)."""
    with app.app_context():
        symptoms.sync_master_list()
        db.session.commit()


def master_id(app: Flask, code: str) -> str:
    with app.app_context():
        return db.session.scalar(select(MasterSymptom.id).where(MasterSymptom.code == code))


def csrf(client: Any) -> str:
    return page_csrf(client, "/intake")


def start_draft(client: Any) -> str:
    response = client.post("/intake", data={"csrf_token": csrf(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.fullmatch(r"/intake/(itk_[0-9A-Za-z]+)/demographics", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def post_step(
    client: Any, draft_id: str, step: str, data: dict[str, Any], *, htmx: bool = False, go: str = "next"
) -> Any:
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        f"/intake/{draft_id}/{step}", data={**data, "go": go, "csrf_token": csrf(client)}, headers=headers
    )


def add_symptom(client: Any, draft_id: str, *, htmx: bool = True, **data: str) -> Any:
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/intake/{draft_id}/symptoms/add", data={**data, "csrf_token": csrf(client)}, headers=headers)


def symptom_keys(html: str) -> list[str]:
    return re.findall(r'data-symptom-key="([0-9a-f]{8})"', html)


def details(key: str, **values: str) -> dict[str, str]:
    """A chosen symptom's detail fields as the symptoms step posts them."""
    defaults = {"severity": "moderate", "frequency": "daily"}
    return {f"symptoms-{key}-{name}": value for name, value in {**defaults, **values}.items()}


def fill_draft(
    client: Any, app: Flask, *, demographics: dict[str, Any] | None = None, with_symptom: bool = True
) -> str:
    """A draft with every step saved (one ICD-11 symptom, MB24.5, when ``with_symptom``); returns its id."""
    draft_id = start_draft(client)
    assert post_step(client, draft_id, "demographics", demographics or DEMOGRAPHICS).status_code == 303
    assert post_step(client, draft_id, "presenting-problem", PRESENTING).status_code == 303
    data: dict[str, str] = {}
    if with_symptom:
        add_symptom(client, draft_id, symptom_id=master_id(app, "MB24.5"))
        [key] = symptom_keys(client.get(f"/intake/{draft_id}/symptoms").get_data(as_text=True))
        data = details(key, notes="SENTINEL-SYMPTOM-NOTE")
    assert post_step(client, draft_id, "symptoms", data).status_code == 303
    return draft_id


def raw_rows(app: Flask, table: str) -> list[dict[str, Any]]:
    with app.app_context(), db.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table}"))]  # noqa: S608


def count(app: Flask, table: str) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608


def events(app: Flask, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        rows = db.session.scalars(query).all()
        for row in rows:
            db.session.expunge(row)
        return rows


@pytest.fixture
def receptionist(login_as: Any) -> Any:
    return login_as("receptionist")


def submit_draft(client: Any, draft_id: str) -> str:
    """Submit the draft from its review page; returns the new patient's id."""
    response = client.post(f"/intake/{draft_id}/review", data={"csrf_token": csrf(client)})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return response.headers["Location"].rsplit("/", 1)[1]
