"""/api/v1/reengagement/{organization_id}/...: the documented fields for an authorised client, 401
without credentials, 404 for another organization or its patient, 422 for a bad outcome, and every
endpoint in the OpenAPI document."""

from datetime import timedelta

import pytest

from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.figures import service as figures
from tests.engagement.conftest import days_ago, make_appointment, make_patient
from tests.factories import access_token_for, api_token_for

DAY = timedelta(days=1)
ENDPOINTS = [
    ("GET", "/api/v1/reengagement/{organization_id}/risk-metrics"),
    ("GET", "/api/v1/reengagement/{organization_id}/prioritized"),
    ("GET", "/api/v1/reengagement/{organization_id}/dashboard-summary"),
    ("GET", "/api/v1/reengagement/{organization_id}/patient/{patient_id}/details"),
    ("POST", "/api/v1/reengagement/{organization_id}/patient/{patient_id}/contact"),
]


@pytest.fixture
def people(app, tenants):
    with app.app_context():
        org, now = tenants.a.id, utcnow()
        made = {}
        for first, days, no_shows in (("Ada", 120, 0), ("Bo", 45, 2), ("Cy", 5, 0)):
            patient = make_patient(org, first, "Testperson", registered=now - 400 * DAY)
            make_appointment(org, patient, days_ago(org, days, now))
            for index in range(no_shows):
                make_appointment(org, patient, days_ago(org, index + 2, now), did_not_arrive=True)
            made[first] = patient.id
        cy = db.session.get(type(patient), made["Cy"])
        make_appointment(org, cy, days_ago(org, -3, now))
        figures.recompute(org, now=now)
        db.session.commit()
        return made


def bearer(app, user):
    return {"Authorization": f"Bearer {access_token_for(app, user)}"}


def test_risk_metrics(app, client, tenants, people):
    body = client.get(
        f"/api/v1/reengagement/{tenants.a.id}/risk-metrics", headers=bearer(app, tenants.user("clinician"))
    ).get_json()
    assert body["organization_id"] == tenants.a.id and body["timestamp"].endswith("Z")
    assert body["total_patients"] == 3 and body["patients_with_history"] == 3
    assert body["risk_levels"] == {"high": 1, "medium": 1, "low": 1}
    assert body["action_priorities"] == {"priority_1": 1, "priority_2": 1, "priority_3": 0, "priority_4": 1}
    # Attended 3 (Ada's is outside 90 days: Bo 1, Cy 1... and Bo's 2 no-shows): 2 of 4.
    assert (body["attended_90_days"], body["did_not_arrive_90_days"], body["late_cancelled_90_days"]) == (2, 2, 0)
    assert body["missed_90_days"] == 2 and body["attendance_rate_90_days"] == 0.5
    assert isinstance(body["average_risk_score"], float)


def test_prioritized_pages_with_limit_and_offset(app, client, tenants, people):
    headers = bearer(app, tenants.user("receptionist"))
    base = f"/api/v1/reengagement/{tenants.a.id}/prioritized"
    body = client.get(base, headers=headers).get_json()
    assert [p["patient_id"] for p in body["patients"]] == [people["Ada"], people["Bo"]]
    assert (body["total_count"], body["has_more"], body["risk"], body["limit"], body["offset"]) == (
        2,
        False,
        "at_risk",
        50,
        0,
    )
    ada = body["patients"][0]
    assert ada["name"] == "Ada Testperson" and ada["risk_level"] == "high" and ada["action_priority"] == 1
    assert ada["days_since_last_contact"] == 120 and ada["last_appointment_date"].endswith("Z")
    assert ada["reasons"] and "more than 90 days" in ada["reasons"][0]
    assert set(ada) >= {"risk_score", "attendance_rate", "next_appointment_time", "total_appointment_count"}
    page = client.get(f"{base}?risk=all&limit=1&offset=1", headers=headers).get_json()
    assert [p["patient_id"] for p in page["patients"]] == [people["Bo"]] and page["has_more"] is True
    assert page["total_count"] == 3
    bad = client.get(f"{base}?limit=0&risk=purple", headers=headers)
    assert bad.status_code == 422 and {e["field"] for e in bad.get_json()["errors"]} == {"limit", "risk"}


def test_dashboard_summary_counts_contacts(app, client, tenants, people):
    headers = bearer(app, tenants.user("clinician"))
    base = f"/api/v1/reengagement/{tenants.a.id}"
    posted = client.post(f"{base}/patient/{people['Bo']}/contact", json={"outcome": "no_answer"}, headers=headers)
    assert posted.status_code == 201
    body = client.get(f"{base}/dashboard-summary", headers=headers).get_json()
    assert (body["to_contact"], body["hidden_by_contact"], body["contacted_last_7_days"]) == (1, 1, 1)
    assert body["outcomes_last_7_days"]["no_answer"] == 1 and body["outcomes_last_7_days"]["left_message"] == 0
    assert body["risk_levels"] == {"high": 1, "medium": 1, "low": 1}


def test_record_contact_and_details(app, client, tenants, people):
    headers = bearer(app, tenants.user("clinician"))
    base = f"/api/v1/reengagement/{tenants.a.id}/patient/{people['Ada']}"
    posted = client.post(f"{base}/contact", json={"outcome": "left_message", "note": "Voicemail"}, headers=headers)
    body = posted.get_json()
    assert posted.status_code == 201 and body["on_worklist"] is False
    assert body["contact"]["outcome"] == "left_message" and body["contact"]["note"] == "Voicemail"
    assert body["contact"]["contacted_by"] == tenants.user("clinician").id
    details = client.get(f"{base}/details", headers=headers).get_json()
    assert details["risk_level"] == "high" and details["on_worklist"] is False
    assert details["contacted_at"].endswith("Z") and details["activity_status"] == "inactive"
    assert [c["note"] for c in details["contact_history"]] == ["Voicemail"]
    assert details["days_since_last_contact"] == 120 and details["total_appointment_count"] == 1
    bad = client.post(f"{base}/contact", json={"outcome": "teleported"}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "outcome"


def test_api_token_with_scopes(app, client, tenants, people):
    token = api_token_for(app, tenants.a.id, ["dashboard:read"], creator=tenants.user("owner"))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/reengagement/{tenants.a.id}/prioritized", headers=headers).status_code == 200
    refused = client.post(
        f"/api/v1/reengagement/{tenants.a.id}/patient/{people['Ada']}/contact",
        json={"outcome": "no_answer"},
        headers=headers,
    )
    assert refused.status_code == 403


@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_unauthenticated_and_other_organizations(app, client, tenants, people, method, template):
    body = {"json": {"outcome": "no_answer"}} if method == "POST" else {}
    mine = template.format(organization_id=tenants.a.id, patient_id=people["Ada"])
    assert client.open(mine, method=method, **body).status_code == 401
    outsider = bearer(app, tenants.outsider)
    assert client.open(mine, method=method, headers=outsider, **body).status_code == 404
    if "{patient_id}" in template:  # their own organization, our patient
        theirs = template.format(organization_id=tenants.b.id, patient_id=people["Ada"])
        assert client.open(theirs, method=method, headers=outsider, **body).status_code == 404


def test_every_endpoint_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for method, template in ENDPOINTS:
        assert method.lower() in paths[template]


@pytest.fixture
def crowd(app, tenants):
    """In organization A: five high-risk patients, two medium ones and one booked."""
    with app.app_context():
        org, now = tenants.a.id, utcnow()
        for index, days in enumerate((91, 95, 95, 130, 200, 65, 70, 5)):
            patient = make_patient(org, f"P{index}", "Crowd", registered=now - 400 * DAY)
            make_appointment(org, patient, days_ago(org, days, now))
            if days == 5:
                make_appointment(org, patient, days_ago(org, -3, now))
        figures.recompute(org, now=now)
        db.session.commit()


def ids(body):
    return [p["patient_id"] for p in body["patients"]]


@pytest.mark.parametrize(("risk", "pages"), [("at_risk", 4), ("high", 3), ("all", 4)])
def test_prioritized_pages_forward_and_back_with_cursors(app, client, tenants, crowd, risk, pages):
    headers = bearer(app, tenants.user("clinician"))
    base = f"/api/v1/reengagement/{tenants.a.id}/prioritized?risk={risk}&limit=2"
    everyone = ids(
        client.get(f"/api/v1/reengagement/{tenants.a.id}/prioritized?risk={risk}", headers=headers).get_json()
    )
    forward = [client.get(base, headers=headers).get_json()]
    while forward[-1]["next_cursor"] is not None:
        forward.append(client.get(f"{base}&cursor={forward[-1]['next_cursor']}", headers=headers).get_json())
    assert len(forward) == pages and [ids(body) for body in forward] == [
        everyone[i : i + 2] for i in range(0, len(everyone), 2)
    ]
    assert [body["has_more"] for body in forward] == [True] * (pages - 1) + [False]
    assert [body["prev_cursor"] is None for body in forward] == [True] + [False] * (pages - 1)
    assert {(body["total_count"], body["offset"], body["limit"]) for body in forward} == {(len(everyone), 0, 2)}

    back = [forward[2]]
    while back[0]["prev_cursor"] is not None:
        answer = client.get(f"{base}&before={back[0]['prev_cursor']}", headers=headers)
        assert answer.status_code == 200
        back.insert(0, answer.get_json())
    assert [ids(body) for body in back] == [ids(body) for body in forward[:3]]
    assert [body["next_cursor"] for body in back[:2]] == [body["next_cursor"] for body in forward[:2]]


def test_offset_answers_carry_cursors_too(app, client, tenants, crowd):
    headers = bearer(app, tenants.user("receptionist"))
    base = f"/api/v1/reengagement/{tenants.a.id}/prioritized?risk=all&limit=2"
    first, second, third = (client.get(f"{base}&offset={n}", headers=headers).get_json() for n in (0, 2, 4))
    assert first["prev_cursor"] is None and first["next_cursor"] is not None
    after = client.get(f"{base}&cursor={second['next_cursor']}", headers=headers).get_json()
    before = client.get(f"{base}&before={second['prev_cursor']}", headers=headers).get_json()
    assert ids(after) == ids(third) and ids(before) == ids(first)


def test_prioritized_refuses_bad_cursors(app, client, tenants, crowd):
    headers = bearer(app, tenants.user("clinician"))
    base = f"/api/v1/reengagement/{tenants.a.id}/prioritized?limit=2"
    cursor = client.get(base, headers=headers).get_json()["next_cursor"]
    for query, fields in (
        ("&cursor=bogus", {"cursor"}),
        ("&before=1.x.pat_1", {"before"}),
        (f"&cursor={cursor}&before={cursor}", {"before"}),
        (f"&cursor={cursor}&offset=2", {"offset"}),
    ):
        answer = client.get(base + query, headers=headers)
        assert answer.status_code == 422 and answer.mimetype == "application/problem+json", query
        assert {e["field"] for e in answer.get_json()["errors"]} == fields, query


def test_offsets_and_cursors_out_of_range_never_reach_the_database(app, client, tenants, crowd, login_as):
    """A number of any size used to go straight into OFFSET or a comparison (a 500 on SQLite)."""
    headers = bearer(app, tenants.user("clinician"))
    base = f"/api/v1/reengagement/{tenants.a.id}/prioritized?limit=2"
    for offset in ("1000001", "9" * 30):
        answer = client.get(f"{base}&offset={offset}", headers=headers)
        assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "offset"
    assert client.get(f"{base}&offset=1000000", headers=headers).get_json()["patients"] == []
    for cursor in ("9" * 30 + ".1.pat_x", "1." + "9" * 5000 + ".pat_x", "\u00b2.1.pat_x"):
        answer = client.get(base.split("?")[0], query_string={"limit": 2, "cursor": cursor}, headers=headers)
        assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "cursor", cursor[:20]
    page = login_as("clinician").get("/engagement", query_string={"cursor": "9" * 30 + ".1.pat_x"})
    assert page.status_code == 200  # the page starts from the first page instead


def test_the_cursor_parameters_are_in_the_openapi_document(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"][ENDPOINTS[1][1]]["get"]
    assert {"cursor", "before", "limit", "offset", "risk"} <= {p["name"] for p in operation["parameters"]}
