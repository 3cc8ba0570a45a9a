"""The job pages: start the demonstration job, watch its progress, cancel it — within one's own
organization only."""

import re

import pytest
from sqlalchemy import select

from clinic_app.core import jobs
from clinic_app.extensions import db
from tests.factories import api_token_for, page_csrf


@pytest.fixture
def admin(login_as):
    return login_as("admin")


def make_job(app, organization_id, **fields):
    with app.app_context():
        job = jobs.Job(kind="demo.countdown", organization_id=organization_id, params={}, **fields)
        db.session.add(job)
        db.session.commit()
        return job.id


def test_demo_page_full_and_fragment(admin):
    page = admin.get("/jobs/demo").get_data(as_text=True)
    assert "<html" in page and 'id="demo-form"' in page
    fragment = admin.get("/jobs/demo", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="demo-form"' in fragment


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/jobs/demo")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/jobs/demo"


def test_form_without_csrf_token_is_refused(admin, app):
    response = admin.post("/jobs/demo", data={"steps": 1, "delay_seconds": 0})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(jobs.Job)).all() == []


def test_starting_a_job_from_the_page_with_htmx_returns_the_progress_fragment(admin, app, tenants):
    token = page_csrf(admin, "/jobs/demo")
    response = admin.post(
        "/jobs/demo", data={"steps": 2, "delay_seconds": 0}, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and "<progress" in html
    with app.app_context():
        job = db.session.scalars(select(jobs.Job)).one()
        assert job.kind == "demo.countdown"
        assert job.organization_id == tenants.a.id
        assert job.created_by_id == tenants.user("admin").id
        assert job.status == jobs.SUCCEEDED  # eager backend in tests
    detail = admin.get(f"/jobs/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'value="100"' in detail and "succeeded" in detail
    assert "every 1s" not in detail  # finished jobs stop polling


def test_unfinished_job_fragment_polls(admin, app, tenants):
    job_id = make_job(app, tenants.a.id, status=jobs.RUNNING, progress=40)
    html = admin.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html and 'value="40"' in html


def test_another_organizations_job_is_not_found(app, tenants, login_as):
    job_id = make_job(app, tenants.a.id, status=jobs.RUNNING)
    outsider = login_as("outsider")
    assert outsider.get(f"/jobs/{job_id}").status_code == 404
    token = page_csrf(outsider, "/account")
    assert outsider.post(f"/jobs/{job_id}/cancel", headers={"X-CSRFToken": token}).status_code == 404
    with app.app_context():
        assert db.session.get(jobs.Job, job_id).cancel_requested is False


def test_receptionist_can_watch_but_not_start_jobs(login_as):
    receptionist = login_as("receptionist")
    assert receptionist.get("/jobs/demo").status_code == 200
    token = page_csrf(receptionist, "/jobs/demo")
    response = receptionist.post("/jobs/demo", data={"steps": 1, "delay_seconds": 0, "csrf_token": token})
    assert response.status_code == 403


def test_invalid_form_re_renders_with_field_messages(admin):
    token = page_csrf(admin, "/jobs/demo")
    response = admin.post("/jobs/demo", data={"steps": 500, "delay_seconds": 0, "csrf_token": token})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Number must be between 1 and 50" in html
    assert 'aria-invalid="true"' in html


def test_non_htmx_start_redirects_to_the_job_page(admin):
    token = page_csrf(admin, "/jobs/demo")
    response = admin.post("/jobs/demo", data={"steps": 1, "delay_seconds": 0, "csrf_token": token})
    assert response.status_code == 303
    assert re.match(r"^/jobs/job_[A-Za-z0-9]{22}$", response.headers["Location"])


def test_cancel_a_queued_job(admin, app, tenants):
    job_id = make_job(app, tenants.a.id, status=jobs.QUEUED)
    token = page_csrf(admin, "/jobs/demo")
    response = admin.post(f"/jobs/{job_id}/cancel", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert "cancelled" in response.get_data(as_text=True)
    again = admin.post(f"/jobs/{job_id}/cancel", headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert again.status_code == 409


def test_job_api_with_an_organization_token(client, app, tenants):
    token = api_token_for(app, tenants.a.id, ["jobs:run", "jobs:read"], creator=tenants.user("owner"))
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/v1/jobs/demo", json={"steps": 1, "delay_seconds": 0}, headers=headers)
    assert response.status_code == 202
    job = response.get_json()
    assert job["id"].startswith("job_") and job["status"] == "queued"
    body = client.get(f"/api/v1/jobs/{job['id']}", headers=headers).get_json()
    assert body["status"] == "succeeded" and body["progress"] == 100
    assert client.get("/api/v1/jobs/job_nonexistent", headers=headers).status_code == 404
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 401


def test_job_api_token_of_another_organization_gets_404(client, app, tenants):
    job_id = make_job(app, tenants.a.id, status=jobs.RUNNING)
    other = api_token_for(app, tenants.b.id, ["jobs:read"], creator=tenants.outsider)
    response = client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 404
    assert "RUNNING" not in response.get_data(as_text=True).upper().replace("NOT FOUND", "")
