from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for

from clinic_app.accounts import bp, service
from clinic_app.accounts.forms import ChangePasswordForm, ProfileForm
from clinic_app.auth import service as auth_service
from clinic_app.auth.identity import current_identity
from clinic_app.core.access import authenticated
from clinic_app.core.errors import Forbidden, Invalid


def _person():
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
def update_profile() -> Response | tuple[str, int]:
    identity, user = _person()
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            service.update_profile(user, display_name=form.display_name.data, organization_id=identity.organization_id)
        except Invalid as error:
            form.display_name.errors = [e.message for e in error.errors]
        else:
            flash("Your name was saved.", "success")
            return redirect(url_for("accounts.account"), code=303)
    return _render(form, ChangePasswordForm(), 422)


@bp.post("/account/password")
@authenticated
def change_password() -> Response | tuple[str, int]:
    identity, user = _person()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(
                user,
                current_password=form.current_password.data,
                new_password=form.new_password.data,
                organization_id=identity.organization_id,
            )
        except Invalid as error:
            for problem in error.errors:
                getattr(form, problem.field).errors = [problem.message]
        else:
            # Every other browser and API log-in ends; this one carries on.
            keep = identity.session_row.id if identity.session_row else None
            auth_service.revoke_all_credentials(user.id, reason="password_changed", keep_session_id=keep)
            flash("Your password was changed. Other devices have been signed out.", "success")
            return redirect(url_for("accounts.account"), code=303)
    return _render(ProfileForm(display_name=user.display_name), form, 422)
