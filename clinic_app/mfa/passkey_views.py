"""The person's passkeys in the browser: the two steps of adding one (options, then the
authenticator's answer, both JSON for static/js/passkeys.js) and removing one with the password.

The ceremony's secret stays in the browser session (signed by the app, never shown to scripts);
the options the page receives hold nothing secret.
"""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, request, session, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field
from werkzeug.exceptions import RequestEntityTooLarge

from clinic_app.accounts.models import User
from clinic_app.core.access import authenticated
from clinic_app.core.api import parse_body
from clinic_app.core.errors import Forbidden, Invalid, wants_json
from clinic_app.core.identity import current_identity
from clinic_app.core.web import done, is_htmx
from clinic_app.mfa import bp, passkeys

REGISTER_KEY = "mfa_passkey_register"
# An authenticator's answer is a few kilobytes; a credential id alone is at most 1,023 bytes.
BODY_MAX = 64 * 1024


class PasskeyAnswer(BaseModel):
    """What passkeys.js posts: the credential as JSON (base64url fields) and, when adding, a name."""

    credential: dict[str, Any]
    name: str | None = Field(default=None, max_length=passkeys.NAME_MAX)


def passkey_answer() -> PasskeyAnswer:
    """The request's JSON answer from passkeys.js: 413 when too large, 415/400/422 as
    ``core.api.parse_body`` says."""
    if (request.content_length or 0) > BODY_MAX:
        raise RequestEntityTooLarge("The passkey's answer is too large.")
    body = parse_body(PasskeyAnswer)
    assert isinstance(body, PasskeyAnswer)
    return body


def _person() -> User:
    identity = current_identity()
    if identity is None or identity.user is None or identity.kind != "session":
        raise Forbidden("Passkeys are managed in the browser, signed in as yourself.")
    user: User = identity.user
    return user


def _security_page() -> str:
    return url_for("mfa.security") + "#passkeys-section"


@bp.post("/account/security/passkeys/options")
@authenticated
def passkey_registration_options() -> ResponseReturnValue:
    secret, options = passkeys.registration_options(_person())
    session[REGISTER_KEY] = secret
    return jsonify(options)


@bp.post("/account/security/passkeys")
@authenticated
def add_passkey() -> ResponseReturnValue:
    user = _person()
    body = passkey_answer()
    passkey = passkeys.finish_registration(user, session.pop(REGISTER_KEY, ""), body.credential, name=body.name)
    flash(f"Passkey “{passkey.name}” added. It can sign you in without your password.", "success")
    return jsonify({"redirect": _security_page()}), 201


@bp.post("/account/security/passkeys/<passkey_id>/remove")
@authenticated
def remove_passkey(passkey_id: str) -> ResponseReturnValue:
    user = _person()
    try:
        passkeys.remove(user, passkey_id, password=request.form.get("password", ""))
    except Invalid as wrong:
        if wants_json() or is_htmx():
            raise
        # The form lives on the security page: back there, with the message.
        return done(wrong.detail, _security_page(), "error")
    return done("The passkey was removed.", _security_page())
