"""The auth API: log in for a token pair, refresh (rotating), log out, verify, the caller's own
account (``/me``), and resetting a forgotten password (``forgot-password``, ``reset-password``).

Rules: a log-in is one token family; logging out or replaying a spent refresh token ends the whole
family. ``/me`` describes a person, so an organization API token gets 403 there. The organization
for ``verify`` comes from ``X-Organization-ID`` (or the caller's only/default one) and is checked by
the access layer, so a header naming someone else's organization answers 404.
"""

from __future__ import annotations

from flask import current_app, request

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.auth import bp, jwt_tokens, password_links, password_reset, second_factor
from clinic_app.auth.identity import Identity, current_identity
from clinic_app.auth.mfa_schemas import LoginOut, MfaRequiredOut, MfaVerifyRequest
from clinic_app.auth.models import TokenFamily
from clinic_app.auth.schemas import (
    AuthHealth,
    ForgotPasswordRequest,
    LoginRequest,
    LogoutOut,
    LogoutRequest,
    MessageOut,
    OrganizationAccessOut,
    OrganizationRole,
    ProfileUpdate,
    RefreshRequest,
    ResetPasswordRequest,
    TokenPairOut,
    UserContext,
    VerifyOut,
)
from clinic_app.auth.views import reset_pages
from clinic_app.core.access import authenticated, public, requires
from clinic_app.core.api import api_route, parse_body
from clinic_app.core.errors import FieldError, Forbidden, Invalid, NotFound, Unauthorized
from clinic_app.core.permissions import ROLE_PERMISSIONS, expand
from clinic_app.core.tenancy import current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.mfa import challenges
from clinic_app.mfa import service as mfa
from clinic_app.orgs import service as orgs

TAGS = ("auth",)


def user_context(user: User, memberships: list[orgs.MembershipView], organization_id: str | None) -> UserContext:
    """The seed's UserContext for ``user``, with the role and permissions of ``organization_id``
    (their first organization when None)."""
    membership = next((m for m in memberships if m.organization_id == organization_id), None)
    if membership is None and organization_id is None and memberships:
        membership = memberships[0]
    role = membership.role if membership else None
    return UserContext(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=role,
        permissions=expand(ROLE_PERMISSIONS.get(role, frozenset())) if role else [],
        is_verified=accounts.is_email_verified(user),
        is_active=user.is_active,
        custom_claims={},
        created_at=user.created_at,
        last_login=user.last_login_at,
        organizations=[
            OrganizationRole(organization_id=m.organization_id, name=m.organization_name, role=m.role)
            for m in memberships
        ],
    )


def _token_answer(user: User, family: TokenFamily, pair: jwt_tokens.TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        refresh_expires_in=pair.refresh_expires_in,
        organization_id=family.organization_id,
        user=user_context(user, orgs.memberships_of(user.id), family.organization_id),
    )


def _person() -> tuple[Identity, User]:
    identity = current_identity()
    if identity is None or identity.user is None:
        raise Forbidden("This endpoint describes a person; an organization API token has no personal account.")
    return identity, identity.user


def _chosen_organization(identity: Identity) -> str | None:
    """``X-Organization-ID`` when sent (it must be one of the caller's, and the one a bound log-in
    acts for, else 404), otherwise the log-in's or the browser session's organization, otherwise
    None (their default one)."""
    requested = request.headers.get("X-Organization-ID", "").strip()
    bound = identity.bound_organization_id
    if requested:
        if (bound and requested != bound) or not any(m.organization_id == requested for m in identity.memberships):
            raise NotFound("The requested resource was not found.")
        return requested
    return bound or identity.organization_id


@api_route(
    bp,
    "/api/v1/auth/login",
    methods=("POST",),
    body=LoginRequest,
    response=LoginOut,
    summary="Log in with e-mail and password for an access and refresh token",
    description=(
        "For an account with two-factor sign-in the answer is instead "
        '{"mfa_required": true, "mfa_token": ..., "methods": [...]}: finish with /api/v1/auth/mfa/verify.'
    ),
    tags=TAGS,
    extra_statuses={401: "Wrong e-mail address or password", 429: "Too many failed attempts; wait and retry"},
)
@public
def api_login(body: LoginRequest) -> LoginOut | TokenPairOut:
    user, organization_id = jwt_tokens.check_login(
        body.email,
        body.password.get_secret_value(),
        ip_address=request.remote_addr,
        organization_id=body.organization_id,
    )
    secret = second_factor.begin(user, organization_id=organization_id)
    if secret is not None:
        return LoginOut(mfa_required_answer(secret, user))
    family, pair = jwt_tokens.start_family(
        user, organization_id, ip_address=request.remote_addr, user_agent=request.user_agent.string
    )
    return _token_answer(user, family, pair)


@api_route(
    bp,
    "/api/v1/auth/refresh",
    methods=("POST",),
    body=RefreshRequest,
    response=TokenPairOut,
    summary="Exchange a refresh token for a new pair (the old refresh token is spent)",
    description=(
        "Refresh tokens are single use. Presenting one that was already used ends the whole log-in: "
        "every access and refresh token issued from it stops working."
    ),
    tags=TAGS,
    extra_statuses={401: "Invalid, expired, revoked or already-used refresh token"},
)
@public
def api_refresh(body: RefreshRequest) -> TokenPairOut:
    user, family, pair = jwt_tokens.refresh(body.refresh_token.get_secret_value())
    return _token_answer(user, family, pair)


@api_route(
    bp,
    "/api/v1/auth/logout",
    methods=("POST",),
    response=LogoutOut,
    summary="End this API log-in (its access and refresh tokens)",
    description=(
        "Call with the access token from /api/v1/auth/login. An optional JSON body "
        '{"refresh_token": "..."} is accepted for compatibility. Browser sessions sign out with POST /logout; '
        "organization API tokens are revoked on the API tokens page."
    ),
    tags=TAGS,
    extra_statuses={403: "Not an API log-in (a browser session or an organization API token)"},
)
@authenticated
def api_logout() -> LogoutOut:
    identity = current_identity()
    assert identity is not None  # @authenticated
    if identity.kind != "access_token" or identity.user is None or identity.token_family_id is None:
        if identity.api_token is not None:
            raise Forbidden("An organization API token cannot log out; an admin revokes it on the API tokens page.")
        raise Forbidden("This ends an API log-in (bearer access token). Browser sessions sign out with POST /logout.")
    if request.get_data(cache=True):  # the body is optional, but when sent it must be well formed
        parse_body(LogoutRequest)
    jwt_tokens.revoke_family(identity.token_family_id, user_id=identity.user.id)
    return LogoutOut(message="Logged out")


@api_route(
    bp,
    "/api/v1/auth/verify",
    response=VerifyOut,
    summary="Check a token and its organization (X-Organization-ID)",
    tags=TAGS,
)
@requires("organization:member")
def api_verify() -> VerifyOut:
    return VerifyOut(authenticated=True, organization_id=current_organization_id(), message="Authentication successful")


@api_route(
    bp,
    "/api/v1/auth/organization/<organization_id>/access",
    response=OrganizationAccessOut,
    summary="Check that the caller may act in this organization",
    tags=TAGS,
)
@requires("organization:member")
def api_organization_access(organization_id: str) -> OrganizationAccessOut:
    # The access layer has already answered 404 for an organization that is not the caller's.
    return OrganizationAccessOut(
        organization_id=current_organization_id(), access_granted=True, message="Access granted"
    )


@api_route(
    bp,
    "/api/v1/auth/me",
    unpaged="the caller's own memberships",
    response=UserContext,
    summary="The signed-in person, their role and permissions, and their organizations",
    description="The role and permissions are those of X-Organization-ID when sent, else the default organization.",
    tags=TAGS,
    extra_statuses={403: "Called with an organization API token (it has no personal account)"},
)
@authenticated
def api_me() -> UserContext:
    identity, user = _person()
    return user_context(user, identity.memberships, _chosen_organization(identity))


@api_route(
    bp,
    "/api/v1/auth/me",
    methods=("PUT",),
    body=ProfileUpdate,
    response=UserContext,
    summary="Change the signed-in person's display name",
    description="Only display_name is changed; organization ids, roles or other fields in the body are ignored.",
    tags=TAGS,
    extra_statuses={403: "Called with an organization API token (it has no personal account)"},
)
@authenticated
def api_update_me(body: ProfileUpdate) -> UserContext:
    identity, user = _person()
    organization_id = _chosen_organization(identity)
    # Recorded in the chosen organization's trail, else their first (as the answer's role is).
    trail = organization_id or next((m.organization_id for m in identity.memberships), None)
    accounts.update_profile(user, display_name=body.display_name, organization_id=trail)
    return user_context(user, identity.memberships, organization_id)


@api_route(
    bp,
    "/api/v1/auth/forgot-password",
    methods=("POST",),
    body=ForgotPasswordRequest,
    response=MessageOut,
    status=202,
    summary="Ask for a password reset: a link and a 6-digit code are e-mailed to the account",
    description=(
        "Always 202 with the same body for a well-formed address, whether or not an account uses it (the "
        "e-mail, when there is one to send, leaves after the answer). The link and the code work once, for "
        f"{password_reset.LIFETIME_MINUTES} minutes; a newer request replaces them. Throttled per address and "
        "per client address."
    ),
    tags=TAGS,
    extra_statuses={
        429: "Too many reset requests for this address or from this client",
        503: "The rate-limit store is unavailable; try again shortly",
    },
)
@public
def api_forgot_password(body: ForgotPasswordRequest) -> MessageOut:
    password_reset.request_password_reset(body.email, ip_address=request.remote_addr, pages=reset_pages())
    return MessageOut(message=password_reset.FORGOT_ANSWER)


@api_route(
    bp,
    "/api/v1/auth/reset-password",
    methods=("POST",),
    body=ResetPasswordRequest,
    response=MessageOut,
    summary="Set a new password with the e-mailed code (and address) or the link's token",
    description=(
        "Send {email, code, new_password} or {token, new_password}. A reset ends every browser session and API "
        "log-in of the account and e-mails a notice. A code allows "
        f"{password_links.MAX_CODE_ATTEMPTS} tries; the last wrong one ends the reset (ask for a new one)."
    ),
    tags=TAGS,
    extra_statuses={
        400: "Wrong, expired or used code or token (nothing changed); or malformed JSON",
        422: "A missing field, or a new password the rules refuse (each field listed)",
        429: "Too many reset attempts for this address or from this client",
        503: "The rate-limit store is unavailable; try again shortly",
    },
)
@public
def api_reset_password(body: ResetPasswordRequest) -> MessageOut:
    new_password = body.new_password.get_secret_value()
    if body.token is not None and body.email is None and body.code is None:
        password_reset.reset_with_token(
            body.token.get_secret_value(), new_password, ip_address=request.remote_addr, pages=reset_pages()
        )
    elif body.token is None and body.email is not None and body.code is not None:
        password_reset.reset_with_code(
            body.email, body.code, new_password, ip_address=request.remote_addr, pages=reset_pages()
        )
    else:
        raise Invalid(errors=_reset_shape_errors(body))
    return MessageOut(message=password_reset.RESET_DONE)


def _reset_shape_errors(body: ResetPasswordRequest) -> list[FieldError]:
    if body.token is not None:
        message = "Send either the link's token, or the e-mail address and the code; not both."
        return [FieldError("token", message, "CONFLICTING_PARAMETERS")]
    message = "Send the e-mail address and the 6-digit code from the e-mail (or the link's token instead)."
    return [FieldError(name, message, "MISSING") for name in ("email", "code") if getattr(body, name) is None]


@api_route(
    bp,
    "/api/v1/auth/health",
    response=AuthHealth,
    summary="Auth service status",
    description="Public (seed 004). Whether the service answers and whether practice sign-up is open; no "
    "version or environment details.",
    tags=TAGS,
)
@public
def api_auth_health() -> AuthHealth:
    return AuthHealth(
        status="healthy",
        service="auth",
        timestamp=utcnow(),
        signup_enabled=bool(current_app.config.get("SIGNUP_ENABLED")),
    )


# --- the second step of a log-in ---------------------------------------------------------------


def mfa_required_answer(secret: str, user: User) -> MfaRequiredOut:
    return MfaRequiredOut(
        mfa_token=secret,
        methods=mfa.factors_of(user.id).methods,
        expires_in=int(challenges.LIFETIMES[challenges.SIGN_IN].total_seconds()),
    )


@api_route(
    bp,
    "/api/v1/auth/mfa/verify",
    methods=("POST",),
    body=MfaVerifyRequest,
    response=TokenPairOut,
    summary="Finish a log-in that answered mfa_required, with a code from the app or a recovery code",
    description=(
        "The mfa_token from /api/v1/auth/login is single use and lasts 10 minutes; five wrong codes end it. "
        "A code is accepted once: the same code again is refused."
    ),
    tags=TAGS,
    extra_statuses={401: "Wrong code, or an expired, used or unknown mfa_token", 429: "Too many codes tried"},
)
@public
def api_mfa_verify(body: MfaVerifyRequest) -> TokenPairOut:
    challenge = challenges.live_challenge(body.mfa_token.get_secret_value(), challenges.SIGN_IN)
    if challenge is None:
        raise Unauthorized(second_factor.EXPIRED, code="mfa_token_invalid")
    user, method = second_factor.finish(challenge, body.code.get_secret_value())
    family, pair = jwt_tokens.start_family(
        user,
        challenge.organization_id,
        ip_address=request.remote_addr,
        user_agent=request.user_agent.string,
        method=method,
    )
    return _token_answer(user, family, pair)
