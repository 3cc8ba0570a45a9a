"""Every route x every kind of caller gets the outcome that the hand-written oracle promises.

The expected outcome of each call comes from tests/access_oracle.py: a role x permission table and,
per URL rule, what it needs, both written by hand. Nothing here asks the app what a role grants or
what a view declares (no ``ROLE_PERMISSIONS``, ``grants``, ``role_grants`` or ``policy_for``), so a
wrong permission table or a wrong policy on a route makes this matrix fail; the tests at the end
plant such mistakes and show that it does.

The routes themselves are read from the app's URL map at collection time, so a new route is a new
case here, and it fails until it is written in the oracle.

Callers: anonymous; the owner of another organization (B); a platform operator (outside every
organization: a browser session with two-factor sign-in, an ``opt_…`` token on the API); each role
of organization A; and on the API, two organization API tokens of A: one holding only the route's
permission, one holding every other permission. Browser routes are called with a signed-in session,
API routes with a bearer access token. Path parameters are filled with real ids of organization A's
records, so the outsider is asking for A's things. A refusal by the access check is told apart from
a view's own "not found" by the ``access.denied`` event the check writes to the audit trail.
"""

from __future__ import annotations

import dataclasses
import tempfile
from typing import Any

import pytest
from werkzeug.routing import Rule

from clinic_app import create_app
from clinic_app.core import jobs
from clinic_app.extensions import db
from tests import access_oracle as oracle
from tests.conftest import KeptRows
from tests.factories import access_token_for, api_token_for, build_tenants, make_user, sign_in
from tests.operators.conftest import make_operator, operator_token, sign_in_operator

ACTORS = ("anonymous", "outsider", "operator", *oracle.ROLES)
TOKENS = ("token with the permission", "token without it")
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


def _denials(app: Any) -> int:
    with app.app_context():
        count = db.session.execute(db.text("SELECT count(*) FROM audit_events WHERE action = 'access.denied'")).scalar()
        db.session.remove()
        return int(count or 0)


class World:
    """A matrix test's starting state (organization A's records, both organizations' people, the
    operator): built by the first route's test, its rows put back for each later one. Building them
    (a report, a health import, invoices, ...) cost a second per route, putting them back a few
    milliseconds; each route still gets a fresh app and exactly the rows a fresh build gives."""

    def __init__(self) -> None:
        self.rows = KeptRows("matrix_world")
        self.built: dict[str, Any] | None = None

    def keep(self, app: Any, built: dict[str, Any]) -> None:
        self.rows.keep(app)
        self.built = built

    def put_back(self, app: Any) -> dict[str, Any]:
        assert self.built is not None
        self.rows.put_back(app)
        return self.built


@pytest.fixture(scope="session")
def world(housekeeping_app: Any) -> Any:
    kept = World()
    yield kept
    kept.rows.discard(housekeeping_app)


class Matrix:
    """One app with organization A's records, an operator, and the callers of ACTORS."""

    def __init__(self, make_app: Any, tenants: Any, monkeypatch: Any, world: World | None = None) -> None:
        self.app = make_app(WTF_CSRF_ENABLED=False)
        self.clock = type("Clock", (), {"now": 1_800_000_000.0})()
        monkeypatch.setattr("clinic_app.mfa.totp.clock", lambda: self.clock.now)
        if world is not None and world.built is not None:
            built = world.put_back(self.app)
        else:
            if tenants is None:
                with self.app.app_context():
                    tenants = build_tenants()
            _operator, secret = make_operator(self.app, with_totp=True, clock=self.clock)
            values = _records(self.app, tenants)
            built = {"tenants": tenants, "secret": secret, "clock": self.clock.now, "values": values}
            if world is not None:
                world.keep(self.app, built)
        self.tenants = built["tenants"]
        self.operator_secret = built["secret"]
        self.clock.now = built["clock"]  # the operator's next code is the one a fresh build would take
        self.values = dict(built["values"])

    def _caller(self, actor: str, api: bool, need: oracle.Need) -> tuple[Any, dict[str, str]]:
        app, tenants = self.app, self.tenants
        client = app.test_client()
        if actor == "anonymous":
            return client, {}
        if actor in TOKENS:
            scopes = [need.permission] if actor == TOKENS[0] else sorted(oracle.PERMISSIONS - {need.permission})
            token = api_token_for(app, tenants.a.id, scopes, creator=tenants.user("owner"))
            return client, {"Authorization": f"Bearer {token}"}
        if actor == "operator" and api:
            return client, {"Authorization": f"Bearer {operator_token(app)}"}
        if actor == "operator":
            assert sign_in_operator(client, self.operator_secret, self.clock).status_code == 303
            return client, {}
        user = tenants.outsider if actor == "outsider" else tenants.user(actor)
        if api:
            return client, {"Authorization": f"Bearer {access_token_for(app, user)}"}
        assert sign_in(client, user.email).status_code == 303
        return client, {}

    def problems(self, path: str, method: str) -> list[str]:
        """Every caller whose outcome differs from the oracle's, in words (empty: all as written)."""
        need = oracle.need_of(method, path)
        rule = next(r for r in self.app.url_map.iter_rules() if r.rule == path and method in (r.methods or ()))
        url = _url(rule, self.values)
        api = path.startswith(("/api/", "/fhir/"))  # FHIR takes bearer tokens only, as the JSON API does
        names_of_a = (self.tenants.a.id, self.tenants.a.name, "target@harbour.example")
        actors = ACTORS + (TOKENS if api and need.kind == "permission" else ())
        found: list[str] = []
        for actor in actors:
            client, headers = self._caller(actor, api, need)
            # only a member's or a token's refusal is the access check's, recorded as a denial
            counted = need.kind == "permission" and actor not in ("anonymous", "outsider", "operator")
            denials_before = _denials(self.app) if counted else 0
            response = _call(client, method, url, headers)
            body = response.get_data().decode(errors="replace")  # a PDF is bytes
            response.close()
            denied = counted and _denials(self.app) > denials_before
            status = response.status_code
            where = f"{method} {url} as {actor}: got {status} {body[:160]!r}"
            if actor in TOKENS:
                scopes = frozenset({need.permission} if actor == TOKENS[0] else oracle.PERMISSIONS - {need.permission})
                want = oracle.expected_for_scopes(need, scopes)
            elif actor == "outsider":
                want = self._outsider_expects(need, rule)
            else:
                want = oracle.expected(need, actor)
            problem = self._differs(want, status, denied, response, api, actor, need)
            if problem:
                found.append(f"{where}; the oracle says {want} ({problem})")
            # another organization, and an operator outside the operators' pages, learn nothing of A
            watched = (actor == "outsider" and need.kind == "permission") or (
                actor == "operator" and need.kind not in (oracle.OPERATORS, oracle.PUBLIC)
            )
            if watched and any(name in body.replace(url, "") for name in names_of_a):
                found.append(f"organization A leaked: {where}")
        return found

    def _outsider_expects(self, need: oracle.Need, rule: Rule) -> str | int:
        if need.kind != "permission":
            return oracle.expected(need, "owner")  # their own account's routes: as any signed-in person
        if any(name in rule.arguments for name in self.values):
            return oracle.HIDDEN  # A's ids are invisible to B
        return oracle.ALLOWED  # acts in B's own organization, where they are the owner

    @staticmethod
    def _differs(
        want: str | int, status: int, denied: bool, response: Any, api: bool, actor: str, need: oracle.Need
    ) -> str | None:
        if want == oracle.PEOPLE_ONLY:  # refused by the view, after the access check let it through
            return None if status == 403 and not denied else "not refused as a token"
        if want == oracle.SIGN_IN:
            return None if _is_sent_to_sign_in(response, api) else "not sent to sign in"
        if want == oracle.ALLOWED:
            if status in (401, 403) or denied:
                return "refused"
            return None
        if status != want:
            return f"wanted {want}"
        # A role's or token's refusal is the access check's, recorded as a denial; an outsider's
        # and an operator's 404 is the same answer as for an id that does not exist, not recorded.
        if need.kind == "permission" and actor not in ("outsider", "operator") and not denied:
            return "no access.denied event"
        return None


@pytest.mark.parametrize(("path", "method", "endpoint"), CASES, ids=[f"{m} {p}" for p, m, _ in CASES])
def test_route_outcome_for_every_actor(make_app, world, path, method, endpoint, monkeypatch):
    oracle.need_of(method, path)  # before any set-up: a route missing from the oracle says so at once
    problems = Matrix(make_app, None, monkeypatch, world).problems(path, method)
    assert not problems, "\n".join(problems)


def test_the_matrix_covers_every_route():
    app = create_app({"APP_ENV": "test", "INSTANCE_PATH": tempfile.mkdtemp(), "DATABASE_URL": "sqlite://"})
    covered = {endpoint for _path, _method, endpoint in CASES}
    assert covered == {rule.endpoint for rule in app.url_map.iter_rules()}
    assert len(CASES) > 20


def test_every_route_is_in_the_oracle_and_the_oracle_names_no_other():
    in_app = {(method, path) for path, method, _endpoint in CASES}
    missing = sorted(f"{method} {path}" for method, path in in_app - set(oracle.ROUTES))
    gone = sorted(f"{method} {path}" for method, path in set(oracle.ROUTES) - in_app)
    assert not missing, "add these routes to tests/access_oracle.py (ROUTES): " + ", ".join(missing)
    assert not gone, "these routes are gone from the app: remove them from tests/access_oracle.py: " + ", ".join(gone)


# --- the matrix notices a wrong permission table or a wrong policy ------------------------------
# Each test plants one mistake in the running app and expects the matrix above to report it.


def test_the_matrix_fails_when_every_role_gets_every_permission(make_app, world, monkeypatch):
    matrix = Matrix(make_app, None, monkeypatch, world)
    monkeypatch.setattr("clinic_app.core.permissions.grants", lambda granted, needed: True)
    monkeypatch.setattr("clinic_app.auth.api_tokens.grants", lambda granted, needed: True)
    browser = matrix.problems("/audit", "GET")
    api = matrix.problems("/api/v1/reports/<report_id>", "GET")
    assert any(" as receptionist: got 200" in problem for problem in browser), browser
    assert any(" as clinician: got 200" in problem for problem in browser), browser
    assert any(" as admin: got 200" in problem for problem in api), api
    assert any(" as token without it: got 200" in problem for problem in api), api


def _or_instead_of_and(granted: Any, needed: str) -> bool:
    """core.permissions.grants with the wildcard check's ``and`` turned into ``or`` (a mutant)."""
    for permission in granted:
        if permission in ("*", needed):
            return True
        if permission.endswith(":*") or needed.startswith(permission[:-1]):
            return True
    return False


def test_the_matrix_fails_when_the_wildcard_check_says_or_for_and(make_app, world, monkeypatch):
    matrix = Matrix(make_app, None, monkeypatch, world)
    monkeypatch.setattr("clinic_app.core.permissions.grants", _or_instead_of_and)
    problems = matrix.problems("/reports/<report_id>", "GET")
    # admins hold "admin:*" and "billing:*": with "or", any wildcard grants every permission
    assert any(" as admin: got 200" in problem for problem in problems), problems


def test_the_matrix_fails_when_admins_get_everything(make_app, world, monkeypatch):
    from clinic_app.core import permissions

    matrix = Matrix(make_app, None, monkeypatch, world)
    monkeypatch.setitem(permissions.ROLE_PERMISSIONS, "admin", frozenset({"*"}))
    problems = matrix.problems("/reports/<report_id>", "GET") + matrix.problems(
        "/account/security/organization", "POST"
    )
    assert any("GET /reports/" in problem and " as admin: got 200" in problem for problem in problems), problems
    assert any("/account/security/organization as admin" in problem for problem in problems), problems
    assert not [problem for problem in problems if " as admin" not in problem], problems


def test_the_matrix_fails_when_a_route_stops_hiding_itself(make_app, world, monkeypatch):
    matrix = Matrix(make_app, None, monkeypatch, world)
    view = matrix.app.view_functions["reports.review"]
    monkeypatch.setattr(view, "access_policy", dataclasses.replace(view.access_policy, hide=False))
    problems = matrix.problems("/reports/<report_id>", "GET")
    assert any(" as admin: got 403" in problem and "oracle says 404" in problem for problem in problems), problems
    assert any(" as receptionist: got 403" in problem for problem in problems), problems


def test_the_matrix_fails_when_a_route_needs_a_different_permission(make_app, world, monkeypatch):
    matrix = Matrix(make_app, None, monkeypatch, world)
    view = matrix.app.view_functions["audit.events"]
    monkeypatch.setattr(view, "access_policy", dataclasses.replace(view.access_policy, permission="dashboard:read"))
    problems = matrix.problems("/audit", "GET")
    assert any(" as receptionist: got 200" in problem for problem in problems), problems


def test_a_route_missing_from_the_oracle_says_where_to_write_it():
    with pytest.raises(AssertionError, match=r"add it to tests/access_oracle\.py"):
        oracle.need_of("GET", "/patients/<patient_id>/consent")
