"""The person's "where you are signed in" page: their browsers and API log-ins, signing one out,
or every one but this browser.

A person sees and ends only their own: another person's session id is 404. Ending this very
browser's session from the list is signing out. htmx buttons get the list back in place (with a
notice); plain forms get the confirmation page where one is due, then flash and the page again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth import bp, sign_ins
from clinic_app.auth.identity import current_identity, sign_out
from clinic_app.core.access import authenticated
from clinic_app.core.errors import Forbidden
from clinic_app.core.time import organization_zone
from clinic_app.core.web import done, is_htmx, render_confirm, render_page

PAGE = "auth/account_sessions.html"
PARTIAL = "auth/_account_sessions.html"


@dataclass(frozen=True)
class SignInRow:
    """One line of a table, with its times in the person's clinic's time zone."""

    sign_in: sign_ins.SignIn
    started: str
    last_seen: str


def _caller() -> sign_ins.Caller:
    identity = current_identity()
    if identity is None or identity.user is None:
        raise Forbidden("Only a person has sessions; an organization API token has none.")
    return sign_ins.Caller(
        user_id=identity.user.id,
        session_id=identity.session_row.id if identity.session_row is not None else None,
        family_id=identity.token_family_id,
        organization_id=identity.organization_id or identity.bound_organization_id,
    )


def _zone(caller: sign_ins.Caller) -> tzinfo:
    return organization_zone(caller.organization_id) if caller.organization_id else UTC


def _rows(items: list[sign_ins.SignIn], zone: tzinfo) -> list[SignInRow]:
    def when(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%d %b %Y, %H:%M") if value is not None else "—"

    return [SignInRow(item, when(item.created_at), when(item.last_seen_at)) for item in items]


def _render(caller: sign_ins.Caller, *, notice: str | None = None, partial: bool = False) -> str:
    browsers, apis = sign_ins.live_sign_ins(caller)
    zone = _zone(caller)
    context = {
        "browsers": _rows(browsers, zone),
        "apis": _rows(apis, zone),
        "others": sum(not item.current for item in [*browsers, *apis]),
        "notice": notice,
    }
    if partial:
        return render_template(PARTIAL, **context)
    return render_page(PAGE, PARTIAL, **context)


def _after(caller: sign_ins.Caller, message: str) -> ResponseReturnValue:
    if is_htmx():
        return _render(caller, notice=message, partial=True)
    return done(message, url_for("auth.account_sessions"))


@bp.get("/account/sessions")
@authenticated
def account_sessions() -> str:
    return _render(_caller())


@bp.post("/account/sessions/<session_id>/end")
@authenticated
def account_session_end(session_id: str) -> ResponseReturnValue:
    caller = _caller()
    if session_id == caller.session_id:
        sign_out()  # this browser's own session: that is signing out
        return done("You have signed out.", url_for("auth.login"))
    sign_ins.end_browser_session(caller, session_id)
    return _after(caller, "That browser was signed out. Its next page will ask it to sign in.")


@bp.post("/account/api-logins/<family_id>/end")
@authenticated
def account_api_login_end(family_id: str) -> ResponseReturnValue:
    caller = _caller()
    sign_ins.end_api_login(caller, family_id)
    return _after(caller, "That API log-in was ended. Its tokens no longer work.")


@bp.post("/account/sessions/end-others")
@authenticated
def account_sessions_end_others() -> ResponseReturnValue:
    caller = _caller()
    if request.form.get("confirmed") != "yes":
        # htmx buttons ask with hx-confirm and send confirmed=yes; a plain form gets this page.
        return render_confirm(
            title="Sign out all other sessions",
            question=(
                "Sign out every other browser and end every API log-in of your account? This browser stays signed in."
            ),
            button="Sign out all others",
            back=url_for("auth.account_sessions"),
            back_label="Cancel",
        )
    sign_ins.end_all_others(caller)
    return _after(caller, "Every other browser and API log-in of your account was signed out.")
