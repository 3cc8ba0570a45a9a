"""The job page, its cancel button and GET /api/v1/jobs/<id>: a job is seen and cancelled only by
the people who may see and act on what it works on (the kind's permissions), within their own
organization; anyone else gets 404, as for a job that does not exist."""

import pytest
from sqlalchemy import select

from clinic_app.core import jobs
from clinic_app.core.permissions import PERMISSIONS
from clinic_app.extensions import db
from tests.factories import access_token_for, api_token_for, page_csrf

REPORT_KIND, SYNC_KIND, AUDIT_KIND, KEYS_KIND = "reports.generate", "sync.cliniko", "audit.verify", "keys.reencrypt"
HTMX = {"HX-Request": "true"}


def make_job(app, organization_id, kind=REPORT_KIND, **fields):
    fields.setdefault("status", jobs.RUNNING)
    fields.setdefault("params", {"report_id": "rep_matrixsecret"})
    with app.app_context():
        job = jobs.Job(kind=kind, organization_id=organization_id, **fields)
        db.session.add(job)
        db.session.commit()
        return job.id


def cancel_requested(app, job_id):
    with app.app_context():
        job = db.session.get(jobs.Job, job_id)
        return job.cancel_requested or job.status == jobs.CANCELLED


def post_cancel(client, job_id, **headers):
    return client.post(f"/jobs/{job_id}/cancel", headers={"X-CSRFToken": page_csrf(client), **headers})


# --- who sees what ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "sees", "hidden"),
    [
        (REPORT_KIND, ("owner", "clinician"), ("admin", "receptionist")),
        (SYNC_KIND, ("owner", "admin", "clinician"), ("receptionist",)),
        (AUDIT_KIND, ("owner", "admin"), ("clinician", "receptionist")),
        (KEYS_KIND, (), ("owner", "admin", "clinician", "receptionist")),
        ("no.such.kind", (), ("owner",)),
    ],
)
def test_a_job_is_seen_only_by_those_who_may_see_its_subject(app, tenants, login_as, kind, sees, hidden):
    job_id = make_job(app, tenants.a.id, kind)
    for role in sees:
        page = login_as(role).get(f"/jobs/{job_id}")
        assert page.status_code == 200, role
        assert job_id in page.get_data(as_text=True)
    for role in hidden:
        page = login_as(role).get(f"/jobs/{job_id}")
        assert page.status_code == 404, role
        assert kind not in page.get_data(as_text=True)


def test_a_receptionist_is_not_shown_a_report_jobs_kind_or_report_through_the_api(app, client, tenants):
    job_id = make_job(app, tenants.a.id)
    receptionist = {"Authorization": f"Bearer {access_token_for(app, tenants.user('receptionist'))}"}
    response = client.get(f"/api/v1/jobs/{job_id}", headers=receptionist)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert REPORT_KIND not in body and "rep_matrixsecret" not in body
    clinician = {"Authorization": f"Bearer {access_token_for(app, tenants.user('clinician'))}"}
    seen = client.get(f"/api/v1/jobs/{job_id}", headers=clinician)
    assert seen.status_code == 200
    assert seen.get_json()["kind"] == REPORT_KIND and seen.get_json()["status"] == "running"


def test_api_tokens_need_the_kinds_permission_as_well_as_jobs_read(app, client, tenants):
    job_id = make_job(app, tenants.a.id)
    owner = tenants.user("owner")
    only_jobs = api_token_for(app, tenants.a.id, ["jobs:read"], creator=owner)
    assert client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {only_jobs}"}).status_code == 404
    readers = api_token_for(app, tenants.a.id, ["jobs:read", "clinical:read"], creator=owner)
    answer = client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {readers}"})
    assert answer.status_code == 200 and answer.get_json()["id"] == job_id
    no_jobs = api_token_for(app, tenants.a.id, ["clinical:read"], creator=owner)
    assert client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {no_jobs}"}).status_code == 403


def test_another_organizations_job_is_not_found(app, client, tenants, login_as):
    job_id = make_job(app, tenants.a.id, SYNC_KIND)
    outsider = login_as("outsider")  # the owner of B: every permission, in B
    assert outsider.get(f"/jobs/{job_id}").status_code == 404
    assert post_cancel(outsider, job_id).status_code == 404
    assert not cancel_requested(app, job_id)
    token = api_token_for(app, tenants.b.id, ["jobs:read", "sync:read"], creator=tenants.outsider)
    response = client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404 and SYNC_KIND not in response.get_data(as_text=True)


def test_a_system_job_is_not_shown_even_to_the_owner(app, client, tenants, login_as):
    job_id = make_job(app, None, KEYS_KIND, params={})
    owner = login_as("owner")
    assert owner.get(f"/jobs/{job_id}").status_code == 404
    token = api_token_for(app, tenants.a.id, list(PERMISSIONS), creator=tenants.user("owner"))
    assert client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}).status_code == 404


# --- who cancels what -------------------------------------------------------------------------


def test_a_practice_admin_cannot_cancel_a_clinicians_report_generation(app, tenants, login_as):
    job_id = make_job(app, tenants.a.id, created_by_id=tenants.user("clinician").id)
    response = post_cancel(login_as("admin"), job_id)
    assert response.status_code == 404
    assert not cancel_requested(app, job_id)


def test_a_clinician_cancels_report_generation(app, tenants, login_as):
    job_id = make_job(app, tenants.a.id, status=jobs.QUEUED)
    response = post_cancel(login_as("clinician"), job_id, **HTMX)
    assert response.status_code == 200 and "cancelled" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(jobs.Job, job_id).status == jobs.CANCELLED
    again = post_cancel(login_as("clinician"), job_id, Accept="application/json")
    assert again.status_code == 409


def test_a_clinician_watches_a_sync_but_may_not_cancel_it(app, tenants, login_as):
    job_id = make_job(app, tenants.a.id, SYNC_KIND)
    clinician = login_as("clinician")
    fragment = clinician.get(f"/jobs/{job_id}", headers=HTMX).get_data(as_text=True)
    assert 'value="0"' in fragment and f"/jobs/{job_id}/cancel" not in fragment  # no cancel button
    response = post_cancel(clinician, job_id, Accept="application/json")
    assert response.status_code == 403
    assert not cancel_requested(app, job_id)
    admin = login_as("admin")
    assert f"/jobs/{job_id}/cancel" in admin.get(f"/jobs/{job_id}", headers=HTMX).get_data(as_text=True)
    assert post_cancel(admin, job_id).status_code == 303
    assert cancel_requested(app, job_id)


def test_audit_verification_is_cancelled_by_audit_readers_only(app, tenants, login_as):
    job_id = make_job(app, tenants.a.id, AUDIT_KIND, params={})
    assert post_cancel(login_as("clinician"), job_id).status_code == 404
    assert not cancel_requested(app, job_id)
    assert post_cancel(login_as("admin"), job_id).status_code == 303
    assert cancel_requested(app, job_id)


def test_without_a_csrf_token_nothing_is_cancelled(app, tenants, login_as):
    job_id = make_job(app, tenants.a.id, SYNC_KIND)
    assert login_as("admin").post(f"/jobs/{job_id}/cancel").status_code == 400
    assert not cancel_requested(app, job_id)


# --- the page ---------------------------------------------------------------------------------


def test_page_full_fragment_and_polling(app, tenants, login_as):
    job_id = make_job(app, tenants.a.id, progress=40)
    clinician = login_as("clinician")
    page = clinician.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "<html" in page and 'value="40"' in page
    fragment = clinician.get(f"/jobs/{job_id}", headers=HTMX).get_data(as_text=True)
    assert "<html" not in fragment and 'hx-trigger="every 1s"' in fragment
    with app.app_context():
        job = db.session.get(jobs.Job, job_id)
        job.status, job.progress = jobs.SUCCEEDED, 100
        db.session.commit()
    finished = clinician.get(f"/jobs/{job_id}", headers=HTMX).get_data(as_text=True)
    assert 'value="100"' in finished and "every 1s" not in finished  # finished jobs stop polling


def test_anonymous_is_sent_to_sign_in(app, client, tenants):
    job_id = make_job(app, tenants.a.id)
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/login?next=/jobs/{job_id}"
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401


def test_the_demonstration_job_is_gone(app, client, tenants, login_as):
    assert "jobs:run" not in PERMISSIONS
    assert "demo.countdown" not in jobs.registered_kinds(app)
    admin = login_as("admin")
    assert admin.get("/jobs/demo").status_code == 404  # just an id that is no job
    token = api_token_for(app, tenants.a.id, ["jobs:read"], creator=tenants.user("owner"))
    response = client.post("/api/v1/jobs/demo", json={"steps": 1}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405
    with app.app_context():
        assert db.session.scalars(select(jobs.Job)).all() == []
