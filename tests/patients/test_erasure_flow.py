"""The erasure request's life (docs/retention.md, "Erasure"): owners only (403 to every other
role, 404 to another organization), the second confirmation, the waiting period (set by the owner,
0-90 days), cancel while waiting, carry out once (the owner, or the clock), the erased record
answering 410, the pages, and audit events that carry no PHI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.core.audit import AuditEvent
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.patients import erasure
from clinic_app.patients.models import ErasureRequest, Patient
from tests.factories import access_token_for, csrf_from
from tests.health_data.conftest import register_patient

NAME = {"first_name": "Nadia", "last_name": "Quell", "email": "nadia.quell@example.org", "notes": "Private words"}


@pytest.fixture
def patient_id(app, tenants):
    return register_patient(app, tenants.a, **NAME)


@pytest.fixture
def bearer(app, tenants):
    def headers(role="owner"):
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return {"Authorization": f"Bearer {access_token_for(app, user)}"}

    return headers


def _request(client, headers, patient_id, **body):
    payload = {"reason": "patient_request", "confirm_name": "Nadia Quell", **body}
    return client.post(f"/api/v1/patients/{patient_id}/erasure", json=payload, headers=headers)


def _waiting_days(client, headers, days):
    answer = client.put("/api/v1/organization/privacy", json={"erasure_waiting_days": days}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer


@pytest.mark.parametrize("role", ["admin", "clinician", "receptionist"])
def test_only_owners_may_see_request_or_carry_out_an_erasure(client, bearer, patient_id, role):
    headers = bearer(role)
    assert client.get(f"/api/v1/patients/{patient_id}/erasure/inventory", headers=headers).status_code == 403
    assert _request(client, headers, patient_id).status_code == 403
    assert client.get(f"/api/v1/patients/{patient_id}/erasure", headers=headers).status_code == 403
    assert (
        client.put("/api/v1/organization/privacy", json={"erasure_waiting_days": 0}, headers=headers).status_code == 403
    )


def test_another_organization_gets_404_for_everything(app, client, bearer, patient_id):
    owner = bearer("owner")
    created = _request(client, owner, patient_id).get_json()
    outsider = bearer("outsider")
    assert client.get(f"/api/v1/patients/{patient_id}/erasure/inventory", headers=outsider).status_code == 404
    assert _request(client, outsider, patient_id).status_code == 404
    base = f"/api/v1/patients/{patient_id}/erasure/{created['id']}"
    assert client.post(f"{base}/cancel", headers=outsider).status_code == 404
    assert client.post(f"{base}/carry-out", headers=outsider).status_code == 404
    with app.app_context():
        assert db.session.get(ErasureRequest, created["id"]).status == "waiting"


def test_the_inventory_lists_what_is_erased_and_what_is_kept(client, bearer, patient_id):
    answer = client.get(f"/api/v1/patients/{patient_id}/erasure/inventory", headers=bearer())
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["waiting_days"] == 30  # the default
    assert any(line["feature"] == "patients" and line["action"] == "erase" for line in body["erase"])
    kept = {line["what"]: line for line in body["keep"]}
    assert any("tombstone" in what for what in kept)
    assert all(line["reason"] for line in body["keep"])


def test_the_second_confirmation_and_the_reason_are_checked_and_nothing_is_written(app, client, bearer, patient_id):
    answer = _request(client, bearer(), patient_id, confirm_name="Nadia Quel", reason="because")
    assert answer.status_code == 422
    errors = {(e["field"], e.get("code")) for e in answer.get_json()["errors"]}
    assert errors == {("confirm_name", "MISMATCH"), ("reason", "UNKNOWN_REASON")}
    other = _request(client, bearer(), patient_id, reason="other")
    assert {(e["field"], e.get("code")) for e in other.get_json()["errors"]} == {("note", "MISSING")}
    long = _request(client, bearer(), patient_id, note="x" * 501)
    assert {(e["field"], e.get("code")) for e in long.get_json()["errors"]} == {("note", "TOO_LONG")}
    typed = _request(client, bearer(), patient_id, reason=["patient_request"], confirm_name={"a": 1})
    assert typed.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(ErasureRequest)).all() == []


def test_a_request_waits_can_be_cancelled_and_is_carried_out_once_after_the_wait(app, client, bearer, patient_id):
    owner = bearer()
    _waiting_days(client, owner, 7)
    first = _request(client, owner, patient_id, note="Asked by letter")
    assert first.status_code == 201
    request = first.get_json()
    assert request["status"] == "waiting" and request["waiting_days"] == 7
    assert _request(client, owner, patient_id).status_code == 409  # one waiting request per patient
    base = f"/api/v1/patients/{patient_id}/erasure/{request['id']}"
    early = client.post(f"{base}/carry-out", headers=owner)
    assert early.status_code == 409 and "waiting period ends" in early.get_json()["detail"]
    assert client.post(f"{base}/cancel", headers=owner).get_json()["status"] == "cancelled"
    assert client.post(f"{base}/cancel", headers=owner).status_code == 409
    assert client.post(f"{base}/carry-out", headers=owner).status_code == 409
    assert client.get(f"/api/v1/patients/{patient_id}", headers=owner).status_code == 200  # nothing erased

    _waiting_days(client, owner, 0)
    second = _request(client, owner, patient_id).get_json()
    done = client.post(f"/api/v1/patients/{patient_id}/erasure/{second['id']}/carry-out", headers=owner)
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    again = client.post(f"/api/v1/patients/{patient_id}/erasure/{second['id']}/carry-out", headers=owner)
    assert again.status_code == 409
    gone = client.get(f"/api/v1/patients/{patient_id}", headers=bearer("receptionist"))
    assert gone.status_code == 410 and "erased" in gone.get_json()["detail"]
    assert client.put(f"/api/v1/patients/{patient_id}", json={"notes": "x"}, headers=owner).status_code == 410
    status = client.get(f"/api/v1/patients/{patient_id}/erasure", headers=owner).get_json()
    assert status["erased"] is True and [r["status"] for r in status["requests"]] == ["completed", "cancelled"]
    assert _request(client, owner, patient_id, confirm_name="Erased patient").status_code == 410
    with app.app_context():
        assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "erasure.completed")).all()) == 1


def test_the_waiting_period_is_bounded(client, bearer):
    for days in (-1, 91, 10**12):
        answer = client.put("/api/v1/organization/privacy", json={"erasure_waiting_days": days}, headers=bearer())
        assert answer.status_code == 422
        assert answer.get_json()["errors"][0]["field"] == "erasure_waiting_days"
    bad = client.put("/api/v1/organization/privacy", json={"consent_at_intake": ["anything"]}, headers=bearer())
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["code"] == "UNKNOWN_KIND"


def test_the_clock_carries_out_due_requests_only(app, tenants, patient_id):
    owner = audit.Actor(user_id=tenants.user("owner").id)
    with app.app_context():
        request = erasure.request_erasure(
            tenants.a.id, patient_id, reason="duplicate", note=None, confirm_name="nadia  QUELL", actor=owner
        )
        db.session.commit()
        request_id, due = request.id, request.due_at
        assert due - request.requested_at == timedelta(days=30)
    with app.app_context():
        assert erasure.carry_out_due_erasures(due - timedelta(minutes=1))["completed"] == []
        assert db.session.get(Patient, patient_id).erased_at is None
    with app.app_context():
        assert erasure.carry_out_due_erasures(due + timedelta(minutes=1))["completed"] == [request_id]
    with app.app_context():
        row = db.session.get(ErasureRequest, request_id)
        assert row.status == "completed" and row.completed_by_id is None and row.note_enc is None
        patient = db.session.get(Patient, patient_id)
        assert patient.erased_at is not None and patient.last_name == "patient"


def test_audit_events_of_the_erasure_carry_no_patient_values(app, client, bearer, patient_id):
    owner = bearer()
    _waiting_days(client, owner, 0)
    request = _request(client, owner, patient_id, reason="other", note="Nadia Quell moved to Perth").get_json()
    client.post(f"/api/v1/patients/{patient_id}/erasure/{request['id']}/carry-out", headers=owner)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("erasure.%"))).all()
        assert {e.action for e in events} == {"erasure.requested", "erasure.completed"}
        everything = repr([(e.details, e.target_id) for e in db.session.scalars(select(AuditEvent)).all()])
        for value in ("Nadia", "Quell", "nadia.quell", "Private words", "Perth"):
            assert value not in everything
        checked, problems = audit.verify_chains()
        assert checked > 0
        assert problems == []


def test_the_owner_pages_request_cancel_and_carry_out(app, login_as, patient_id):
    owner = login_as("owner")
    record = owner.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "Erase patient…" in record
    assert "Erase patient…" not in login_as("admin").get(f"/patients/{patient_id}").get_data(as_text=True)
    page = owner.get(f"/patients/{patient_id}/erasure")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "data-export-first" in html and "data-inventory-keep" in html
    token = csrf_from(html)
    wrong = owner.post(
        f"/patients/{patient_id}/erasure", data={"csrf_token": token, "reason": "patient_request", "confirm_name": "x"}
    )
    assert wrong.status_code == 422 and "Type the patient" in wrong.get_data(as_text=True)
    fragment = owner.get(f"/patients/{patient_id}/erasure", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "data-erasure-form" in fragment
    settings = owner.post("/settings/privacy", data={"csrf_token": token, "erasure_waiting_days": "0"})
    assert settings.status_code == 303
    asked = owner.post(
        f"/patients/{patient_id}/erasure",
        data={"csrf_token": token, "reason": "patient_request", "confirm_name": "Nadia Quell"},
    )
    assert asked.status_code == 303
    waiting = owner.get(f"/patients/{patient_id}/erasure").get_data(as_text=True)
    assert "data-erasure-waiting" in waiting and "data-carry-out" in waiting and "data-cancel-erasure" in waiting
    assert "Erasure requested…" in owner.get(f"/patients/{patient_id}").get_data(as_text=True)
    with app.app_context():
        request_id = erasure.waiting_request(_org(patient_id), patient_id).id
    done = owner.post(f"/patients/{patient_id}/erasure/{request_id}/carry-out", data={"csrf_token": token})
    assert done.status_code == 303
    gone = owner.get(f"/patients/{patient_id}")
    assert gone.status_code == 410 and "erased" in gone.get_data(as_text=True)
    after = owner.get(f"/patients/{patient_id}/erasure").get_data(as_text=True)
    assert "data-erased" in after and "data-kept" in after
    denied = login_as("admin").get(f"/patients/{patient_id}/erasure")
    assert denied.status_code == 403
    assert login_as("outsider").get(f"/patients/{patient_id}/erasure").status_code == 404


def _org(patient_id):
    return db.session.get(Patient, patient_id).organization_id


def test_the_tombstone_keeps_no_values_and_the_clock_skips_cancelled_requests(app, tenants, patient_id):
    owner = audit.Actor(user_id=tenants.user("owner").id)
    with app.app_context():
        request = erasure.request_erasure(
            tenants.a.id, patient_id, reason="patient_request", note=None, confirm_name="Nadia Quell", actor=owner
        )
        erasure.cancel_erasure(tenants.a.id, request.id, actor=owner)
        db.session.commit()
    with app.app_context():
        assert erasure.carry_out_due_erasures(utcnow() + timedelta(days=60))["due"] == 0
        assert db.session.get(Patient, patient_id).erased_at is None


def test_the_privacy_settings_page_is_the_owners(app, tenants, login_as):
    owner = login_as("owner")
    page = owner.get("/settings/privacy")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="erasure_waiting_days"' in html and 'value="30"' in html
    token = csrf_from(html)
    bad = owner.post("/settings/privacy", data={"csrf_token": token, "erasure_waiting_days": "120"})
    assert bad.status_code == 422 and "0 to 90 days" in bad.get_data(as_text=True)
    saved = owner.post(
        "/settings/privacy", data={"csrf_token": token, "erasure_waiting_days": "14", "consent_at_intake": "treatment"}
    )
    assert saved.status_code == 303
    with app.app_context():
        settings = erasure.privacy.privacy_settings(tenants.a.id)
        assert (settings.erasure_waiting_days, settings.consent_at_intake) == (14, ("treatment",))
    for role in ("admin", "clinician", "receptionist"):
        assert login_as(role).get("/settings/privacy").status_code == 403


def test_the_consent_and_erasure_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    expected = {
        ("/api/v1/patients/{patient_id}/consents", "get", "patients:read"),
        ("/api/v1/patients/{patient_id}/consents", "post", "patients:consent"),
        ("/api/v1/patients/{patient_id}/consents/{consent_id}/withdraw", "post", "patients:consent"),
        ("/api/v1/patients/{patient_id}/erasure/inventory", "get", "patients:erase"),
        ("/api/v1/patients/{patient_id}/erasure", "get", "patients:erase"),
        ("/api/v1/patients/{patient_id}/erasure", "post", "patients:erase"),
        ("/api/v1/patients/{patient_id}/erasure/{request_id}/cancel", "post", "patients:erase"),
        ("/api/v1/patients/{patient_id}/erasure/{request_id}/carry-out", "post", "patients:erase"),
        ("/api/v1/organization/privacy", "get", "patients:erase"),
        ("/api/v1/organization/privacy", "put", "patients:erase"),
    }
    found = {(path, method, paths[path][method].get("x-permission")) for path, method, _ in expected if path in paths}
    assert found == expected
