"""Organization API tokens: list, create (the secret is shown once), revoke.

Only a signed-in person with ``admin:tokens`` manages tokens (a token cannot mint or revoke
tokens), and a new token may carry only permissions the creator's role holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Response, flash, redirect, render_template, url_for

from clinic_app.accounts import service as accounts
from clinic_app.auth import api_tokens as tokens
from clinic_app.auth import bp
from clinic_app.auth.forms import ApiTokenForm
from clinic_app.auth.identity import Identity, current_identity
from clinic_app.auth.models import ApiToken
from clinic_app.core.access import requires
from clinic_app.core.errors import Forbidden, Invalid, NotFound
from clinic_app.core.permissions import PERMISSIONS, ROLE_PERMISSIONS, expand
from clinic_app.core.tenancy import current_organization_id
from clinic_app.core.time import organization_zone, utcnow
from clinic_app.core.web import is_htmx, put_errors, render_page

# Service field names that the form calls differently.
_FORM_FIELDS = {"expires_in_days": "expires_in"}


@dataclass(frozen=True)
class TokenRow:
    """One line of the token list, with times already in the clinic's time zone."""

    token: ApiToken
    status: str  # "active", "revoked" or "expired"
    created_by: str | None
    created: str
    last_used: str | None
    expires: str | None


def token_status(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and now >= token.expires_at:
        return "expired"
    return "active"


def _admin() -> Identity:
    identity = current_identity()
    if identity is None or identity.user is None or identity.role is None:
        raise Forbidden("API tokens are managed by a signed-in admin, not by another API token.")
    return identity


def _form(identity: Identity, *, bound: bool = True) -> ApiTokenForm:
    form = ApiTokenForm() if bound else ApiTokenForm(formdata=None)
    assert identity.role is not None
    form.scopes.choices = [(name, PERMISSIONS[name]) for name in expand(ROLE_PERMISSIONS[identity.role])]
    return form


def _creator_name(user_id: str | None, cache: dict[str, str | None]) -> str | None:
    if user_id is None:
        return None
    if user_id not in cache:
        try:
            cache[user_id] = accounts.get_user(user_id).display_name
        except NotFound:
            cache[user_id] = None
    return cache[user_id]


def _rows(organization_id: str) -> list[TokenRow]:
    zone = organization_zone(organization_id)
    now, names = utcnow(), {}

    def when(value: datetime | None, pattern: str = "%d %b %Y, %H:%M") -> str | None:
        return value.astimezone(zone).strftime(pattern) if value is not None else None

    return [
        TokenRow(
            token=token,
            status=token_status(token, now),
            created_by=_creator_name(token.created_by_id, names),
            created=when(token.created_at) or "",
            last_used=when(token.last_used_at),
            expires=when(token.expires_at, "%d %b %Y"),
        )
        for token in tokens.list_api_tokens(organization_id)
    ]


def _render(
    form: ApiTokenForm, *, status: int = 200, created: ApiToken | None = None, secret: str | None = None
) -> tuple[str, int]:
    context = {"form": form, "tokens": _rows(current_organization_id()), "created": created, "secret": secret}
    return render_page("auth/api_tokens.html", "auth/_api_tokens.html", **context), status


@bp.get("/settings/api-tokens")
@requires("admin:tokens")
def api_tokens() -> tuple[str, int]:
    return _render(_form(_admin(), bound=False))


@bp.post("/settings/api-tokens")
@requires("admin:tokens")
def api_token_create() -> tuple[str, int]:
    identity = _admin()
    form = _form(identity)
    if form.validate_on_submit():
        assert identity.user is not None and identity.role is not None
        try:
            token, secret = tokens.create_api_token(
                organization_id=current_organization_id(),
                name=form.name.data or "",
                scopes=list(form.scopes.data or []),
                expires_in_days=form.expires_in_days,
                creator=identity.user,
                creator_role=identity.role,
            )
        except Invalid as error:
            put_errors(form, error.errors, renames=_FORM_FIELDS, fallback="name")
        else:
            # Not a redirect: the secret exists only in this response and is never stored in plain.
            return _render(_form(identity, bound=False), status=201, created=token, secret=secret)
    return _render(form, status=422)


@bp.post("/settings/api-tokens/<token_id>/revoke")
@requires("admin:tokens")
def api_token_revoke(token_id: str) -> Response | str:
    identity = _admin()
    token = tokens.revoke_api_token(organization_id=current_organization_id(), token_id=token_id, actor=identity.actor)
    message = f"The token “{token.name}” was revoked. Integrations using it can no longer call the API."
    if is_htmx():
        return render_template("auth/_api_token_list.html", tokens=_rows(current_organization_id()), notice=message)
    flash(message, "success")
    return redirect(url_for("auth.api_tokens"), code=303)
