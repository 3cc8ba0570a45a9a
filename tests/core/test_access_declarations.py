"""Each route declares what tests/access_oracle.py says it needs, and the declarations work.

The route matrix (tests/test_access_matrix.py) shows through HTTP that every caller gets what the
oracle promises; it takes minutes. This is the quick half: every route's declared policy read
back and compared with the oracle's line for it, and ``core.access`` itself (the decorators, the
refusal of undeclared routes, the access audit) checked on a small app of its own.
"""

from __future__ import annotations

import pytest
from flask import Flask

from clinic_app.core import access
from clinic_app.core.access import Policy
from clinic_app.core.errors import Forbidden
from tests import access_oracle as oracle


def _as_need(policy: Policy) -> oracle.Need:
    if policy.public:
        return oracle.Need(oracle.PUBLIC)
    if policy.operator:
        return oracle.Need(oracle.OPERATORS)
    if policy.permission is None:
        return oracle.Need(oracle.SIGNED_IN)
    return oracle.Need("permission", policy.permission, hidden=policy.hide)


def _without_operators_too(need: oracle.Need) -> oracle.Need:
    # "operators too" is the identity check letting an operator through, and "people only" the
    # view refusing a token; the declared policy says neither
    return oracle.Need(need.kind, need.permission, need.hidden)


def test_every_route_declares_what_the_oracle_says(app):
    missing, wrong = [], []
    for rule in app.url_map.iter_rules():
        policy = access.policy_for(app, rule.endpoint)
        assert policy is not None, f"{rule.rule} has no access policy"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            need = oracle.ROUTES.get((method, rule.rule))
            if need is None:
                missing.append(f"{method} {rule.rule} ({policy.describe()})")
            elif _as_need(policy) != _without_operators_too(need):
                wrong.append(f"{method} {rule.rule}: declares {policy.describe()}, the oracle says {need}")
    assert not missing, "add these routes to tests/access_oracle.py (ROUTES):\n" + "\n".join(sorted(missing))
    assert not wrong, "\n".join(wrong)


def test_policies_describe_themselves():
    assert Policy(public=True).describe() == "public"
    assert Policy(operator=True).describe() == "operators only (404 to others)"
    assert Policy().describe() == "authenticated"
    assert Policy(permission="patients:read").describe() == "requires patients:read"
    assert Policy(permission="clinical:read", hide=True).describe() == "requires clinical:read (404 when denied)"
    assert Policy(permission="patients:read").organization_scoped
    assert not Policy().organization_scoped
    assert not Policy(public=True).organization_scoped
    assert not Policy(operator=True).organization_scoped


def test_the_decorators_declare_their_policy():
    def view() -> str:
        return "x"

    assert access.public(view).access_policy == Policy(public=True)
    assert access.authenticated(view).access_policy == Policy()
    assert access.operator_only(view).access_policy == Policy(operator=True)
    assert access.requires("patients:read")(view).access_policy == Policy(permission="patients:read")
    assert access.requires("clinical:read", hide=True)(view).access_policy == Policy(
        permission="clinical:read", hide=True
    )
    assert access.requires("clinical:read")(view) is view


def test_requires_refuses_a_permission_nobody_wrote_down():
    with pytest.raises(ValueError, match=r"unknown permission 'patients:reed'.*core/permissions\.py"):
        access.requires("patients:reed")


@pytest.fixture
def small_app(monkeypatch):
    """A bare Flask app with enforce_access and a recording authorizer (no identity feature)."""
    app = Flask("access_test")
    app.register_error_handler(Forbidden, lambda error: ("refused", 403))
    app.before_request(access.enforce_access)
    seen: list[Policy] = []
    monkeypatch.setattr(access, "_authorizers", [])

    @app.get("/open")
    @access.public
    def open_page() -> str:
        return "open"

    @app.get("/secret")
    @access.requires("admin:audit", hide=True)
    def secret() -> str:
        return "secret"

    @app.get("/forgotten")
    def forgotten() -> str:
        return "forgotten"

    return app, seen


def test_a_public_route_skips_the_authorizers_and_a_protected_one_runs_each_once(small_app):
    app, seen = small_app
    client = app.test_client()
    assert client.get("/secret").status_code == 403  # no authorizer installed: refused, never open
    access.install_authorizer(seen.append)
    access.install_authorizer(seen.append)  # installing the same check twice runs it once
    assert client.get("/open").get_data(as_text=True) == "open"
    assert seen == []
    assert client.get("/secret").get_data(as_text=True) == "secret"
    assert seen == [Policy(permission="admin:audit", hide=True)]
    assert client.get("/forgotten").status_code == 403
    assert len(seen) == 1
    assert client.get("/no-such-page").status_code == 404  # no route: the 404 handler answers


def test_an_authorizer_that_refuses_stops_the_view(small_app):
    app, _seen = small_app

    def refuse(policy: Policy) -> None:
        raise Forbidden("no")

    access.install_authorizer(refuse)
    assert app.test_client().get("/secret").status_code == 403
    assert app.test_client().get("/open").status_code == 200


def test_static_endpoints_are_public_and_audit_routes_lists_every_route(small_app):
    app, _seen = small_app
    assert access.policy_for(app, "static") == Policy(public=True)
    assert access.policy_for(app, "billing.static") == Policy(public=True)
    assert access.policy_for(app, "forgotten") is None
    assert access.policy_for(app, "no-such-endpoint") is None
    rows = access.audit_routes(app)
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    by_rule = {rule: (methods, endpoint, policy) for rule, methods, endpoint, policy in rows}
    assert by_rule["/secret"] == ("GET", "secret", Policy(permission="admin:audit", hide=True))
    assert by_rule["/forgotten"] == ("GET", "forgotten", None)
    assert by_rule["/static/<path:filename>"][2] == Policy(public=True)
