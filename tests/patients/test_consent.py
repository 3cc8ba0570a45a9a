"""Consent records (docs/patients.md, "Consent"): recorded and withdrawn by the front desk and
clinicians through the API and the record page, listed a page at a time, 404 to another
organization, 422 naming each bad field, withdrawn once; and intake refusing to register a patient
without the consents the organization requires (422 / a form message, nothing written)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.extensions import db
from clinic_app.patients import consent
from clinic_app.patients.models import ConsentRecord, Patient
from tests.factories import access_token_for, api_token_for, csrf_from, page_csrf
from tests.health_data.conftest import register_patient
from tests.intake.conftest import catalogue, fill_draft  # noqa: F401  (a fixture)
from tests.patients.test_erasure import erase_now

CONSENT = {"kind": "treatment", "text_version": "2026-01", "method": "written"}
INTAKE = {"first_name": "Ola", "last_name": "Berg", "presenting_problem": "Trouble sleeping for six weeks"}


@pytest.fixture
def patient_id(app, tenants):
    return register_patient(app, tenants.a, first_name="Ola", last_name="Berg")


@pytest.fixture
def bearer(app, tenants):
    def headers(role="receptionist"):
        user = tenants.outsider if role == "outsider" else tenants.user(role)
        return {"Authorization": f"Bearer {access_token_for(app, user)}"}

    return headers


def _require(app, tenants, *kinds):
    with app.app_context():
        owner = audit.Actor(user_id=tenants.user("owner").id)
        consent.set_privacy(tenants.a.id, erasure_waiting_days=None, consent_at_intake=list(kinds), actor=owner)
        db.session.commit()


@pytest.mark.parametrize("role", ["receptionist", "clinician", "admin", "owner"])
def test_staff_record_list_and_withdraw_a_consent(client, bearer, patient_id, role):
    headers = bearer(role)
    created = client.post(f"/api/v1/patients/{patient_id}/consents", json=CONSENT, headers=headers)
    assert created.status_code == 201, created.get_json()
    record = created.get_json()
    assert (record["kind"], record["text_version"], record["active"]) == ("treatment", "2026-01", True)
    listed = client.get(f"/api/v1/patients/{patient_id}/consents", headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [record["id"]] and listed["next_cursor"] is None
    withdraw = f"/api/v1/patients/{patient_id}/consents/{record['id']}/withdraw"
    withdrawn = client.post(withdraw, headers=headers)
    assert withdrawn.status_code == 200 and withdrawn.get_json()["active"] is False
    assert client.post(withdraw, headers=headers).status_code == 409


def test_bad_values_are_a_422_naming_each_field_and_nothing_is_written(app, client, bearer, patient_id):
    body = {"kind": "everything", "text_version": "v 1; drop", "method": "telepathy"}
    answer = client.post(f"/api/v1/patients/{patient_id}/consents", json=body, headers=bearer())
    assert answer.status_code == 422
    codes = {(e["field"], e["code"]) for e in answer.get_json()["errors"]}
    assert codes == {("kind", "UNKNOWN_KIND"), ("text_version", "INVALID_VERSION"), ("method", "UNKNOWN_METHOD")}
    with app.app_context():
        assert db.session.scalars(select(ConsentRecord)).all() == []


def test_another_organization_gets_404_and_a_read_only_token_403(app, client, bearer, tenants, patient_id):
    made = client.post(f"/api/v1/patients/{patient_id}/consents", json=CONSENT, headers=bearer()).get_json()
    outsider = bearer("outsider")
    assert client.get(f"/api/v1/patients/{patient_id}/consents", headers=outsider).status_code == 404
    assert client.post(f"/api/v1/patients/{patient_id}/consents", json=CONSENT, headers=outsider).status_code == 404
    withdraw = f"/api/v1/patients/{patient_id}/consents/{made['id']}/withdraw"
    assert client.post(withdraw, headers=outsider).status_code == 404
    token = api_token_for(app, tenants.a.id, ["patients:read"], creator=tenants.user("owner"))
    reader = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/patients/{patient_id}/consents", headers=reader).status_code == 200
    assert client.post(withdraw, headers=reader).status_code == 403
    with app.app_context():
        assert db.session.get(ConsentRecord, made["id"]).withdrawn_at is None


def test_the_list_pages_with_a_cursor(client, bearer, patient_id):
    for kind in ("treatment", "recording", "reminders"):
        client.post(f"/api/v1/patients/{patient_id}/consents", json={**CONSENT, "kind": kind}, headers=bearer())
    url = f"/api/v1/patients/{patient_id}/consents"
    first = client.get(f"{url}?limit=2", headers=bearer()).get_json()
    second = client.get(f"{url}?limit=2&cursor={first['next_cursor']}", headers=bearer()).get_json()
    kinds = [item["kind"] for item in first["items"] + second["items"]]
    assert sorted(kinds) == ["recording", "reminders", "treatment"] and second["next_cursor"] is None
    bad = client.get(f"{url}?cursor=bm90LWFuLWlk", headers=bearer())
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["code"] == "INVALID_CURSOR"
    assert client.get(f"{url}?limit=0", headers=bearer()).status_code == 422


def test_the_record_page_shows_records_and_withdraws_consents(app, login_as, patient_id):
    desk = login_as("receptionist")
    page = desk.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "data-no-consents" in page and "data-consent-form" in page
    token = csrf_from(page)
    assert desk.post(f"/patients/{patient_id}/consents", data={"csrf_token": token, **CONSENT}).status_code == 303
    bad = desk.post(f"/patients/{patient_id}/consents", data={"csrf_token": token, "kind": "x", "text_version": ""})
    assert bad.status_code == 422
    with app.app_context():
        (record,) = db.session.scalars(select(ConsentRecord)).all()
    page = desk.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert f'data-consent-id="{record.id}"' in page
    withdraw = f"/patients/{patient_id}/consents/{record.id}/withdraw"
    assert desk.post(withdraw, data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.get(ConsentRecord, record.id).withdrawn_at is not None
    outsider = login_as("outsider")
    assert outsider.post(withdraw, data={"csrf_token": page_csrf(outsider)}).status_code == 404


@pytest.mark.usefixtures("catalogue")
def test_intake_api_refuses_without_the_required_consents_and_records_them(app, client, bearer, tenants):
    _require(app, tenants, "treatment", "recording")
    refused = client.post("/api/v1/intake/patients", json=INTAKE, headers=bearer())
    assert refused.status_code == 422
    assert [(e["field"], e["code"]) for e in refused.get_json()["errors"]] == [("consents", "CONSENT_REQUIRED")]
    partial = client.post("/api/v1/intake/patients", json={**INTAKE, "consents": [CONSENT]}, headers=bearer())
    assert partial.status_code == 422 and "recording" in partial.get_json()["errors"][0]["message"]
    with app.app_context():
        assert db.session.scalars(select(Patient)).all() == []
    both = [CONSENT, {**CONSENT, "kind": "recording", "method": "verbal"}]
    created = client.post("/api/v1/intake/patients", json={**INTAKE, "consents": both}, headers=bearer())
    assert created.status_code == 201, created.get_json()
    patient_id = created.get_json()["data"]["patient_id"]
    with app.app_context():
        assert consent.current_kinds(tenants.a.id, patient_id) == {"treatment", "recording"}
    bad = client.post(
        "/api/v1/intake/patients", json={**INTAKE, "consents": [{**CONSENT, "kind": "nope"}]}, headers=bearer()
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "consents.0.kind"


@pytest.mark.usefixtures("catalogue")
def test_intake_review_page_asks_for_the_required_consents(app, tenants, login_as):
    _require(app, tenants, "treatment")
    desk = login_as("receptionist")
    draft_id = fill_draft(desk, app)
    review = desk.get(f"/intake/{draft_id}/review").get_data(as_text=True)
    assert "data-consents" in review
    token = csrf_from(review)
    refused = desk.post(f"/intake/{draft_id}/review", data={"csrf_token": token})
    assert refused.status_code == 422 and "data-consent-errors" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Patient)).all() == []
    done = desk.post(
        f"/intake/{draft_id}/review", data={"csrf_token": token, "consent": "treatment", "consent_text_version": "v3"}
    )
    assert done.status_code == 303
    patient_id = done.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        (record,) = db.session.scalars(select(ConsentRecord).where(ConsentRecord.patient_id == patient_id)).all()
        assert (record.kind, record.text_version) == ("treatment", "v3")


def test_an_erased_patient_takes_no_new_consent(app, client, bearer, tenants, patient_id):
    client.post(f"/api/v1/patients/{patient_id}/consents", json=CONSENT, headers=bearer())
    erase_now(app, tenants, patient_id)
    answer = client.post(f"/api/v1/patients/{patient_id}/consents", json=CONSENT, headers=bearer())
    assert answer.status_code == 410
    kept = client.get(f"/api/v1/patients/{patient_id}/consents", headers=bearer()).get_json()
    assert [item["kind"] for item in kept["items"]] == ["treatment"]  # kept as evidence
