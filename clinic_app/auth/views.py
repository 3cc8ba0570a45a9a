"""Signing in and out in the browser, setting a password through a one-time link, resetting a
forgotten one (with the mailed link or code), and signing a practice up and confirming its
owner's e-mail address."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import Response, current_app, flash, g, redirect, render_template, request, session, url_for

from clinic_app.auth import bp, identity, password_links, password_reset, second_factor, signup
from clinic_app.auth.forms import (
    ConfirmEmailForm,
    ConfirmLinkForm,
    ForgotPasswordForm,
    LoginForm,
    ResendConfirmationForm,
    ResetWithCodeForm,
    SetPasswordForm,
    SignupForm,
)
from clinic_app.auth.login import EmailNotConfirmed, authenticate
from clinic_app.core.access import authenticated, public
from clinic_app.core.errors import Invalid, NotFound, Unauthorized
from clinic_app.core.mail import public_url
from clinic_app.core.web import done, put_errors, safe_next

# The address typed on the "forgot password" page, offered again on the code page.
RESET_EMAIL_KEY = "reset_email"
# The address signed up with (or refused for want of confirmation), offered on the confirmation page.
CONFIRM_EMAIL_KEY = "confirm_email"


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
    unconfirmed_account = False
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data, form.password.data, ip_address=request.remote_addr)
        except Unauthorized as failure:
            error, status = failure.detail, 401
        except Invalid as throttled:
            error, status = throttled.detail, throttled.status
        except EmailNotConfirmed as unconfirmed:
            session[CONFIRM_EMAIL_KEY] = (form.email.data or "").strip()[:254]
            error, status, unconfirmed_account = unconfirmed.detail, unconfirmed.status, True
        else:
            pending = second_factor.begin(user, next_url=next_url)
            if pending is not None:
                session[second_factor.PENDING_KEY] = pending
                return redirect(url_for("auth.login_verify"), code=303)
            identity.sign_in(user)
            if identity.must_enrol_at_sign_in(user):
                # A second factor is required of them (organization rule, operator) and they have none.
                return identity.send_to_enrolment_after_sign_in()
            return redirect(next_url, code=303)
    elif form.errors:
        status = 422
    return render_template(
        "auth/login.html",
        form=form,
        error=error,
        unconfirmed=unconfirmed_account,
        next_url=request.args.get("next", ""),
    ), status


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


# --- a forgotten password -------------------------------------------------------------------------


def reset_pages() -> password_reset.ResetPages:
    """Where the reset e-mails point, on ``PUBLIC_URL`` (never the request's Host)."""
    return password_reset.ResetPages(
        link_for=lambda secret: public_url(url_for("auth.reset_password_link", secret=secret)),
        code_page=public_url(url_for("auth.reset_password_code")),
        forgot_page=public_url(url_for("auth.forgot_password")),
    )


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
def forgot_password() -> Response | tuple[str, int]:
    form = ForgotPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            password_reset.request_password_reset(form.email.data, ip_address=request.remote_addr, pages=reset_pages())
        except Invalid as error:
            put_errors(form, error.errors, fallback="email")
            status = 422
        else:
            # The same page for every address, whether or not it has an account.
            session[RESET_EMAIL_KEY] = (form.email.data or "").strip()[:254]
            return done(password_reset.FORGOT_ANSWER, url_for("auth.reset_password_code"), "info")
    elif form.errors:
        status = 422
    return render_template("auth/forgot_password.html", form=form), status


@bp.route("/reset-password", methods=["GET", "POST"])
@public
def reset_password_code() -> Response | tuple[str, int]:
    form = ResetWithCodeForm()
    if request.method == "GET":
        form.email.data = session.get(RESET_EMAIL_KEY, "")
    status = 200
    if form.validate_on_submit():
        try:
            password_reset.reset_with_code(
                form.email.data,
                form.typed_code,
                form.new_password.data,
                ip_address=request.remote_addr,
                pages=reset_pages(),
            )
        except Invalid as error:  # ResetRefused (400) included: the message goes on the code
            put_errors(form, error.errors, fallback="code")
            status = error.status
        else:
            session.pop(RESET_EMAIL_KEY, None)
            return done(password_reset.RESET_DONE, url_for("auth.login"))
    elif form.errors:
        status = 422
    return render_template("auth/reset_password_code.html", form=form), status


@bp.route("/reset-password/<secret>", methods=["GET", "POST"])
@public
def reset_password_link(secret: str) -> Response | tuple[str, int]:
    form = SetPasswordForm()
    try:
        user = password_reset.reset_link_user(secret)
        if form.validate_on_submit():
            password_reset.reset_with_token(
                secret, form.new_password.data, ip_address=request.remote_addr, pages=reset_pages()
            )
            session.pop(RESET_EMAIL_KEY, None)
            return done(password_reset.RESET_DONE, url_for("auth.login"))
    except password_reset.ResetRefused as gone:
        return render_template("auth/reset_password_gone.html", message=gone.detail), gone.status
    except Invalid as error:
        put_errors(form, error.errors, fallback="new_password")
    status = 422 if form.errors else 200
    return render_template("auth/reset_password_link.html", form=form, user=user), status


# --- signing a practice up, and confirming the address -------------------------------------------


def signup_pages() -> signup.SignupPages:
    """Where the sign-up e-mails point, on ``PUBLIC_URL`` (never the request's Host)."""
    return signup.SignupPages(
        link_for=lambda secret: public_url(url_for("auth.confirm_email_link", secret=secret)),
        code_page=public_url(url_for("auth.confirm_email")),
        login_page=public_url(url_for("auth.login")),
        forgot_page=public_url(url_for("auth.forgot_password")),
    )


def require_signup_enabled() -> None:
    """``SIGNUP_ENABLED`` off (an operator-run installation): sign-up does not exist (404)."""
    if not current_app.config.get("SIGNUP_ENABLED"):
        raise NotFound("The requested resource was not found.")


@bp.route("/signup", methods=["GET", "POST"])
@public
def signup_page() -> Response | tuple[str, int]:
    require_signup_enabled()
    form = SignupForm()
    form.time_zone.choices = sorted(available_timezones())
    status = 200
    if form.validate_on_submit():
        registration = signup.Registration(
            name=form.name.data,
            email=form.email.data,
            password=form.password.data,
            practice_name=form.practice_name.data,
            time_zone=form.time_zone.data,
        )
        try:
            signup.register_practice(registration, ip_address=request.remote_addr, pages=signup_pages())
        except Invalid as error:
            put_errors(form, error.errors, fallback="email")
            status = error.status
        else:
            session[CONFIRM_EMAIL_KEY] = (form.email.data or "").strip()[:254]
            return done(signup.SIGNUP_ANSWER, url_for("auth.confirm_email"), "info")
    elif form.errors:
        status = 422
    return render_template("auth/signup.html", form=form), status


@bp.route("/confirm-email", methods=["GET", "POST"])
@public
def confirm_email() -> Response | tuple[str, int]:
    form, resend = ConfirmEmailForm(), ResendConfirmationForm(formdata=None)
    if request.method == "GET":
        form.email.data = resend.email.data = session.get(CONFIRM_EMAIL_KEY, "")
    status = 200
    if form.validate_on_submit():
        try:
            signup.confirm_with_code(form.email.data, form.typed_code, ip_address=request.remote_addr)
        except Invalid as error:  # ConfirmationRefused (400) included: the message goes on the code
            put_errors(form, error.errors, fallback="code")
            status = error.status
        else:
            session.pop(CONFIRM_EMAIL_KEY, None)
            return done(signup.CONFIRMED, url_for("auth.login"))
    elif form.errors:
        status = 422
    return render_template("auth/confirm_email.html", form=form, resend=resend), status


@bp.post("/confirm-email/resend")
@public
def resend_confirmation() -> Response | tuple[str, int]:
    form, resend = ConfirmEmailForm(formdata=None), ResendConfirmationForm()
    status = 422
    if resend.validate_on_submit():
        try:
            signup.resend_confirmation(resend.email.data, ip_address=request.remote_addr, pages=signup_pages())
        except Invalid as error:
            put_errors(resend, error.errors, fallback="email")
            status = error.status
        else:
            session[CONFIRM_EMAIL_KEY] = (resend.email.data or "").strip()[:254]
            return done(signup.RESEND_ANSWER, url_for("auth.confirm_email"), "info")
    form.email.data = resend.email.data
    return render_template("auth/confirm_email.html", form=form, resend=resend), status


@bp.route("/confirm-email/<secret>", methods=["GET", "POST"])
@public
def confirm_email_link(secret: str) -> Response | tuple[str, int]:
    form = ConfirmLinkForm()
    try:
        user = signup.confirmation_link_user(secret)
        if form.validate_on_submit():
            signup.confirm_with_token(secret, ip_address=request.remote_addr)
            session.pop(CONFIRM_EMAIL_KEY, None)
            return done(signup.CONFIRMED, url_for("auth.login"))
    except signup.ConfirmationRefused as gone:
        return render_template("auth/confirm_email_gone.html", message=gone.detail), gone.status
    return render_template("auth/confirm_email_link.html", form=form, user=user), 200
