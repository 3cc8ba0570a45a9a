"""Two-factor enrolment over the API (``/api/v1/auth/mfa/...``), for the person behind an access
token: the status, an authenticator app (start, confirm with a first code, remove with the
password), and new recovery codes. An organization API token has no person: 403."""

from __future__ import annotations

from flask import Response

from clinic_app.accounts.models import User
from clinic_app.core.access import authenticated
from clinic_app.core.api import api_route
from clinic_app.core.errors import Forbidden
from clinic_app.core.identity import Caller, current_identity
from clinic_app.mfa import bp, totp
from clinic_app.mfa import service as mfa
from clinic_app.mfa.schemas import (
    MfaStatusOut,
    PasswordAgainRequest,
    RecoveryCodesOut,
    TotpConfirmOut,
    TotpConfirmRequest,
    TotpEnrolmentOut,
)

TAGS = ("auth",)
NO_PERSON = {403: "An organization API token has no personal account"}


def _person() -> tuple[Caller, User]:
    identity = current_identity()
    if identity is None or identity.user is None:
        raise Forbidden("Two-factor sign-in belongs to a person; an organization API token has none.")
    return identity, identity.user


@api_route(
    bp, "/api/v1/auth/mfa", response=MfaStatusOut, summary="Your second factors", tags=TAGS, extra_statuses=NO_PERSON
)
@authenticated
def api_mfa_status() -> MfaStatusOut:
    identity, user = _person()
    factors = mfa.factors_of(user.id)
    return MfaStatusOut(
        methods=factors.methods,
        totp=factors.totp,
        passkeys=factors.passkeys,
        recovery_codes_left=factors.recovery_codes_left,
        required=any(m.requires_two_factor for m in identity.memberships),
    )


@api_route(
    bp,
    "/api/v1/auth/mfa/totp",
    methods=("POST",),
    response=TotpEnrolmentOut,
    status=201,
    summary="Start setting up an authenticator app: its key, to confirm with a first code",
    tags=TAGS,
    extra_statuses={**NO_PERSON, 409: "An authenticator app is already set up (remove it first)"},
)
@authenticated
def api_totp_start() -> TotpEnrolmentOut:
    _identity, user = _person()
    enrolment = totp.start_enrolment(user)
    return TotpEnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@api_route(
    bp,
    "/api/v1/auth/mfa/totp/confirm",
    methods=("POST",),
    body=TotpConfirmRequest,
    response=TotpConfirmOut,
    summary="Switch the authenticator app on with a first code; answers the recovery codes once",
    tags=TAGS,
    extra_statuses={**NO_PERSON, 422: "The code is not right, or nothing waits for confirmation"},
)
@authenticated
def api_totp_confirm(body: TotpConfirmRequest) -> TotpConfirmOut:
    identity, user = _person()
    codes = mfa.confirm_totp(user, body.code, organization_id=identity.organization_id)
    return TotpConfirmOut(recovery_codes=codes)


@api_route(
    bp,
    "/api/v1/auth/mfa/totp",
    methods=("DELETE",),
    body=PasswordAgainRequest,
    status=204,
    summary="Remove the authenticator app (the password asked again)",
    tags=TAGS,
    extra_statuses={**NO_PERSON, 422: "Wrong password", 429: "Too many password attempts"},
)
@authenticated
def api_totp_remove(body: PasswordAgainRequest) -> Response:
    identity, user = _person()
    mfa.remove_totp(user, body.password.get_secret_value(), organization_id=identity.organization_id)
    return Response(status=204)


@api_route(
    bp,
    "/api/v1/auth/mfa/recovery-codes",
    methods=("POST",),
    body=PasswordAgainRequest,
    response=RecoveryCodesOut,
    summary="Ten new recovery codes (the old ones stop working)",
    tags=TAGS,
    extra_statuses={**NO_PERSON, 422: "Wrong password, or no second factor to back up"},
)
@authenticated
def api_recovery_codes(body: PasswordAgainRequest) -> RecoveryCodesOut:
    identity, user = _person()
    return RecoveryCodesOut(
        recovery_codes=mfa.renew_recovery_codes(
            user, body.password.get_secret_value(), organization_id=identity.organization_id
        )
    )
