"""Signing in and out in the browser, and setting a password through a one-time link."""

from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request, url_for

from clinic_app.auth import bp, identity, password_links
from clinic_app.auth.forms import LoginForm, SetPasswordForm
from clinic_app.auth.login import authenticate
from clinic_app.core.access import authenticated, public
from clinic_app.core.errors import Invalid, Unauthorized
from clinic_app.core.web import done, put_errors, safe_next


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if identity.current_identity() is not None and request.method == "GET":
        return redirect(next_url)
    if g.get("session_ended") and request.method == "GET":
        flash("Your session has ended. Please sign in again.", "info")
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data, form.password.data, ip_address=request.remote_addr)
        except Unauthorized as failure:
            error, status = failure.detail, 401
        except Invalid as throttled:
            error, status = throttled.detail, throttled.status
        else:
            identity.sign_in(user)
            return redirect(next_url, code=303)
    elif form.errors:
        status = 422
    return render_template("auth/login.html", form=form, error=error, next_url=request.args.get("next", "")), status


@bp.post("/logout")
@authenticated
def logout() -> Response:
    identity.sign_out()
    return done("You have signed out.", url_for("auth.login"))


@bp.route("/set-password/<secret>", methods=["GET", "POST"])
@public
def set_password(secret: str) -> Response | tuple[str, int] | str:
    _link, user = password_links.find_password_link(secret)
    form = SetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            password_links.use_password_link(secret, form.new_password.data)
        except Invalid as error:
            put_errors(form, error.errors, fallback="new_password")
            status = 422
        else:
            return done("Your password is set. Please sign in.", url_for("auth.login"))
    elif form.errors:
        status = 422
    return render_template("auth/set_password.html", form=form, user=user), status
