"""Platform operators: sign-in with a second factor, their pages and tokens, and that no
organization's records answer them (issue 20, Done-when 1)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from clinic_app.auth import operator_tokens
from clinic_app.core import jobs
from clinic_app.core.audit import AuditEvent
from clinic_app.core.errors import Conflict
from clinic_app.extensions import db
from tests.factories import csrf_from, sign_in
from tests.operators.conftest import OPERATOR_EMAIL, make_operator, operator_token
from tests.patients.conftest import register


def test_operator_without_a_second_factor_is_sent_to_set_one_up(app: Flask, tenants: Any) -> None:
    make_operator(app, with_totp=False)
    client = app.test_client()
    assert sign_in(client, OPERATOR_EMAIL).status_code == 303
    page = client.get("/operator/")
    assert page.status_code == 303 and page.headers["Location"].endswith("/account/security")
    api = client.get("/api/v1/admin/monitoring/system-health", headers={"Accept": "application/json"})
    assert api.status_code == 403 and api.get_json()["code"] == "mfa_enrolment_required"
    assert client.get("/account/security").status_code == 200  # where they set it up


def test_operator_signs_in_with_a_second_factor_and_sees_health_and_failed_jobs(
    app: Flask, tenants: Any, operator_client: FlaskClient
) -> None:
    with app.app_context():
        failed = jobs.Job(kind="reports.generate", organization_id=tenants.a.id, status=jobs.FAILED, params={})
        failed.error = "RuntimeError: boom"
        db.session.add(failed)
        db.session.commit()
        failed_id = failed.id
    page = operator_client.get("/operator/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "System health" in html and failed_id in html and "RuntimeError: boom" in html
    assert tenants.a.name not in html  # counts and ids only
    fragment = operator_client.get("/operator/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and failed_id in fragment
    orgs_page = operator_client.get("/operator/organizations").get_data(as_text=True)
    assert tenants.a.id in orgs_page and tenants.a.name not in orgs_page
    health = operator_client.get("/api/v1/admin/monitoring/system-health")
    assert health.status_code == 200 and health.get_json()["metrics"]["total_organizations"] == 2


def test_failed_job_retry_and_discard(app: Flask, tenants: Any, operator_client: FlaskClient) -> None:
    with app.app_context():
        rows = [
            jobs.Job(kind="audit.verify", organization_id=tenants.a.id, status=jobs.FAILED, params={}) for _ in "ab"
        ]
        db.session.add_all(rows)
        db.session.commit()
        retried, discarded = rows[0].id, rows[1].id
    token = _csrf(operator_client)
    assert operator_client.post(f"/operator/jobs/{retried}/retry", data={"csrf_token": token}).status_code == 303
    assert operator_client.post(f"/operator/jobs/{discarded}/discard", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        assert db.session.get(jobs.Job, discarded) is None
        assert db.session.get(jobs.Job, retried).status == jobs.CANCELLED
        again = db.session.scalars(select(jobs.Job).where(jobs.Job.id.notin_([retried]))).all()
        assert [j.kind for j in again] == ["audit.verify"]
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"operator.job_retried", "operator.job_discarded"} <= actions
    # a job that did not fail cannot be discarded
    again_id = again[0].id
    assert operator_client.post(f"/operator/jobs/{again_id}/discard", data={"csrf_token": token}).status_code == 409


def _csrf(client: FlaskClient) -> str:
    return csrf_from(client.get("/operator/").get_data(as_text=True))


def test_operator_sees_no_organization_record(app: Flask, tenants: Any, operator_client: FlaskClient) -> None:
    patient = register(app, tenants.a, first_name="Hidden", last_name="Person")
    for url in (
        f"/patients/{patient}",
        "/patients",
        "/reports",
        "/dashboard",
        f"/api/v1/patients/{patient}",
        "/api/v1/patients/active",
    ):
        answer = operator_client.get(url, headers={"X-Organization-ID": tenants.a.id})
        assert answer.status_code == 404, (url, answer.status_code)
        assert "Hidden" not in answer.get_data(as_text=True)


def test_members_and_outsiders_get_404_on_operator_routes(app: Flask, tenants: Any, login_as: Any) -> None:
    owner = login_as("owner")
    for url in ("/operator/", "/metrics", "/api/v1/admin/monitoring/system-health", "/api/v1/metrics/system"):
        assert owner.get(url).status_code == 404, url
    assert app.test_client().get("/api/v1/admin/monitoring/system-health").status_code == 401


def test_operator_token_reaches_monitoring_and_nothing_else(app: Flask, tenants: Any) -> None:
    plain = operator_token(app)
    assert plain.startswith("opt_")
    headers = {"Authorization": f"Bearer {plain}"}
    client = app.test_client()
    assert client.get("/api/v1/admin/monitoring/system-health", headers=headers).status_code == 200
    assert client.get("/metrics", headers=headers).status_code == 200
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 404
    assert (
        client.get("/api/v1/patients/active", headers={**headers, "X-Organization-ID": tenants.a.id}).status_code == 404
    )
    with app.app_context():
        stored = db.session.scalars(select(operator_tokens.OperatorToken)).one()
        assert plain not in (stored.secret_hash, stored.display_prefix)  # hashed at rest
        operator_tokens.revoke_operator_token(stored.id, actor=operator_tokens.audit.Actor())
        db.session.commit()
    assert client.get("/metrics", headers=headers).status_code == 401


def test_an_organization_member_cannot_become_an_operator(app: Flask, tenants: Any) -> None:
    with app.app_context():
        try:
            operator_tokens.make_operator(tenants.user("owner").email, None)
        except Conflict:
            pass
        else:
            raise AssertionError("a member was made an operator")


def test_create_operator_and_token_commands(app: Flask) -> None:
    runner = app.test_cli_runner()
    made = runner.invoke(args=["create-operator", "--email", "cli-ops@installation.example", "--name", "CLI Ops"])
    assert made.exit_code == 0, made.output
    assert "/set-password/" in made.output
    token = runner.invoke(args=["create-operator-token", "--name", "prometheus"])
    assert token.exit_code == 0 and " opt_" in token.output
    plain = token.output.split()[-1]
    assert app.test_client().get("/metrics", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    with app.app_context():
        user = operator_tokens.accounts.find_by_email("cli-ops@installation.example")
        assert user is not None and user.is_operator


def test_retention_page_counts_then_cleans_up(app: Flask, tenants: Any, operator_client: FlaskClient) -> None:
    with app.app_context():
        old = jobs.model.utcnow().replace(year=2000)
        db.session.add(
            jobs.Job(kind="audit.verify", organization_id=tenants.a.id, status=jobs.SUCCEEDED, finished_at=old)
        )
        db.session.commit()
    token = _csrf(operator_client)
    counted = operator_client.post("/operator/retention/run", data={"csrf_token": token, "apply": "0"})
    assert counted.status_code == 303
    page = operator_client.get("/operator/retention").get_data(as_text=True)
    assert "Would delete 1 finished background jobs" in page and "dry run" in page
    with app.app_context():
        assert db.session.scalars(select(jobs.Job)).all()  # nothing removed yet
    operator_client.post("/operator/retention/run", data={"csrf_token": token, "apply": "1", "days_old": "30"})
    with app.app_context():
        assert db.session.scalars(select(jobs.Job)).all() == []
    page = operator_client.get("/operator/retention").get_data(as_text=True)
    assert "removed" in page and "older than 30 days" in page
    bad = operator_client.post("/operator/retention/run", data={"csrf_token": token, "days_old": "lots"})
    assert bad.status_code == 422
