"""The person's two-factor settings page: an authenticator app (QR code, first code, recovery
codes shown once), recovery codes renewed, passkeys (``mfa.passkey_views``), and — for an owner —
whether the organization requires two-factor sign-in."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, url_for
from flask.typing import ResponseReturnValue

from clinic_app.accounts.models import User
from clinic_app.core.access import authenticated, requires
from clinic_app.core.errors import Conflict, Forbidden, Invalid
from clinic_app.core.identity import Caller, current_identity
from clinic_app.core.permissions import role_grants
from clinic_app.core.web import done, put_errors
from clinic_app.mfa import bp, passkeys, totp
from clinic_app.mfa import service as mfa
from clinic_app.mfa.forms import PasswordAgainForm, TotpConfirmForm, TwoFactorPolicyForm
from clinic_app.orgs import service as orgs

POLICY_PERMISSION = "organization:security"
NEED_OWN_FACTOR = "Set up two-factor sign-in for your own account first: the rule would apply to you too."


def _person() -> tuple[Caller, User]:
    identity = current_identity()
    if identity is None or identity.user is None:
        raise Forbidden("API tokens have no personal account.")
    return identity, identity.user


def _policy_organization(identity: Caller) -> orgs.MembershipView | None:
    """The current organization, when the person may set its two-factor rule (its owner)."""
    membership = next((m for m in identity.memberships if m.organization_id == identity.organization_id), None)
    if membership is None or not role_grants(membership.role, POLICY_PERMISSION):
        return None
    return membership


def _no_store(body: str, status: int = 200) -> Response:
    """A page showing secrets once (recovery codes, a new key): never cached."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_security(status: int = 200, **forms: Any) -> tuple[str, int]:
    identity, user = _person()
    organization = _policy_organization(identity)
    policy_form = forms.get("policy_form") or TwoFactorPolicyForm(
        policy=organization.two_factor_policy if organization else None
    )
    return render_template(
        "mfa/security.html",
        user=user,
        factors=mfa.factors_of(user.id),
        totp_row=totp.confirmed_factor(user.id),
        passkeys=passkeys.list_for(user.id),
        must_enrol=mfa.must_enrol(user.id, list(identity.memberships)),
        remove_totp_form=forms.get("remove_totp_form") or PasswordAgainForm(prefix="remove-totp"),
        renew_form=forms.get("renew_form") or PasswordAgainForm(prefix="renew"),
        organization=organization,
        policy_form=policy_form,
    ), status


@bp.get("/account/security")
@authenticated
def security() -> tuple[str, int]:
    return _render_security()


@bp.post("/account/security/totp")
@authenticated
def totp_start() -> ResponseReturnValue:
    _identity, user = _person()
    try:
        totp.start_enrolment(user)
    except Conflict as taken:
        return done(taken.detail, url_for("mfa.security"), "info")
    return done(None, url_for("mfa.totp_setup"))


@bp.route("/account/security/totp/setup", methods=["GET", "POST"])
@authenticated
def totp_setup() -> ResponseReturnValue:
    identity, user = _person()
    enrolment = totp.pending_enrolment(user)
    if enrolment is None:
        return done(None, url_for("mfa.security"))
    form = TotpConfirmForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = mfa.confirm_totp(user, form.code.data, organization_id=identity.organization_id)
        except Invalid as error:
            put_errors(form, error.errors, fallback="code")
            status = 422
        else:
            if not codes:
                return done("Two-factor sign-in is on: your authenticator app is set up.", url_for("mfa.security"))
            return _no_store(render_template("mfa/recovery_codes.html", codes=codes, first_time=True))
    elif form.errors:
        status = 422
    return _no_store(render_template("mfa/totp_setup.html", enrolment=enrolment, form=form), status)


@bp.post("/account/security/totp/remove")
@authenticated
def totp_remove() -> ResponseReturnValue:
    identity, user = _person()
    form = PasswordAgainForm(prefix="remove-totp")
    if form.validate_on_submit():
        try:
            mfa.remove_totp(user, form.password.data, organization_id=identity.organization_id)
        except Invalid as error:
            put_errors(form, error.errors, fallback="password")
        else:
            return done("The authenticator app was removed.", url_for("mfa.security"))
    return _render_security(422, remove_totp_form=form)


@bp.post("/account/security/recovery-codes")
@authenticated
def recovery_codes_renew() -> ResponseReturnValue:
    identity, user = _person()
    form = PasswordAgainForm(prefix="renew")
    if form.validate_on_submit():
        try:
            codes = mfa.renew_recovery_codes(user, form.password.data, organization_id=identity.organization_id)
        except Invalid as error:
            put_errors(form, error.errors, fallback="password")
        else:
            return _no_store(render_template("mfa/recovery_codes.html", codes=codes, first_time=False))
    return _render_security(422, renew_form=form)


@bp.post("/account/security/organization")
@requires(POLICY_PERMISSION)
def organization_policy() -> ResponseReturnValue:
    identity, user = _person()
    organization = _policy_organization(identity)
    assert organization is not None  # the policy checked the role in this organization
    form = TwoFactorPolicyForm()
    if form.validate_on_submit():
        if form.policy.data != orgs.TWO_FACTOR_OFF and not mfa.has_second_factor(user.id):
            form.policy.errors = [NEED_OWN_FACTOR]
        else:
            orgs.set_two_factor_policy(organization.organization_id, form.policy.data, actor=identity.actor)
            return done("Saved: who must use two-factor sign-in.", url_for("mfa.security"))
    return _render_security(422, policy_form=form)
