"""How every list of the JSON API pages, and the opaque cursors it pages with.

The list convention (``/api/v1``; docs/integrations.md, "The JSON API: lists and errors", tells clients)
--------------------------------------------------------------------------------------------------------
* A list endpoint takes ``limit`` and ``cursor`` in its query. ``limit`` has a documented default
  and maximum (``limit_field(default, maximum)``: 1 to the maximum, else a 422);
  ``cursor`` (``cursor_field()``) is left out for the first page and is otherwise the
  ``next_cursor`` of the page before.
* It answers the page's items under ``items``, or under the name a seed document gives them
  (``patients``, ``reports``, ``data`` ...), and ``next_cursor`` (``next_cursor_field()``): pass
  it back as ``cursor`` for the next page; null on the last page. ``has_more`` may accompany it.
* A cursor that is malformed, hand-edited, from another list or stale is a 422 whose ``errors[]``
  names ``cursor`` with the code ``INVALID_CURSOR`` (``bad_cursor()``); a ``limit`` out of range
  is a 422 naming ``limit`` (``GREATER_THAN_EQUAL`` / ``LESS_THAN_EQUAL`` / ``INT_PARSING``).
* The route says it is a list: ``api_route(..., paginated="cursor")``. A list that earlier
  clients (seed 001's active-patient lists) page by ``offset`` keeps ``offset`` and takes
  ``cursor`` alongside it (``paginated="offset-seed", offset_reason="..."``; its cursors are
  ``offset_cursor`` positions; both at once is a 422, ``CONFLICTING_PARAMETERS``). A collection that
  is small by nature and returned whole (a clinic's tax rates) says why:
  ``api_route(..., unpaged="...")``. The OpenAPI document carries this as ``x-pagination``, and
  ``tests/test_api_conventions.py`` walks every registered list and fails on one that does not
  follow it (or on a collection that declares neither).

Cursors
-------
A list hands out ``next_cursor`` (and sometimes ``prev_cursor``) and takes it back as ``cursor``.
The cursor is the text of a position (an id, or a few values the list joins with its own
separator) as UTF-8 in URL-safe base64 without padding: it travels in a query string as it is and
does not invite hand-editing. What the text means is the list's business; this module only turns
text into a cursor and back.

``decode_cursor`` accepts exactly what ``encode_cursor`` makes from usable text and raises
ValueError for anything else: longer than ``max_length`` characters, a character outside the
URL-safe alphabet (padding included), base64 that ``encode_cursor`` would not have written, bytes
that are not UTF-8, or text that ``core.text.unusable`` refuses (control characters). Each caller
turns that ValueError into ``bad_cursor()`` (naming its own field when it is not ``cursor``), so a
stale or hand-edited cursor is a 422, never a 500 when the text reaches the database.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pydantic import Field

from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.text import unusable

MAX_CURSOR_LENGTH = 200
INVALID_CURSOR = "INVALID_CURSOR"
_URL_SAFE = re.compile("[A-Za-z0-9_-]*")


def encode_cursor(text: str) -> str:
    """``text`` as a cursor: its UTF-8 bytes in URL-safe base64, padding dropped."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, max_length: int = MAX_CURSOR_LENGTH) -> str:
    """The text ``encode_cursor`` made ``cursor`` from. ``max_length`` bounds the cursor as
    received (in characters), checked before anything is decoded. Raises ValueError for anything
    malformed (see the module docstring)."""
    if len(cursor) > max_length:
        raise ValueError(f"The cursor is longer than {max_length} characters.")
    if _URL_SAFE.fullmatch(cursor) is None or len(cursor) % 4 == 1:
        raise ValueError("The cursor is not URL-safe base64 without padding.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except binascii.Error:
        raise ValueError("The cursor is not URL-safe base64 without padding.") from None
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != cursor:
        # Unused low bits set in the last character: another spelling of the same bytes.
        raise ValueError("The cursor is not URL-safe base64 as cursors are written.")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ValueError("The cursor does not hold UTF-8 text.") from None
    if unusable(text):
        raise ValueError("The cursor holds a control character.")
    return text


def limit_field(default: int, maximum: int, note: str = "") -> Any:
    """The ``limit`` query parameter of a list: 1 to ``maximum``, ``default`` when left out
    (``note`` adds to the description, e.g. a smaller maximum with some option)."""
    return Field(
        default=default,
        ge=1,
        le=maximum,
        description=f"Page size: 1 to {maximum}; {default} when left out{note}",
    )


def cursor_field(max_length: int = MAX_CURSOR_LENGTH) -> Any:
    """The ``cursor`` query parameter of a list (bounded before anything decodes it)."""
    return Field(
        default=None,
        max_length=max_length,
        description="`next_cursor` of the previous page; leave out for the first page",
    )


def next_cursor_field() -> Any:
    """The ``next_cursor`` member of a list's answer."""
    return Field(description="Pass as `cursor` for the next page; null on the last page")


def bad_cursor(field: str = "cursor", message: str | None = None) -> Invalid:
    """The 422 for a cursor this list did not give out (or no longer understands)."""
    return Invalid(
        errors=[
            FieldError(field, message or "This cursor is not valid; start again from the first page.", INVALID_CURSOR)
        ]
    )


def offset_cursor(offset: int) -> str:
    """The cursor of a position in a list that pages by offset (the seed lists that keep it)."""
    return encode_cursor(f"o:{offset}")


def offset_from_cursor(cursor: str, *, maximum: int) -> int:
    """The position ``offset_cursor`` wrote, at most ``maximum``; ``bad_cursor()`` for anything else."""
    try:
        kind, _, number = decode_cursor(cursor).partition(":")
    except ValueError:
        raise bad_cursor() from None
    if kind != "o" or not number.isascii() or not number.isdigit() or len(number) > 9 or int(number) > maximum:
        raise bad_cursor()
    return int(number)
