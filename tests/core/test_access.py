"""Deny by default: every route declares a policy, and one that does not is refused."""

from clinic_app.core.access import audit_routes


def test_every_route_declares_an_access_policy(app):
    undeclared = [(rule, endpoint) for rule, _methods, endpoint, policy in audit_routes(app) if policy is None]
    assert undeclared == []


def test_a_route_without_a_policy_is_refused_at_request_time(make_app):
    app = make_app()
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret data")
    response = app.test_client().get("/forgotten", headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert "secret data" not in response.get_data(as_text=True)


def test_access_audit_command_passes_and_fails_on_an_undeclared_route(make_app):
    app = make_app()
    result = app.test_cli_runner().invoke(args=["access-audit"])
    assert result.exit_code == 0, result.output
    assert "/health" in result.output and "public" in result.output

    broken = make_app()
    broken.add_url_rule("/forgotten", "forgotten", lambda: "x")
    result = broken.test_cli_runner().invoke(args=["access-audit"])
    assert result.exit_code == 1
    assert "MISSING POLICY" in result.output
