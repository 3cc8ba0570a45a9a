"""Opaque cursors: ``encode_cursor`` writes text as URL-safe base64 without padding, and
``decode_cursor`` gives back exactly that text or raises ValueError for anything it did not write."""

from __future__ import annotations

import base64

import pytest

from clinic_app.core.pagination import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor


@pytest.mark.parametrize(
    ("text", "cursor"),
    [
        ("", ""),
        ("a", "YQ"),
        ("ab", "YWI"),
        ("abc", "YWJj"),
        ("nope", "bm9wZQ"),
        ("n:pat_1", "bjpwYXRfMQ"),
        ("\xff\xfe", "w7_Dvg"),  # URL-safe alphabet: "_" where standard base64 has "/"
        (">>>", "Pj4-"),  # and "-" where it has "+"
    ],
)
def test_known_cursors(text, cursor):
    assert encode_cursor(text) == cursor
    assert decode_cursor(cursor) == text


@pytest.mark.parametrize(
    "text",
    [
        "pat_0123456789abcdefghijkl",
        "n:pat_x",
        "2024-05-01T09:30:00.000Z|cs_0123456789abcdefghijkl",
        "Ōtautahi · 東京 · 🙂",
        "tab\tand\nline\rbreaks",
        "x" * 149,
        "x" * 150,
    ],
)
def test_round_trip(text):
    cursor = encode_cursor(text)
    assert "=" not in cursor and all(c.isascii() and (c.isalnum() or c in "-_") for c in cursor)
    assert cursor == base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    assert decode_cursor(cursor) == text


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "garbage!",
        "bm9w ZQ",
        "bm9wZQ==",  # padded: cursors are written without padding
        "bm9wZQ=",
        "YQ=",
        "bm9wZQ+",  # standard alphabet, not URL-safe
        "bm9w/Q",
        "Y",  # a length no base64 has
        "bm9wZ",
        "YR",  # unused low bits set: not how "a" is written ("YQ")
        "YWJ",
        "Ｙｑ",  # full-width letters  # noqa: RUF001
        "YQ\n",
    ],
)
def test_what_is_not_cursor_base64_is_refused(cursor):
    with pytest.raises(ValueError):
        decode_cursor(cursor)


@pytest.mark.parametrize("raw", [b"\xff", b"\xc3", b"\xed\xa0\x80", b"pat_\x80"])
def test_bytes_that_are_not_utf8_are_refused(raw):
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(ValueError):
        decode_cursor(cursor)


@pytest.mark.parametrize("text", ["pat_\x00", "\x00", "a\x07b", "pat_\x1b[0m", "x\x7f", "\x0b", "\x0c"])
def test_control_characters_are_refused(text):
    with pytest.raises(ValueError):
        decode_cursor(encode_cursor(text))


def test_length_is_bounded():
    longest = encode_cursor("abc" * (MAX_CURSOR_LENGTH // 4))
    assert MAX_CURSOR_LENGTH == 200 and len(longest) == 200
    assert decode_cursor(longest) == "abc" * 50
    with pytest.raises(ValueError):
        decode_cursor(encode_cursor("abc" * 50 + "a"))
    with pytest.raises(ValueError):
        decode_cursor(encode_cursor("x" * 1000))


def test_max_length_is_the_callers_to_choose():
    cursor = encode_cursor("pat_0123456789")
    assert decode_cursor(cursor, max_length=len(cursor)) == "pat_0123456789"
    with pytest.raises(ValueError):
        decode_cursor(cursor, max_length=len(cursor) - 1)
    assert decode_cursor(encode_cursor("x" * 1000), max_length=2000) == "x" * 1000


def test_every_failure_is_a_value_error_not_a_subclass_callers_might_miss():
    for cursor in ("%%%", "Y", "YR", "_w", encode_cursor("\x00"), "a" * 201):
        with pytest.raises(ValueError) as caught:
            decode_cursor(cursor)
        assert type(caught.value) is ValueError
