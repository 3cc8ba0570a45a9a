"""Registering and archiving patients in the app move the dashboard's figures at once: the clock
is frozen, so a figure that only moved when its snapshot aged (or at the next sync or booking)
would still show the old number."""

import re

import pytest

from tests.factories import access_token_for, page_csrf

ROW = re.compile(r'<tr[^>]*\bdata-patient-id="([^"]+)"')


@pytest.fixture
def headers(app, tenants, clinic):
    return {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}"}


def _summary(client, tenants, headers):
    response = client.get(f"/api/v1/dashboard/{tenants.a.id}/summary", headers=headers)
    assert response.status_code == 200
    return response.get_json()["summary"]


def _shown(summary, expected):
    return {name: summary[name] for name in expected}


def test_archiving_an_active_patient_leaves_the_figures_at_once(client, tenants, headers, counted, login_as):
    before = _summary(client, tenants, headers)  # the snapshot is computed and stored now
    counted_before = counted(tenants.a.id)
    assert _shown(before, counted_before.summary) == counted_before.summary
    clinician = login_as("clinician")
    listed = ROW.findall(clinician.get("/caseload/active").get_data(as_text=True))
    patient_id = next(id_ for id_ in listed if id_ in counted_before.ids["active_patients"])

    front_desk = login_as("receptionist")
    token = page_csrf(front_desk, f"/patients/{patient_id}")
    archived = front_desk.post(f"/patients/{patient_id}/archive", data={"csrf_token": token, "confirmed": "yes"})
    assert archived.status_code == 303

    after = _summary(client, tenants, headers)
    counted_after = counted(tenants.a.id)
    assert patient_id not in counted_after.ids["active_patients"]
    assert after["active_patients"] == before["active_patients"] - 1
    assert after["total_patients"] == before["total_patients"] - 1
    assert _shown(after, counted_after.summary) == counted_after.summary
    # The Active patients page (stored figures) no longer lists them either.
    assert patient_id not in ROW.findall(clinician.get("/caseload/active").get_data(as_text=True))

    restored = front_desk.post(f"/patients/{patient_id}/unarchive", data={"csrf_token": token, "confirmed": "yes"})
    assert restored.status_code == 303
    assert _shown(_summary(client, tenants, headers), counted_before.summary) == counted_before.summary


def test_a_registered_patient_counts_at_once(client, tenants, headers, counted):
    before = _summary(client, tenants, headers)
    created = client.post(
        "/api/v1/patients/create", json={"first_name": "Nova", "last_name": "Arrival"}, headers=headers
    )
    assert created.status_code == 201

    after = _summary(client, tenants, headers)
    expected = counted(tenants.a.id)
    assert created.get_json()["id"] in expected.ids["total_patients"]
    assert after["total_patients"] == before["total_patients"] + 1
    assert _shown(after, expected.summary) == expected.summary
