"""Who may see and do what: receptionists and practice admins get 404 for every report URL (the
page, its transcript, fragments, the API) exactly as for a report that does not exist; another
organization gets 404 for everything of ours, and its lists never show our reports; every view,
edit and signature is in the audit trail, with ids only."""

from __future__ import annotations

import pytest

from clinic_app.reports import templates_service
from tests.factories import PASSWORD, access_token_for, page_csrf
from tests.reports.conftest import HTMX, events


def report_urls(report_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/reports/{report_id}"),
        ("GET", f"/reports/{report_id}/progress"),
        ("GET", f"/reports/{report_id}/diff"),
        ("POST", f"/reports/{report_id}/sections"),
        ("POST", f"/reports/{report_id}/sign"),
        ("POST", f"/reports/{report_id}/amend"),
        ("POST", f"/reports/{report_id}/retry"),
        ("GET", f"/reports/{report_id}/pdf"),
        ("GET", f"/api/v1/reports/{report_id}"),
        ("PATCH", f"/api/v1/reports/{report_id}"),
        ("POST", f"/api/v1/reports/{report_id}/sign"),
        ("POST", f"/api/v1/reports/{report_id}/amend"),
    ]


def call(app, client, method, url, user):
    if url.startswith("/api/"):
        headers = {"Authorization": f"Bearer {access_token_for(app, user)}"}
        body = {"sections": {"plan": "x"}} if method == "PATCH" else {"password": PASSWORD}
        return client.open(url, method=method, json=body if method != "GET" else None, headers=headers)
    data = {"csrf_token": page_csrf(client, "/account"), "section": "plan", "text": "x", "password": PASSWORD}
    return client.open(url, method=method, data=data if method != "GET" else None)


@pytest.mark.parametrize("role", ["receptionist", "admin"])
def test_front_desk_and_practice_admins_get_404_for_every_report_url(app, tenants, login_as, report_id, role):
    client = login_as(role)
    for method, url in report_urls(report_id):
        response = call(app, client, method, url, tenants.user(role))
        assert response.status_code == 404, (method, url, response.status_code)
        assert "Okafor" not in response.get_data(as_text=True)
    for url in ("/reports", "/reports/templates", "/reports/new?session=x"):
        assert client.get(url).status_code == 404
    api = {"Authorization": f"Bearer {access_token_for(app, tenants.user(role))}"}
    assert client.get("/api/v1/reports/list", headers=api).status_code == 404
    assert client.get("/api/v1/reports/templates", headers=api).status_code == 404


def test_another_organization_gets_404_for_everything_of_ours(app, tenants, login_as, report_id, session_id):
    outsider = login_as("outsider")
    for method, url in report_urls(report_id):
        response = call(app, outsider, method, url, tenants.outsider)
        assert response.status_code == 404, (method, url, response.status_code)
        body = response.get_data(as_text=True)
        assert "Okafor" not in body and tenants.a.name not in body
    with app.app_context():
        template_id = templates_service.list_templates(tenants.a.id)[0].template.id
        from clinic_app.extensions import db

        db.session.commit()
    assert outsider.get(f"/reports/templates/{template_id}").status_code == 404
    assert outsider.get(f"/reports/new?session={session_id}").status_code == 404
    api = {"Authorization": f"Bearer {access_token_for(app, tenants.outsider)}"}
    put = outsider.put(
        f"/api/v1/reports/templates/{template_id}", json={"name": "x", "sections": [{"title": "A"}]}, headers=api
    )
    assert put.status_code == 404
    generate = outsider.post("/api/v1/reports/generate-session", json={"session_id": session_id}, headers=api)
    assert generate.status_code == 404
    # Their own lists are theirs alone.
    assert report_id not in outsider.get("/reports").get_data(as_text=True)
    assert outsider.get("/api/v1/reports/list", headers=api).get_json()["reports"] == []
    own = outsider.get("/api/v1/reports/templates", headers=api).get_json()["templates"]
    assert template_id not in {t["id"] for t in own} and len(own) == 2


def test_the_review_page_and_the_api_read_are_audited_without_content(app, tenants, login_as, report_id):
    clinician = login_as("clinician")
    clinician.get(f"/reports/{report_id}")
    token = access_token_for(app, tenants.user("clinician"))
    clinician.get(f"/api/v1/reports/{report_id}", headers={"Authorization": f"Bearer {token}"})
    viewed = events(app, "report.viewed")
    assert [e.details["channel"] for e in viewed] == ["web", "api"]
    assert {e.target_id for e in viewed} == {report_id}
    (transcript,) = events(app, "report.transcript_viewed")
    assert transcript.details["report_id"] == report_id and transcript.patient_id
    token_csrf = page_csrf(clinician, f"/reports/{report_id}")
    clinician.post(
        f"/reports/{report_id}/sections",
        data={"section": "plan", "text": "SENTINEL-PLAN-TEXT", "revision": "0", "csrf_token": token_csrf},
        headers=HTMX,
    )
    clinician.post(f"/reports/{report_id}/sign", data={"password": PASSWORD, "csrf_token": token_csrf})
    for action in ("report.generation_requested", "report.generated", "report.edited", "report.signed"):
        (event,) = events(app, action)
        assert event.target_id == report_id
    everything = str([e.details for e in events(app, "report.edited") + events(app, "report.signed")])
    assert "SENTINEL" not in everything and "Okafor" not in everything


def test_a_clinician_of_the_clinic_may_generate_review_and_sign(app, tenants, login_as, report_id):
    owner = login_as("owner")
    assert owner.get(f"/reports/{report_id}").status_code == 200
    html = owner.get("/reports/templates").get_data(as_text=True)
    assert "Mental-health consultation" in html and "Physiotherapy consultation" in html
