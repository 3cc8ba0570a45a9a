"""The invited person's page: accept (creating an account, or signed in to the one they have) or
decline. Public, because a new person has no account yet; the link's secret is the credential."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth import identity
from clinic_app.auth.login import authenticate
from clinic_app.auth.sessions import switch_organization
from clinic_app.core.access import public
from clinic_app.core.errors import Conflict, Forbidden, Invalid, Unauthorized
from clinic_app.core.web import done, put_errors
from clinic_app.orgs import invitations
from clinic_app.staff import bp
from clinic_app.staff.forms import JoinForm

# The service's field names the join form calls differently (any other error is the password's).
_JOIN_FIELDS = {"password": "new_password"}


def _page(
    view: invitations.InvitationView, secret: str, *, form: JoinForm, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    caller = identity.current_identity()
    user = caller.user if caller is not None else None
    return (
        render_template(
            "staff/invitation.html",
            invitation=view,
            secret=secret,
            form=form,
            error=error,
            signed_in_as=user.email if user is not None else None,
            addressed_to_caller=user is not None and user.email.lower() == view.email,
        ),
        status,
    )


@bp.get("/invitations/<secret>")
@public
def invitation(secret: str) -> ResponseReturnValue:
    view = invitations.find_invitation(secret)
    form = JoinForm(formdata=None, display_name=view.display_name)
    return _page(view, secret, form=form)


@bp.post("/invitations/<secret>/join")
@public
def invitation_join(secret: str) -> ResponseReturnValue:
    """A new person: create the account with the name and password they chose."""
    view = invitations.find_invitation(secret)
    form = JoinForm()
    if not form.validate_on_submit():
        return _page(view, secret, form=form, status=422)
    try:
        invitations.accept_with_new_account(
            secret, display_name=form.display_name.data, password=form.new_password.data
        )
    except Invalid as error:
        put_errors(form, error.errors, renames=_JOIN_FIELDS, fallback="new_password")
        return _page(view, secret, form=form, status=422)
    except Conflict as error:
        return _page(view, secret, form=form, error=error.detail, status=409)
    return done(
        f"Welcome to {view.organization_name}. Sign in with your e-mail address and new password.",
        url_for("auth.login"),
    )


@bp.post("/invitations/<secret>/accept")
@public
def invitation_accept(secret: str) -> ResponseReturnValue:
    """Someone with an account accepts: signed in to it, or with its password (which also signs
    them in: someone every organization removed has no other way back)."""
    view = invitations.find_invitation(secret)
    caller = identity.current_identity()
    user = caller.user if caller is not None else None
    if user is None:
        try:
            user = authenticate(
                view.email, request.form.get("password", ""), ip_address=request.remote_addr, require_membership=False
            )
        except (Unauthorized, Invalid) as error:
            return _page(view, secret, form=JoinForm(formdata=None), error=error.detail, status=error.status)
    try:
        invitations.accept_as_member(secret, user=user)
    except Forbidden as error:
        return _page(view, secret, form=JoinForm(formdata=None), error=error.detail, status=403)
    if caller is None:
        identity.sign_in(user, organization_id=view.organization_id)
    elif caller.session_row is not None:
        switch_organization(caller.session_row, user=user, organization_id=view.organization_id)
    return done(f"You have joined {view.organization_name}.", url_for("site.home"))


@bp.post("/invitations/<secret>/decline")
@public
def invitation_decline(secret: str) -> ResponseReturnValue:
    caller = identity.current_identity()
    view = invitations.decline(secret, user=caller.user if caller is not None else None)
    target = url_for("site.home") if caller is not None else url_for("auth.login")
    return done(f"You declined the invitation from {view.organization_name}.", target, "info")
