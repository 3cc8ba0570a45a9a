"""Every route x every kind of caller gets the outcome its declared policy promises.

The routes are read from the app's URL map at collection time, so a new route is covered without
anyone remembering to add it here; a route with no policy fails ``test_every_route_declares...``
in tests/core/test_access.py and is refused at request time.

Callers: anonymous; the owner of another organization (B); a platform operator (outside every
organization: a browser session with two-factor sign-in, an ``opt_…`` token on the API); each role
of organization A. Browser routes are called with a signed-in session, API routes with a bearer
access token. Path parameters
are filled with real ids of organization A's records, so the outsider is asking for A's things.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from werkzeug.routing import Rule

from clinic_app import create_app
from clinic_app.auth.identity import ENROLMENT_ENDPOINTS
from clinic_app.core import jobs
from clinic_app.core.access import Policy, policy_for
from clinic_app.core.permissions import ROLES, role_grants
from clinic_app.extensions import db
from tests.factories import access_token_for, api_token_for, make_user, sign_in
from tests.operators.conftest import make_operator, operator_token, sign_in_operator

ACTORS = ("anonymous", "outsider", "operator", *ROLES)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _collect() -> list[tuple[str, str, str]]:
    app = create_app({"APP_ENV": "test", "INSTANCE_PATH": tempfile.mkdtemp(), "DATABASE_URL": "sqlite://"})
    cases = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            cases.append((rule.rule, method, rule.endpoint))
    return sorted(cases)


CASES = _collect()


def _records(app: Any, tenants: Any) -> dict[str, str]:
    """Ids of organization A's records, by the path parameter names routes use."""
    with app.app_context():
        target = make_user("target@harbour.example", organization_id=tenants.a.id, role="receptionist")
        from clinic_app.orgs.service import active_membership

        membership = active_membership(target.id, tenants.a.id)
        job = jobs.Job(kind="reports.generate", organization_id=tenants.a.id, status=jobs.RUNNING, params={})
        db.session.add(job)
        from clinic_app.core.audit import Actor
        from clinic_app.patients import service as patients

        record = patients.validate_for(tenants.a.id, {"first_name": "Matrix", "last_name": "Patient"})
        patient = patients.create_patient(tenants.a.id, record, actor=Actor())
        from clinic_app.intake import service as intake

        draft = intake.start_draft(tenants.a.id, actor=Actor())
        from clinic_app.sync.models import SyncRun

        # A finished sync of A; A is not connected to Cliniko, so nothing here reaches out.
        sync_run = SyncRun(organization_id=tenants.a.id, mode="comprehensive", status="failed", steps=["patients"])
        db.session.add(sync_run)
        db.session.commit()
        values = {
            "organization_id": tenants.a.id,
            "job_id": job.id,
            "membership_id": membership.id,
            "member_id": membership.id,
            "user_id": target.id,
            "filename": "css/app.css",
            "secret": "not-a-real-secret",
            "patient_id": patient.id,
            "draft_id": draft.id,
            "step": "demographics",
            "sync_id": sync_run.id,
            "appointment_type": "Initial consultation",  # a type name (caseload by-appointment-type)
        }
    token = api_token_for(app, tenants.a.id, ["organization:member"], creator=tenants.user("owner"))
    with app.app_context():
        from clinic_app.auth.models import ApiToken

        values["token_id"] = db.session.query(ApiToken.id).filter_by(organization_id=tenants.a.id).scalar()
    from tests.patients.conftest import register
    from tests.reports.conftest import consultation, generate

    # reports: a draft report of A (with its own patient and consultation), and A's first template
    report_patient = register(app, tenants.a, first_name="Matrix", last_name="Reported")
    report_session = consultation(app, tenants.a, tenants.user("clinician"), report_patient)
    values["report_id"] = generate(app, tenants.a, tenants.user("clinician"), report_session)
    with app.app_context():
        from clinic_app.reports import templates_service

        values["template_id"] = templates_service.list_templates(tenants.a.id)[0].template.id
        db.session.commit()
    with app.app_context():
        from clinic_app.consultations import service as consultations
        from clinic_app.core.audit import Actor

        # consultations: a session of A in progress, by its readable code and by its id
        held = consultations.start_session(
            tenants.a.id,
            patient_id=values["patient_id"],
            clinician_id=tenants.user("clinician").id,
            chief_complaint="Matrix complaint",
            session_type="consultation",
            actor=Actor(),
        )
        db.session.commit()
        values["session_id"], values["consultation_id"] = held.session_code, held.id
        from clinic_app.orgs import invitations

        # staff: a pending invitation of A (its link's secret is not A's to show: "secret" stays fake)
        invited = invitations.invite_staff_member(
            organization_id=tenants.a.id,
            email="matrix-invitee@example.com",
            display_name="Matrix Invitee",
            role="receptionist",
            actor=Actor(),
            actor_role=None,
        )
        values["invitation_id"] = invited.invitation.id
        db.session.commit()
    values.update(_health_records(app, tenants, values["patient_id"]))
    values.update(_billing_records(app, tenants, values["patient_id"]))
    values.update(_webhook_records(app, tenants))
    values["_token"] = token
    return values


def _health_records(app: Any, tenants: Any, patient_id: str) -> dict[str, str]:
    """Health data of A's patient: a JSON metrics upload (``processing_id``), an imported CSV file
    (``upload_id``), the analysis the import drew from it (``analysis_id``) and an insight on it."""
    import io

    from clinic_app.core.audit import Actor
    from clinic_app.health_data import queries, service
    from clinic_app.health_data.insights import service as insights
    from clinic_app.health_data.metrics import HealthMetric

    clinician = Actor(user_id=tenants.user("clinician").id)
    with app.app_context():
        metric = HealthMetric.model_validate({"metric_type": "heart_rate", "biometric_data": {"heart_rate": 64}})
        metrics = service.record_metrics(tenants.a.id, patient_id, [metric], actor=clinician).upload
        rows = "".join(f"2024-03-04T{h:02}:{m:02}:00,{(h * 60 + m) % 97}\n" for h in range(24) for m in range(60))
        with io.BytesIO(f"timestamp,value\n{rows}".encode()) as csv_file:
            received = service.receive_file(
                tenants.a.id, patient_id, csv_file, filename="matrix.csv", file_format="plain_csv", actor=clinician
            )
        db.session.commit()  # the import job runs now (eagerly in tests)
        ids = {"processing_id": metrics.id, "upload_id": received.id}
    with app.app_context():
        analysis = queries.analyses_of(tenants.a.id, [ids["upload_id"]])[ids["upload_id"]]
        assert analysis.status == "completed", analysis.error
        ids["analysis_id"] = analysis.id
        ids["insight_id"] = insights.generate(tenants.a.id, analysis.id, actor=clinician).id
        db.session.commit()
    return ids


def _billing_records(app: Any, tenants: Any, patient_id: str) -> dict[str, str]:
    """Billing of A's patient: an item, a draft with a line (``invoice_id``, ``line_id``) and a
    credit note of another, issued invoice."""
    from clinic_app.billing import service as billing
    from clinic_app.core.audit import Actor

    with app.app_context():
        item = billing.create_item(tenants.a.id, billing.ItemInput(name="Matrix item", unit_price=1000), actor=Actor())
        by_hand = billing.DraftInput(patient_id=patient_id, lines=(billing.LineInput(item_id=item.id),))
        draft = billing.create_draft(tenants.a.id, by_hand, actor=Actor())
        credited = billing.create_draft(tenants.a.id, by_hand, actor=Actor())
        billing.issue_invoice(tenants.a.id, credited.id, actor=Actor())
        note = billing.issue_credit_note(tenants.a.id, credited.id, lines=None, reason="Matrix", actor=Actor())
        db.session.commit()
        line_id = db.session.execute(
            db.text("SELECT id FROM invoice_lines WHERE invoice_id = :id"), {"id": draft.id}
        ).scalar()
        return {"item_id": item.id, "invoice_id": draft.id, "line_id": line_id, "credit_note_id": note.id}


def _webhook_records(app: Any, tenants: Any) -> dict[str, str]:
    """A webhook endpoint of A (its URL a documentation address the SSRF guard refuses at once, so
    nothing reaches out) and a delivery of a test event to it (``log_id``)."""
    from clinic_app.core.audit import Actor
    from clinic_app.webhooks import endpoints
    from clinic_app.webhooks.models import WebhookDelivery

    with app.app_context():
        target = endpoints.EndpointInput("https://203.0.113.10/hook", "Matrix", ())
        endpoint, _secret = endpoints.create_endpoint(tenants.a.id, target, actor=Actor())
        event = endpoints.outbox.emit(tenants.a.id, "webhook.test", {}, only_endpoint=endpoint)
        db.session.commit()
        log_id = db.session.query(WebhookDelivery.id).filter_by(event_id=event.id).scalar()
        return {"endpoint_id": endpoint.id, "log_id": log_id}


def _url(rule: Rule, values: dict[str, str]) -> str:
    filled = {name: values.get(name, f"zz_{name}_unknown") for name in rule.arguments}
    path = rule.rule
    for name in rule.arguments:
        path = path.replace(f"<{name}>", filled[name])
        for converter in ("string", "path", "int", "uuid"):
            path = path.replace(f"<{converter}:{name}>", filled[name])
    assert "<" not in path, f"could not fill {rule.rule}"
    return path


def _call(client: Any, method: str, url: str, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"headers": headers}
    if method in UNSAFE:
        if url.startswith("/api/"):
            kwargs["json"] = {}
        else:
            kwargs["data"] = {}
    return client.open(url, method=method, **kwargs)


def _is_sent_to_sign_in(response: Any, api: bool) -> bool:
    if api:
        return response.status_code == 401
    return response.status_code in (302, 401) and "/login" in response.headers.get(
        "Location", response.headers.get("HX-Redirect", "")
    )


@pytest.mark.parametrize(("path", "method", "endpoint"), CASES, ids=[f"{m} {p}" for p, m, _ in CASES])
def test_route_outcome_for_every_actor(make_app, tenants, path, method, endpoint, monkeypatch):
    app = make_app(WTF_CSRF_ENABLED=False)
    clock = type("Clock", (), {"now": 1_800_000_000.0})()
    monkeypatch.setattr("clinic_app.mfa.totp.clock", lambda: clock.now)
    _operator, operator_secret = make_operator(app, with_totp=True, clock=clock)
    policy: Policy | None = policy_for(app, endpoint)
    assert policy is not None, f"{endpoint} has no access policy"
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == path)
    values = _records(app, tenants)
    url = _url(rule, values)
    api = path.startswith(("/api/", "/fhir/"))  # FHIR takes bearer tokens only, as the JSON API does
    names_of_a = (tenants.a.id, tenants.a.name, "target@harbour.example")

    for actor in ACTORS:
        if actor == "anonymous":
            client, headers = app.test_client(), {}
        elif actor == "operator" and api:
            client, headers = app.test_client(), {"Authorization": f"Bearer {operator_token(app)}"}
        elif actor == "operator":
            client, headers = app.test_client(), {}
            assert sign_in_operator(client, operator_secret, clock).status_code == 303
        elif api:
            user = tenants.outsider if actor == "outsider" else tenants.user(actor)
            client, headers = app.test_client(), {"Authorization": f"Bearer {access_token_for(app, user)}"}
        else:
            client, headers = app.test_client(), {}
            user = tenants.outsider if actor == "outsider" else tenants.user(actor)
            assert sign_in(client, user.email).status_code == 303
        response = _call(client, method, url, headers)
        response.get_data()
        response.close()
        status = response.status_code
        where = f"{method} {url} as {actor}: {status} {response.get_data()[:200].decode(errors='replace')}"

        if policy.public:
            assert status not in (401, 403), where
            continue
        if actor == "anonymous":
            assert _is_sent_to_sign_in(response, api), where
            continue
        if policy.operator:  # operators only; nobody else learns the route is there
            if actor == "operator":
                assert status not in (401, 403), where
                assert status != 404 or "zz_" in url, where
            else:
                assert status == 404, where
            continue
        if actor == "operator":
            # No organization's record, and (apart from setting up a second factor and signing out
            # in the browser) nothing of an account's: every such route is not there for them.
            own_account = (
                policy.permission is None
                and not api
                and (endpoint.startswith("mfa.") or endpoint in ENROLMENT_ENDPOINTS)
            )
            if own_account:
                assert status not in (401, 403), where
            else:
                assert status == 404, where
            body = response.get_data(as_text=True).replace(url, "")
            assert not any(name in body for name in names_of_a), f"organization A leaked: {where}"
            continue
        if policy.permission is None:  # any signed-in caller
            assert status not in (401, 403), where
            continue
        if actor == "outsider":
            if any(name in rule.arguments for name in values):
                assert status == 404, where  # A's ids are invisible to B
            else:
                assert status not in (401,), where  # acts in B's own organization
            body = response.get_data(as_text=True).replace(url, "")  # their own request echoed back is no leak
            assert not any(name in body for name in names_of_a), f"organization A leaked: {where}"
            continue
        if role_grants(actor, policy.permission):
            assert status not in (401, 403), where
            if policy.hide:
                assert status != 404 or "not found" in response.get_data(as_text=True).lower(), where
        else:
            assert status == (404 if policy.hide else 403), where


def test_the_matrix_covers_every_route():
    app = create_app({"APP_ENV": "test", "INSTANCE_PATH": tempfile.mkdtemp(), "DATABASE_URL": "sqlite://"})
    covered = {endpoint for _path, _method, endpoint in CASES}
    assert covered == {rule.endpoint for rule in app.url_map.iter_rules()}
    assert len(CASES) > 20
