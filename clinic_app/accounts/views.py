"""The person's own account page: their name, organizations and password."""

from __future__ import annotations

from flask import render_template, url_for
from flask.typing import ResponseReturnValue

from clinic_app.accounts import bp, service
from clinic_app.accounts.forms import ChangePasswordForm, ProfileForm
from clinic_app.accounts.models import User
from clinic_app.core.access import authenticated
from clinic_app.core.errors import Forbidden, Invalid
from clinic_app.core.identity import Caller, current_identity
from clinic_app.core.web import done, put_errors


def _person() -> tuple[Caller, User]:
    identity = current_identity()
    if identity is None or identity.user is None:
        raise Forbidden("API tokens have no personal account.")
    return identity, identity.user


def _render(profile: ProfileForm, password: ProfileForm | ChangePasswordForm, status: int = 200) -> tuple[str, int]:
    identity, user = _person()
    return render_template(
        "accounts/account.html", user=user, memberships=identity.memberships, profile=profile, password=password
    ), status


@bp.get("/account")
@authenticated
def account() -> tuple[str, int]:
    _identity, user = _person()
    return _render(ProfileForm(display_name=user.display_name), ChangePasswordForm())


@bp.post("/account/profile")
@authenticated
def update_profile() -> ResponseReturnValue:
    identity, user = _person()
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            service.update_profile(user, display_name=form.display_name.data, organization_id=identity.organization_id)
        except Invalid as error:
            put_errors(form, error.errors, fallback="display_name")
        else:
            return done("Your name was saved.", url_for("accounts.account"))
    return _render(form, ChangePasswordForm(), 422)


@bp.post("/account/password")
@authenticated
def change_password() -> ResponseReturnValue:
    identity, user = _person()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            # Every other browser and API log-in ends; this one carries on.
            service.change_password(
                user,
                current_password=form.current_password.data,
                new_password=form.new_password.data,
                organization_id=identity.organization_id,
                keep_session_id=identity.session_row.id if identity.session_row else None,
            )
        except Invalid as error:
            put_errors(form, error.errors)
        else:
            return done("Your password was changed. Other devices have been signed out.", url_for("accounts.account"))
    return _render(ProfileForm(display_name=user.display_name), form, 422)
