from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import Response, flash, g, redirect, render_template, request, url_for

from clinic_app.auth import bp, identity, service
from clinic_app.auth.forms import LoginForm, SetPasswordForm
from clinic_app.core.access import authenticated, public
from clinic_app.core.errors import Invalid, Unauthorized

NEXT_MAX = 2000  # longer than any page of ours needs


def safe_next(target: str | None) -> str:
    """Only a same-site path ("/patients?q=a"); anything else is the home page. Refused: another
    host, a scheme, a protocol-relative "//", a backslash anywhere (browsers read it as a slash),
    and any control character or whitespace: a CR or LF would split the redirect's headers, and
    browsers drop tabs and line breaks from a URL, which could turn "/<tab>/host" into "//host"."""
    home = url_for("site.home")
    if not target or len(target) > NEXT_MAX or not target.startswith("/"):
        return home
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in target):
        return home
    if target.startswith("//") or "\\" in target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return home
    return target


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
            user = service.authenticate(form.email.data, form.password.data, ip_address=request.remote_addr)
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
    flash("You have signed out.", "success")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/set-password/<secret>", methods=["GET", "POST"])
@public
def set_password(secret: str) -> Response | tuple[str, int] | str:
    _link, user = service.find_password_link(secret)
    form = SetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.use_password_link(secret, form.new_password.data)
        except Invalid as error:
            for problem in error.errors:
                form.new_password.errors = [*form.new_password.errors, problem.message]
            status = 422
        else:
            flash("Your password is set. Please sign in.", "success")
            return redirect(url_for("auth.login"), code=303)
    elif form.errors:
        status = 422
    return render_template("auth/set_password.html", form=form, user=user), status
