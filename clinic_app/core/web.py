"""The web kit every feature's pages share: one URL, one view, two renders (page or htmx
partial); a service's field errors on a form; "flash, then go on" after a change; the one
confirmation page before a destructive action; and the only ``next=`` we follow."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import Field

from clinic_app.core.errors import FieldError, is_htmx

__all__ = ["NEXT_MAX", "done", "is_htmx", "put_errors", "render_confirm", "render_page", "safe_next"]

NEXT_MAX = 2000  # longer than any page of ours needs


def render_page(page: str, partial: str, **context: Any) -> str:
    """The full page, or just ``partial`` (which the page includes) for an htmx request."""
    return render_template(partial if is_htmx() else page, **context)


def put_errors(
    form: FlaskForm,
    errors: Iterable[FieldError],
    *,
    renames: Mapping[str, str] | None = None,
    fallback: str | None = None,
) -> None:
    """A service's field errors on the form's fields (``renames`` maps a service's field name to
    the form's). An error for a field the form does not have goes on ``fallback`` when given, else
    above the form (``form.form_errors``)."""
    for item in errors:
        name = (renames or {}).get(item.field, item.field)
        field = getattr(form, name, None)
        if not isinstance(field, Field) and fallback is not None:
            field = getattr(form, fallback, None)
        if isinstance(field, Field):
            field.errors = [*list(field.errors or []), item.message]
        else:
            form.form_errors.append(item.message)


def done(message: str | None, target: str, category: str = "success") -> ResponseReturnValue:
    """After a change: flash ``message`` (unless None: nothing to say), then show ``target`` (a 303
    for a browser form, an empty 200 with ``HX-Redirect`` for htmx, which follows it)."""
    if message:
        flash(message, category)
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def render_confirm(
    *,
    title: str,
    question: str,
    button: str,
    back: str,
    danger: bool = True,
    hidden: Mapping[str, str] | None = None,
    back_label: str = "Go back",
) -> str:
    """The confirmation page before a destructive action: it posts back to the same URL with
    ``confirmed=yes`` (and ``hidden`` fields), or goes ``back``."""
    return render_template(
        "confirm.html",
        title=title,
        question=question,
        button=button,
        back=back,
        back_label=back_label,
        danger=danger,
        hidden=dict(hidden or {}),
    )


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
