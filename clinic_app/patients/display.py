"""How the patient list and record show a value that may be missing or unreadable: Python
helpers for the templates (a Jinja macro per cell of a 25-row list cost more than the rest of
the row), each returning markup with the value escaped."""

from __future__ import annotations

from datetime import date
from typing import Any

from markupsafe import Markup, escape

from clinic_app.core.crypto import Unreadable
from clinic_app.patients.validation import format_phone

UNREADABLE_HTML = Markup(
    '<span class="unreadable" data-unreadable title="This value could not be decrypted. The problem has been '
    'reported to the practice admins.">unreadable</span>'
)


def long_date(value: Any) -> str:
    return value.strftime("%d %b %Y") if isinstance(value, date) else ""


def shown(value: Any, empty: str = "Not recorded") -> Markup:
    """The value, "unreadable" flagged, or ``empty`` muted when there is none."""
    if isinstance(value, Unreadable):
        return UNREADABLE_HTML
    if value is None or value == "":
        return Markup('<span class="muted">%s</span>') % empty
    return escape(value)


def birth_date(value: Any, today: date, empty: str = "Not recorded") -> Markup:
    """The date of birth with the age on ``today``."""
    if isinstance(value, Unreadable) or value is None:
        return shown(value, empty)
    age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    return Markup('<time datetime="%s">%s</time> <span class="muted">(%s)</span>') % (
        value.isoformat(),
        long_date(value),
        age,
    )


def phone(value: Any, empty: str = "No phone") -> Markup:
    """A phone as a tel: link, formatted for reading."""
    if isinstance(value, Unreadable) or value is None:
        return shown(value, empty)
    return Markup('<a href="tel:%s">%s</a>') % (value.number, format_phone(value.number))
