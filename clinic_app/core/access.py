"""Deny by default: every view declares who may use it, or it is refused.

A view is decorated with exactly one of

* ``@public`` — anyone, signed in or not (health checks, the log-in page, static files);
* ``@authenticated`` — any signed-in person or API client, with no organization needed (their own
  account, the organization switcher);
* ``@operator_only`` — a platform operator (signed in with a second factor) or an operator
  monitoring token (``opt_…``); everyone else gets 404. Operators reach nothing organization-scoped;
* ``@requires("permission:name")`` — a signed-in user or API client of the current organization
  whose role (or token scopes) grants the permission. ``hide=True`` answers 404 instead of 403 to
  a member whose role lacks it, for things whose mere existence is private (clinical content).

``enforce_access`` runs before every request. A route with no declaration answers 403 and logs an
error naming the endpoint, and ``flask access-audit`` (and a test over ``app.url_map``) fails, so a
new route cannot ship without a policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, request

from clinic_app.core.errors import Forbidden
from clinic_app.core.permissions import PERMISSIONS

log = logging.getLogger("clinic_app.access")

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints provided by Flask itself, which cannot carry a decorator.
BUILTIN_PUBLIC_ENDPOINTS = frozenset({"static"})


@dataclass(frozen=True)
class Policy:
    public: bool = False
    permission: str | None = None
    hide: bool = False
    operator: bool = False

    @property
    def organization_scoped(self) -> bool:
        return self.permission is not None

    def describe(self) -> str:
        if self.public:
            return "public"
        if self.operator:
            return "operators only (404 to others)"
        if self.permission is None:
            return "authenticated"
        return f"requires {self.permission}" + (" (404 when denied)" if self.hide else "")


# Called for non-public policies; the identity feature installs the real check at start-up.
_authorizers: list[Callable[[Policy], None]] = []


def install_authorizer(check: Callable[[Policy], None]) -> None:
    if check not in _authorizers:
        _authorizers.append(check)


def public(view: F) -> F:
    """Anyone may use this view."""
    view.access_policy = Policy(public=True)  # type: ignore[attr-defined]
    return view


def authenticated(view: F) -> F:
    """Any signed-in person or API client; no organization is needed."""
    view.access_policy = Policy()  # type: ignore[attr-defined]
    return view


def operator_only(view: F) -> F:
    """Platform operators and operator tokens only; 404 to anyone else."""
    view.access_policy = Policy(operator=True)  # type: ignore[attr-defined]
    return view


def requires(permission: str, *, hide: bool = False) -> Callable[[F], F]:
    """Only callers whose role or token scopes grant ``permission`` in the current organization."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}: add it to core/permissions.py")

    def decorate(view: F) -> F:
        view.access_policy = Policy(permission=permission, hide=hide)  # type: ignore[attr-defined]
        return view

    return decorate


def policy_for(app: Flask, endpoint: str) -> Policy | None:
    if endpoint in BUILTIN_PUBLIC_ENDPOINTS or endpoint.endswith(".static"):
        return Policy(public=True)
    view = app.view_functions.get(endpoint)
    return getattr(view, "access_policy", None)


def enforce_access() -> None:
    """before_request hook: refuse undeclared routes, run the authorizer for protected ones."""
    endpoint = request.endpoint
    if endpoint is None:  # no route matched: the 404/405 handlers answer
        return
    policy = policy_for(current_app, endpoint)
    if policy is None:
        log.error("route has no access policy", extra={"event": "access_undeclared", "endpoint": endpoint})
        raise Forbidden("This route has no access policy and is refused.")
    if policy.public:
        return
    if not _authorizers:
        raise Forbidden("Access control is not configured.")
    for check in _authorizers:
        check(policy)


def audit_routes(app: Flask) -> list[tuple[str, str, str, Policy | None]]:
    """Every route as (rule, methods, endpoint, policy); policy is None where undeclared."""
    rows = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = ",".join(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))
        rows.append((rule.rule, methods, rule.endpoint, policy_for(app, rule.endpoint)))
    return rows
