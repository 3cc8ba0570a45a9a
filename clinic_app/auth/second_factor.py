"""The second step of a sign-in, for people with two-factor sign-in: the browser's "Enter your
code" page and the API's ``POST /api/v1/auth/mfa/verify``.

A right password for such an account opens a sign-in challenge (``mfa.challenges``: 10 minutes,
single use, burned after five wrong codes) instead of a session or tokens. The browser keeps its
secret in the session; the API hands it out as ``mfa_token``. A code (authenticator or recovery)
or a passkey finishes it. Wrong codes are throttled per person and per client address as well,
so a new challenge (a new password entry) does not buy more guesses.
"""

from __future__ import annotations

from flask import Response, flash, jsonify, redirect, render_template, request, session, url_for
from limits import parse

from clinic_app.accounts.models import User
from clinic_app.auth import bp, identity
from clinic_app.auth.forms import SecondFactorForm
from clinic_app.core import audit
from clinic_app.core.access import public
from clinic_app.core.errors import Invalid, Unauthorized
from clinic_app.core.ratelimit import throttle
from clinic_app.core.web import safe_next
from clinic_app.extensions import db
from clinic_app.mfa import challenges, passkeys
from clinic_app.mfa import service as mfa
from clinic_app.mfa.models import MfaChallenge

PENDING_KEY = "mfa_pending"
VERIFY_LIMITS = {"user": parse("10/15minutes"), "ip": parse("50/15minutes")}
EXPIRED = "This sign-in has expired or was already finished. Please sign in again."
WRONG_CODE = "That code is not right, or it was already used. Try the newest code from your app."
BURNED = "Too many wrong codes. Please sign in again."


def begin(user: User, *, organization_id: str | None = None, next_url: str | None = None) -> str | None:
    """For a person with a second factor, open the sign-in challenge and return its secret;
    None for a person without one (sign them in straight away)."""
    if not mfa.has_second_factor(user.id):
        return None
    secret, _row = challenges.open_challenge(
        challenges.SIGN_IN, user_id=user.id, organization_id=organization_id, data={"next": next_url or ""}
    )
    audit.record(
        "auth.second_factor_required",
        organization_id=None,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
    )
    return secret


def _throttle(user_id: str) -> None:
    throttle(
        "mfa-verify",
        VERIFY_LIMITS,
        {"user": user_id, "ip": request.remote_addr},
        audit_action="auth.second_factor_throttled",
        details={},
        too_many="two-factor codes",
        feature="Two-factor sign-in",
    )


def finish(challenge: MfaChallenge, code: str) -> tuple[User, str]:
    """Check ``code`` against the challenge's person and use the challenge up. Raises
    Unauthorized (a wrong code counts against the challenge) or Throttled."""
    user = db.session.get(User, challenge.user_id)
    if user is None or not user.is_active:
        raise Unauthorized(EXPIRED)
    _throttle(user.id)
    method = mfa.verify_code(user, code, organization_id=challenge.organization_id)
    if method is None:
        challenges.count_failure(challenge)
        audit.record(
            "auth.second_factor_failed",
            organization_id=None,
            actor=audit.Actor(user_id=user.id),
            target_type="user",
            target_id=user.id,
            outcome=audit.FAILURE,
            independent=True,
        )
        last = challenge.failed_attempts + 1 >= challenges.MAX_FAILED
        raise Unauthorized(BURNED if last else WRONG_CODE, code="mfa_code_invalid")
    if not challenges.spend(challenge):
        raise Unauthorized(EXPIRED, code="mfa_token_invalid")
    return user, method


# --- the browser ----------------------------------------------------------------------------------


def pending_challenge() -> MfaChallenge | None:
    return challenges.live_challenge(session.get(PENDING_KEY), challenges.SIGN_IN)


def complete_sign_in(user: User, challenge: MfaChallenge) -> Response:
    """Start the browser session of a sign-in whose second factor passed."""
    next_url = safe_next(challenge.data.get("next") or None)
    identity.sign_in(user)  # clears the session, the pending secret with it
    return redirect(next_url, code=303)


@bp.route("/login/verify", methods=["GET", "POST"])
@public
def login_verify() -> Response | tuple[str, int]:
    challenge = pending_challenge()
    if challenge is None:
        session.pop(PENDING_KEY, None)
        flash(EXPIRED, "info")
        return redirect(url_for("auth.login"), code=303)
    form = SecondFactorForm()
    status, error = 200, None
    if form.validate_on_submit():
        try:
            user, _method = finish(challenge, form.code.data)
        except Unauthorized as refused:
            error, status = refused.detail, 401
            if refused.detail in (BURNED, EXPIRED):
                session.pop(PENDING_KEY, None)
                flash(refused.detail, "error")
                return redirect(url_for("auth.login"), code=303)
        else:
            return complete_sign_in(user, challenge)
    elif form.errors:
        status = 422
    factors = mfa.factors_of(challenge.user_id or "")
    return render_template("auth/login_verify.html", form=form, error=error, factors=factors), status


# --- a passkey as the second factor ---------------------------------------------------------------

PASSKEY_KEY = "mfa_passkey_challenge"


class SignInExpired(Invalid):
    """No sign-in waits for a second factor in this browser (expired, finished, or never begun)."""

    status = 400
    title = "Bad request"


@bp.post("/login/verify/passkey/options")
@public
def login_verify_passkey_options() -> Response:
    challenge = pending_challenge()
    if challenge is None or challenge.user_id is None:
        raise SignInExpired(EXPIRED)
    secret, options = passkeys.authentication_options(challenge.user_id)
    session[PASSKEY_KEY] = secret
    return jsonify(options)


@bp.post("/login/verify/passkey")
@public
def login_verify_passkey() -> Response:
    credential = request.get_json(silent=True)
    if not isinstance(credential, dict):
        raise Invalid("Send the passkey's answer as a JSON object.")
    challenge = pending_challenge()
    if challenge is None or challenge.user_id is None:
        raise SignInExpired(EXPIRED)
    _throttle(challenge.user_id)
    user = passkeys.finish_authentication(
        session.pop(PASSKEY_KEY, ""), credential.get("credential", credential), user_id=challenge.user_id
    )
    if not challenges.spend(challenge):
        raise SignInExpired(EXPIRED)
    next_url = safe_next(challenge.data.get("next") or None)
    identity.sign_in(user)
    return jsonify({"redirect": next_url})
