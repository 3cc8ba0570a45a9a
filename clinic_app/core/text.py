"""Text the app can store: no NUL (PostgreSQL refuses it in text columns), no other control
characters but tab and line breaks, and no lone UTF-16 surrogates (JSON's ``"\\ud800"``, which no
encoder can turn into bytes). One rule, applied where text enters: URLs, query strings, JSON
bodies and form fields."""

from __future__ import annotations

import re
from typing import Any

from wtforms import Form
from wtforms.fields import Field
from wtforms.validators import ValidationError

_UNUSABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
MESSAGE = "Remove the control character or unpaired surrogate (not valid Unicode text): it cannot be stored."


def unusable(value: str) -> bool:
    """Whether ``value`` holds a character that cannot be stored or encoded."""
    return _UNUSABLE.search(value) is not None


def first_unusable(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The location (keys and indexes) of the first unusable string in parsed JSON, keys included;
    None when everything is usable. Walked without recursion."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if unusable(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and unusable(key):
                    return (*where, key)
                pending.append((child, (*where, key)))
        elif isinstance(item, list):
            pending.extend((child, (*where, index)) for index, child in enumerate(item))
    return None


def plain_text(_form: Form, field: Field) -> None:
    """WTForms validator: refuse unusable characters with a field message."""
    if isinstance(field.data, str) and unusable(field.data):
        raise ValidationError(MESSAGE)


def without_unusable(value: str) -> str:
    """``value`` with the unusable characters dropped: for text that is only looked up, never
    stored (a search term), where they cannot mean anything."""
    return _UNUSABLE.sub("", value)
