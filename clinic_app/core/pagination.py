"""Opaque cursors for lists that page by key.

A list hands out ``next_cursor`` (and sometimes ``prev_cursor``) and takes it back as ``cursor``.
The cursor is the text of a position (an id, or a few values the list joins with its own
separator) as UTF-8 in URL-safe base64 without padding: it travels in a query string as it is and
does not invite hand-editing. What the text means is the list's business; this module only turns
text into a cursor and back.

``decode_cursor`` accepts exactly what ``encode_cursor`` makes from usable text and raises
ValueError for anything else: longer than ``max_length`` characters, a character outside the
URL-safe alphabet (padding included), base64 that ``encode_cursor`` would not have written, bytes
that are not UTF-8, or text that ``core.text.unusable`` refuses (control characters). Each caller
turns that ValueError into its own ``Invalid`` naming its own field, so a stale or hand-edited
cursor is a 422, never a 500 when the text reaches the database.
"""

from __future__ import annotations

import base64
import binascii
import re

from clinic_app.core.text import unusable

MAX_CURSOR_LENGTH = 200
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
