"""The sign-up API: a practice signs itself up (``register``), and its owner confirms the e-mail
address (``confirm-email``, and seed 002's ``verify-email`` for the same operation) or asks for a
new code (``resend-confirmation``). Registered by ``auth.api``.
"""

from __future__ import annotations

from flask import request

from clinic_app.auth import bp, password_links, signup
from clinic_app.auth.schemas import ConfirmEmailRequest, MessageOut, RegisterRequest, ResendConfirmationRequest
from clinic_app.auth.views import require_signup_enabled, signup_pages
from clinic_app.core.access import public
from clinic_app.core.api import api_route
from clinic_app.core.errors import FieldError, Invalid

TAGS = ("auth",)
THROTTLE_STATUSES = {
    429: "Too many requests for this address or from this client",
    503: "The rate-limit store is unavailable; try again shortly",
}


@api_route(
    bp,
    "/api/v1/auth/register",
    methods=("POST",),
    body=RegisterRequest,
    response=MessageOut,
    status=202,
    summary="Sign a practice up: a new organization with the caller as its owner, confirmation required",
    description=(
        "Answers 202 with the same body whether or not the address already has an account (that account is "
        "e-mailed a note instead; nothing is made). A new owner is e-mailed a 6-digit code and a link, good "
        f"once for {signup.LIFETIME_HOURS} hours; they cannot log in until they confirm (log-in answers 403). "
        "404 when SIGNUP_ENABLED is off. Throttled per address and per client address."
    ),
    tags=TAGS,
    extra_statuses={404: "Sign-up is turned off on this installation", **THROTTLE_STATUSES},
)
@public
def api_register(body: RegisterRequest) -> MessageOut:
    require_signup_enabled()
    registration = signup.Registration(
        name=body.name,
        email=body.email,
        password=body.password.get_secret_value(),
        practice_name=body.practice_name,
        time_zone=body.time_zone,
        region=body.region,
    )
    signup.register_practice(registration, ip_address=request.remote_addr, pages=signup_pages())
    return MessageOut(message=signup.SIGNUP_ANSWER)


def _confirm(body: ConfirmEmailRequest) -> MessageOut:
    if body.token is not None and body.email is None and body.code is None:
        signup.confirm_with_token(body.token.get_secret_value(), ip_address=request.remote_addr)
    elif body.token is None and body.email is not None and body.code is not None:
        signup.confirm_with_code(body.email, body.code, ip_address=request.remote_addr)
    elif body.token is not None:
        message = "Send either the link's token, or the e-mail address and the code; not both."
        raise Invalid(errors=[FieldError("token", message)])
    else:
        message = "Send the e-mail address and the 6-digit code from the e-mail (or the link's token instead)."
        missing = [name for name in ("email", "code") if getattr(body, name) is None]
        raise Invalid(errors=[FieldError(name, message) for name in missing])
    return MessageOut(message=signup.CONFIRMED)


CONFIRM_DESCRIPTION = (
    "Send {email, code} or {token}. Each works once, for "
    f"{signup.LIFETIME_HOURS} hours; a code allows {password_links.MAX_CODE_ATTEMPTS} tries, the last wrong one "
    "ends it (ask for a new one)."
)
CONFIRM_STATUSES = {
    400: "Wrong, expired or used code or token (nothing changed); or malformed JSON",
    422: "A missing or malformed field",
    **THROTTLE_STATUSES,
}


@api_route(
    bp,
    "/api/v1/auth/confirm-email",
    methods=("POST",),
    body=ConfirmEmailRequest,
    response=MessageOut,
    summary="Confirm a sign-up's e-mail address with the e-mailed code (and address) or the link's token",
    description=CONFIRM_DESCRIPTION,
    tags=TAGS,
    extra_statuses=CONFIRM_STATUSES,
)
@public
def api_confirm_email(body: ConfirmEmailRequest) -> MessageOut:
    return _confirm(body)


@api_route(
    bp,
    "/api/v1/auth/verify-email",
    methods=("POST",),
    body=ConfirmEmailRequest,
    response=MessageOut,
    summary="Verify an e-mail address (the same operation as confirm-email)",
    description=CONFIRM_DESCRIPTION,
    tags=TAGS,
    extra_statuses=CONFIRM_STATUSES,
)
@public
def api_verify_email(body: ConfirmEmailRequest) -> MessageOut:
    return _confirm(body)


@api_route(
    bp,
    "/api/v1/auth/resend-confirmation",
    methods=("POST",),
    body=ResendConfirmationRequest,
    response=MessageOut,
    status=202,
    summary="E-mail a new confirmation code and link (earlier ones stop working)",
    description="Always 202 with the same body for a well-formed address. Throttled per address and per client.",
    tags=TAGS,
    extra_statuses=THROTTLE_STATUSES,
)
@public
def api_resend_confirmation(body: ResendConfirmationRequest) -> MessageOut:
    signup.resend_confirmation(body.email, ip_address=request.remote_addr, pages=signup_pages())
    return MessageOut(message=signup.RESEND_ANSWER)
