"""Who is calling, and may they? Installed into core.access at start-up.

``load_identity`` (before every request) reads a bearer token (an organization API token or an
access token from ``/api/v1/auth/login``) or the browser session, and ``authorize`` enforces a
view's policy: authentication, then the organization (URL, ``X-Organization-ID`` header, or the
session's current organization) checked against the caller's memberships — another
organization's id answers 404 — then the permission.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import cast

from flask import Response, abort, flash, g, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from clinic_app.accounts.models import User
from clinic_app.auth import api_tokens, jwt_tokens, operator_tokens, sessions
from clinic_app.auth.models import ApiToken, UserSession
from clinic_app.core import audit
from clinic_app.core import identity as core_identity
from clinic_app.core.access import Policy
from clinic_app.core.errors import Forbidden, Invalid, NotFound, Unauthorized, wants_json
from clinic_app.core.permissions import role_grants
from clinic_app.extensions import login_manager
from clinic_app.mfa import service as mfa
from clinic_app.orgs import service as orgs

log = logging.getLogger("clinic_app.auth")

SESSION_KEY = "sid"


@dataclass
class Identity:
    kind: str  # "session", "access_token", "api_token" or "operator_token"
    user: User | None = None
    api_token: ApiToken | None = None
    session_row: UserSession | None = None
    token_family_id: str | None = None
    organization_id: str | None = None
    # An API log-in bound to one organization (see auth.jwt_tokens.api_login) acts for it alone.
    bound_organization_id: str | None = None
    role: str | None = None
    memberships: list[orgs.MembershipView] = field(default_factory=list)
    operator_token: operator_tokens.OperatorToken | None = None

    @property
    def actor(self) -> audit.Actor:
        token = self.api_token or self.operator_token
        return audit.Actor(user_id=self.user.id if self.user else None, token_id=token.id if token else None)

    @property
    def is_operator(self) -> bool:
        """A platform operator (signed in) or an operator monitoring token."""
        return self.operator_token is not None or operator_tokens.is_operator(self.user)

    def can(self, permission: str) -> bool:
        if self.api_token is not None:
            return api_tokens.token_grants(self.api_token, permission)
        return self.role is not None and role_grants(self.role, permission)


def current_identity() -> Identity | None:
    """The caller of this request (``core.identity.current_identity``, as auth's Identity)."""
    return cast("Identity | None", core_identity.current_identity())


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    found = sessions.find_signed_in(session.get(SESSION_KEY))
    if found is None or found[0].user_id != user_id:
        return None
    row, user, memberships = found
    if not user.is_active:
        return None
    g.session_row, g.session_memberships = row, memberships
    return user


def load_identity() -> None:
    """before_request: work out who is calling (never refuses; ``authorize`` does that)."""
    g.identity = None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            g.auth_error = "Use Authorization: Bearer <token>."
            return
        credential = credential.strip()
        if credential.startswith(api_tokens.API_TOKEN_PREFIX):
            token = api_tokens.find_api_token(credential)
            if token is None:
                g.auth_error = "Invalid, expired or revoked API token."
                return
            g.identity = Identity(kind="api_token", api_token=token, organization_id=token.organization_id)
        elif credential.startswith(operator_tokens.OPERATOR_TOKEN_PREFIX):
            found = operator_tokens.find_operator_token(credential)
            if found is None:
                g.auth_error = "Invalid, expired or revoked operator token."
                return
            g.identity = Identity(kind="operator_token", operator_token=found)
            return
        else:
            try:
                claims = jwt_tokens.verify_access_token(credential)
            except Unauthorized as error:
                g.auth_error = error.detail
                return
            g.identity = Identity(
                kind="access_token",
                user=claims.user,
                token_family_id=claims.family_id,
                bound_organization_id=claims.organization_id,
            )
    else:
        if SESSION_KEY not in session:
            return  # no browser session: anonymous, without asking Flask-Login to look further
        user = current_user._get_current_object() if current_user.is_authenticated else None
        if user is None:
            if SESSION_KEY in session:  # expired or revoked: forget it so the next page is clean
                session.pop(SESSION_KEY, None)
                g.session_ended = True
            return
        row = g.get("session_row")
        memberships = g.get("session_memberships")
        if memberships is None:
            memberships = orgs.memberships_of(user.id)
        if not memberships and not operator_tokens.is_operator(user):
            # Their last organization removed them: nothing is left to sign in to.
            if row is not None:
                sessions.end_session_apart(row)
            logout_user()
            session.pop(SESSION_KEY, None)
            g.session_ended = True
            return
        g.identity = Identity(
            kind="session",
            user=user,
            session_row=row,
            organization_id=row.organization_id if row else None,
            memberships=memberships,
        )
    identity = g.identity
    if identity.user is not None:
        if identity.kind != "session":
            identity.memberships = orgs.memberships_of(identity.user.id)
        g.log_user_id = identity.user.id
        member_of = {m.organization_id for m in identity.memberships}
        if identity.kind == "session" and identity.organization_id not in member_of:
            # Their current organization was taken away: fall back to another one they belong to.
            identity.organization_id = identity.memberships[0].organization_id if identity.memberships else None


def sign_in(user: User, *, organization_id: str | None = None) -> None:
    """Start a browser session: a new session id (no fixation), then remember the user. It works
    in ``organization_id`` (one of theirs) or their default organization."""
    secret, _row = sessions.start_session(
        user, ip_address=request.remote_addr, user_agent=request.user_agent.string, organization_id=organization_id
    )
    session.clear()
    session[SESSION_KEY] = secret
    session.permanent = False
    login_user(user)


def sign_out() -> None:
    identity = current_identity()
    if identity and identity.session_row is not None and identity.user is not None:
        sessions.end_session(identity.session_row, user=identity.user)
    logout_user()
    session.clear()


def _requested_organization(identity: Identity) -> str | None:
    requested = (request.view_args or {}).get("organization_id") or request.headers.get("X-Organization-ID", "").strip()
    bound = identity.bound_organization_id
    if bound:
        # A log-in bound to one organization reaches no other, whichever it names.
        return bound if not requested or requested == bound else None
    if requested:
        return requested
    if identity.organization_id:
        return identity.organization_id
    if len(identity.memberships) == 1:
        return identity.memberships[0].organization_id
    if identity.memberships:
        raise Invalid("You belong to several organizations: say which one with the X-Organization-ID header.")
    return None


def _deny(
    status_error: type[Forbidden] | type[NotFound], identity: Identity, policy: Policy, organization_id: str | None
) -> None:
    audit.record(
        "access.denied",
        organization_id=organization_id,
        actor=identity.actor,
        target_type="route",
        target_id=request.endpoint,
        outcome=audit.DENIED,
        details={"permission": policy.permission, "method": request.method},
        independent=True,
    )
    if status_error is NotFound:
        raise NotFound("The requested resource was not found.")
    raise Forbidden("Your role does not allow this.")


def _not_signed_in() -> None:
    detail = g.get("auth_error") or "Authentication required."
    if wants_json() or request.headers.get("Authorization"):
        raise Unauthorized(detail)
    target = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if request.headers.get("HX-Request") == "true":
        response = redirect(target)
        response.status_code = 401
        response.headers["HX-Redirect"] = target
        abort(response)
    abort(redirect(target))


# What a person whose organization requires two-factor sign-in, and who has no second factor
# yet, may still reach: setting one up (the mfa blueprint), and signing out.
ENROLMENT_ENDPOINTS = frozenset({"auth.logout", "auth.api_logout", "auth.api_me"})
ENROLMENT_REQUIRED = (
    "Your organization requires two-factor sign-in. Set up an authenticator app or a passkey to continue."
)


def _enrolment_allowed() -> bool:
    endpoint = request.endpoint or ""
    return endpoint.startswith("mfa.") or endpoint in ENROLMENT_ENDPOINTS


def _send_to_enrolment() -> None:
    if wants_json() or request.headers.get("Authorization"):
        raise Forbidden(
            ENROLMENT_REQUIRED + " Over the API: POST /api/v1/auth/mfa/totp, then /api/v1/auth/mfa/totp/confirm.",
            code="mfa_enrolment_required",
        )
    flash(ENROLMENT_REQUIRED, "info")
    target = url_for("mfa.security")
    response = redirect(target, code=303)
    if request.headers.get("HX-Request") == "true":
        response.status_code = 403  # htmx goes where HX-Redirect says instead of swapping
        response.headers["HX-Redirect"] = target
    abort(response)


def must_enrol_at_sign_in(user: User) -> bool:
    """Whether a person just signed in with a password alone must set up a second factor before
    anything else (their organization's rule, or an operator without one): the sign-in then
    lands on the enrolment page instead of the page asked for."""
    if mfa.must_enrol(user.id, orgs.memberships_of(user.id)):
        return True
    return operator_tokens.is_operator(user) and not mfa.has_second_factor(user.id)


def send_to_enrolment_after_sign_in() -> Response:
    flash(ENROLMENT_REQUIRED, "info")
    return redirect(url_for("mfa.security"), code=303)


def _operator_must_enrol(identity: Identity) -> bool:
    """An operator signs in with a second factor: without one they may only set it up."""
    return identity.user is not None and identity.is_operator and not mfa.has_second_factor(identity.user.id)


def _authorize_operator_route(identity: Identity) -> None:
    if not identity.is_operator:
        raise NotFound("The requested resource was not found.")


def authorize(policy: Policy) -> None:
    """Enforce ``policy`` for the current request, or raise (401 / 404 / 403)."""
    identity = current_identity()
    if identity is None:
        _not_signed_in()
        return
    if (
        identity.user is not None
        and not _enrolment_allowed()
        and (mfa.must_enrol(identity.user.id, identity.memberships) or _operator_must_enrol(identity))
    ):
        _send_to_enrolment()
    if policy.operator:
        _authorize_operator_route(identity)
        return
    if identity.is_operator and not (policy.permission is None and identity.user is not None and _enrolment_allowed()):
        # Operators see no organization's records, and their tokens reach only operator routes:
        # beyond setting up a second factor and signing out, everything else is not there for them.
        raise NotFound("The requested resource was not found.")
    if not policy.organization_scoped:
        return
    organization_id = _requested_organization(identity)
    if organization_id is None:
        raise NotFound("The requested resource was not found.")
    if identity.api_token is not None:
        if organization_id != identity.api_token.organization_id:
            raise NotFound("The requested resource was not found.")
        identity.organization_id = organization_id
    else:
        assert identity.user is not None
        membership = next((m for m in identity.memberships if m.organization_id == organization_id), None)
        if membership is None:
            # Not theirs, or does not exist: the same answer, so ids reveal nothing.
            raise NotFound("The requested resource was not found.")
        identity.organization_id = organization_id
        identity.role = membership.role
    g.log_organization_id = organization_id
    assert policy.permission is not None
    if not identity.can(policy.permission):
        _deny(NotFound if policy.hide else Forbidden, identity, policy, organization_id)
