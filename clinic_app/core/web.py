"""htmx conventions: one URL, one view, two renders."""

from __future__ import annotations

from typing import Any

from flask import render_template

from clinic_app.core.errors import is_htmx

__all__ = ["is_htmx", "render_page"]


def render_page(page: str, partial: str, **context: Any) -> str:
    """The full page, or just ``partial`` (which the page includes) for an htmx request."""
    return render_template(partial if is_htmx() else page, **context)
