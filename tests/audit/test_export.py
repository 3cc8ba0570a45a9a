"""The audit trail's export (issue 20): a date range as JSON or CSV with the chain's verification,
for owners only."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Flask
from sqlalchemy import select

from clinic_app.core.audit import AuditEvent
from clinic_app.core.time import local_today, organization_zone
from clinic_app.extensions import db
from tests.audit.test_audit_trail import tamper
from tests.factories import access_token_for
from tests.patients.conftest import register

URL = "/api/v1/audit/export"


def _today(app: Flask, tenants: Any) -> str:
    with app.app_context():
        return local_today(organization_zone(tenants.a.id)).isoformat()


def _owner(app: Flask, tenants: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token_for(app, tenants.user('owner'))}"}


def test_json_export_has_the_range_and_a_verified_chain(app: Flask, tenants: Any) -> None:
    patient = register(app, tenants.a)
    register(app, tenants.b)  # another organization's events are not in A's export
    today = _today(app, tenants)
    answer = app.test_client().get(f"{URL}?from={today}&to={today}", headers=_owner(app, tenants))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["verification"]["intact"] is True and answer.headers["X-Audit-Chain-Intact"] == "true"
    assert any(e["patient_id"] == patient for e in body["events"])  # the registration is in it
    with app.app_context():
        mine = db.session.scalars(select(AuditEvent.id).where(AuditEvent.chain == tenants.a.id)).all()
        others = set(db.session.scalars(select(AuditEvent.id).where(AuditEvent.chain != tenants.a.id)))
    exported = [e["id"] for e in body["events"]]
    assert set(exported) <= set(mine) and not set(exported) & others and exported
    seqs = [e["seq"] for e in body["events"]]
    assert seqs == sorted(seqs) and all(e["hash"] and e["prev_hash"] for e in body["events"])
    # a day with nothing in it
    empty = (app.test_client().get(f"{URL}?from=2001-01-01&to=2001-01-02", headers=_owner(app, tenants))).get_json()
    assert empty["events"] == [] and empty["verification"]["intact"] is True


def test_csv_export_and_a_broken_chain_is_reported(app: Flask, tenants: Any) -> None:
    register(app, tenants.a)
    today = _today(app, tenants)
    with app.app_context():
        victim = db.session.scalars(select(AuditEvent).where(AuditEvent.chain == tenants.a.id)).first()
        victim_id = victim.id
    tamper(app, "UPDATE audit_events SET target_id = '=cmd|calc' WHERE id = :id", id=victim_id)
    answer = app.test_client().get(f"{URL}?from={today}&to={today}&format=csv", headers=_owner(app, tenants))
    assert answer.status_code == 200 and answer.content_type.startswith("text/csv")
    assert answer.headers["X-Audit-Chain-Intact"] == "false"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    tampered = next(r for r in rows if r["id"] == victim_id)
    assert tampered["target_id"] == "'=cmd|calc"  # a spreadsheet shows it as text
    body = app.test_client().get(f"{URL}?from={today}&to={today}", headers=_owner(app, tenants)).get_json()
    assert body["verification"]["intact"] is False
    assert any(p["event_id"] == victim_id for p in body["verification"]["problems"])


def test_export_is_bounded_and_for_owners_only(app: Flask, tenants: Any) -> None:
    today = _today(app, tenants)
    client = app.test_client()
    owner = _owner(app, tenants)
    reversed_range = client.get(f"{URL}?from={today}&to=2000-01-01", headers=owner)
    assert reversed_range.status_code == 422 and reversed_range.get_json()["errors"][0]["field"] == "to"
    too_long = client.get(f"{URL}?from=2020-01-01&to=2021-06-01", headers=owner)
    assert too_long.status_code == 422
    assert client.get(f"{URL}?from=soon&to={today}", headers=owner).status_code == 422
    admin = {"Authorization": f"Bearer {access_token_for(app, tenants.user('admin'))}"}
    assert client.get(f"{URL}?from={today}&to={today}", headers=admin).status_code == 403
    outsider = {
        "Authorization": f"Bearer {access_token_for(app, tenants.outsider)}",
        "X-Organization-ID": tenants.a.id,
    }
    assert client.get(f"{URL}?from={today}&to={today}", headers=outsider).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.exported")).all() == []
