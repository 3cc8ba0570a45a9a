"""The job pages: start the demonstration job, watch its progress, cancel it."""

import re

from sqlalchemy import select

from clinic_app.core import jobs
from clinic_app.extensions import db


def csrf_token(client, path="/jobs/demo"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_demo_page_full_and_fragment(client):
    page = client.get("/jobs/demo").get_data(as_text=True)
    assert "<html" in page and 'id="demo-form"' in page
    fragment = client.get("/jobs/demo", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="demo-form"' in fragment


def test_form_without_csrf_token_is_refused(client, app):
    response = client.post("/jobs/demo", data={"steps": 1, "delay_seconds": 0})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(jobs.Job)).all() == []


def test_starting_a_job_from_the_page_with_htmx_returns_the_progress_fragment(client, app):
    token = csrf_token(client)
    response = client.post(
        "/jobs/demo",
        data={"steps": 2, "delay_seconds": 0},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and "<progress" in html
    with app.app_context():
        job = db.session.scalars(select(jobs.Job)).one()
        assert job.kind == "demo.countdown"
        assert job.status == jobs.SUCCEEDED  # eager backend in tests
    detail = client.get(f"/jobs/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'value="100"' in detail and "succeeded" in detail
    assert "every 1s" not in detail  # finished jobs stop polling


def test_unfinished_job_fragment_polls(client, app):
    with app.app_context():
        job = jobs.Job(kind="demo.countdown", status=jobs.RUNNING, progress=40, params={})
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    html = client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html and 'value="40"' in html


def test_invalid_form_re_renders_with_field_messages(client):
    token = csrf_token(client)
    response = client.post("/jobs/demo", data={"steps": 500, "delay_seconds": 0, "csrf_token": token})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Number must be between 1 and 50" in html
    assert 'aria-invalid="true"' in html


def test_non_htmx_start_redirects_to_the_job_page(client):
    token = csrf_token(client)
    response = client.post("/jobs/demo", data={"steps": 1, "delay_seconds": 0, "csrf_token": token})
    assert response.status_code == 303
    assert re.match(r"^/jobs/job_[A-Za-z0-9]{22}$", response.headers["Location"])


def test_cancel_a_queued_job(client, app):
    with app.app_context():
        job = jobs.Job(kind="demo.countdown", status=jobs.QUEUED, params={})
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    token = csrf_token(client)
    response = client.post(f"/jobs/{job_id}/cancel", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert "cancelled" in response.get_data(as_text=True)
    again = client.post(f"/jobs/{job_id}/cancel", headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert again.status_code == 409


def test_job_api(client):
    response = client.post("/api/v1/jobs/demo", json={"steps": 1, "delay_seconds": 0})
    assert response.status_code == 202
    job = response.get_json()
    assert job["id"].startswith("job_") and job["status"] == "queued"
    body = client.get(f"/api/v1/jobs/{job['id']}").get_json()
    assert body["status"] == "succeeded" and body["progress"] == 100
    assert client.get("/api/v1/jobs/job_nonexistent").status_code == 404
