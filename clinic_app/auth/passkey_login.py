"""Signing in with a passkey alone, no password: "Sign in with a passkey" on the sign-in page.

The authenticator chooses the account (a discoverable passkey names its owner), so the options
list no credentials. A passkey made with user verification is itself two factors (the device, and
the PIN or biometric that unlocks it), so no second step follows. The same rules as a password
sign-in apply after it: an active account, an organization to sign in to, a confirmed address.
Throttled per client address; every refusal is audited by ``mfa.passkeys``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, session
from limits import RateLimitItem, parse
from pydantic import BaseModel
from werkzeug.exceptions import RequestEntityTooLarge

from clinic_app.accounts import service as accounts
from clinic_app.auth import bp, identity
from clinic_app.auth.login import EmailNotConfirmed
from clinic_app.core import audit
from clinic_app.core.access import public
from clinic_app.core.api import parse_body
from clinic_app.core.errors import Unauthorized
from clinic_app.core.ratelimit import throttle
from clinic_app.core.web import safe_next
from clinic_app.mfa import passkeys
from clinic_app.orgs import service as orgs

CHALLENGE_KEY = "passkey_sign_in"
# Per client address, for asking (each opens a challenge row) and for answering.
OPTIONS_LIMITS = {"ip": parse("30/15minutes")}
SIGN_IN_LIMITS = {"ip": parse("20/15minutes")}
BODY_MAX = 64 * 1024  # an authenticator's answer is a few kilobytes


class PasskeyAssertion(BaseModel):
    """What static/js/passkeys.js posts: the credential as JSON, its bytes in base64url."""

    credential: dict[str, Any]


def _throttle(stage: str, limits: dict[str, RateLimitItem]) -> None:
    throttle(
        f"passkey-sign-in-{stage}",
        limits,
        {"ip": request.remote_addr},
        audit_action="auth.passkey_sign_in_throttled",
        details={"stage": stage},
        too_many="passkey sign-in attempts",
        feature="Signing in with a passkey",
    )


@bp.post("/login/passkey/options")
@public
def passkey_sign_in_options() -> Response:
    _throttle("options", OPTIONS_LIMITS)
    secret, options = passkeys.authentication_options(None)
    session[CHALLENGE_KEY] = secret
    return jsonify(options)


@bp.post("/login/passkey")
@public
def passkey_sign_in() -> Response:
    _throttle("answer", SIGN_IN_LIMITS)
    if (request.content_length or 0) > BODY_MAX:
        raise RequestEntityTooLarge("The passkey's answer is too large.")
    answer = parse_body(PasskeyAssertion)
    assert isinstance(answer, PasskeyAssertion)
    user = passkeys.finish_authentication(session.pop(CHALLENGE_KEY, ""), answer.credential, user_id=None)
    if not user.is_operator and not orgs.memberships_of(user.id):  # a platform operator belongs to none
        audit.record(
            "auth.login_failed",
            organization_id=None,
            target_type="user",
            target_id=user.id,
            outcome=audit.FAILURE,
            details={"reason": "no_active_membership", "method": "passkey"},
            independent=True,
        )
        raise Unauthorized(passkeys.SIGN_IN_REFUSED)
    if not accounts.is_email_verified(user):
        raise EmailNotConfirmed()
    identity.sign_in(user)  # audits auth.login
    audit.record(
        "auth.passkey_sign_in",
        organization_id=None,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
        details={"method": "passkey"},
    )
    return jsonify({"redirect": safe_next(request.args.get("next"))})
