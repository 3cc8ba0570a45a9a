"""The list's and record's cell helpers (``patients.display``): what a value, a missing one and an
unreadable one look like, always escaped."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from clinic_app.core.crypto import UNREADABLE
from clinic_app.patients import display

TODAY = date(2026, 12, 7)


def test_a_value_is_escaped_a_missing_one_muted_an_unreadable_one_flagged():
    assert str(display.shown("<b>O'Brien</b>")) == "&lt;b&gt;O&#39;Brien&lt;/b&gt;"
    assert str(display.shown("", "No <e-mail>")) == '<span class="muted">No &lt;e-mail&gt;</span>'
    assert str(display.shown(None)) == '<span class="muted">Not recorded</span>'
    assert 'data-unreadable title="This value could not be decrypted.' in str(display.shown(UNREADABLE))


def test_birth_date_shows_the_age_on_the_day_leap_days_included():
    assert str(display.birth_date(date(2000, 2, 29), TODAY)) == (
        '<time datetime="2000-02-29">29 Feb 2000</time> <span class="muted">(26)</span>'
    )
    assert "(35)" in str(display.birth_date(date(1990, 12, 8), TODAY))  # the birthday is tomorrow
    assert "(36)" in str(display.birth_date(date(1990, 12, 7), TODAY))
    assert str(display.birth_date(None, TODAY)) == '<span class="muted">Not recorded</span>'
    assert "data-unreadable" in str(display.birth_date(UNREADABLE, TODAY))


def test_a_phone_is_a_tel_link_and_its_number_is_escaped():
    assert str(display.phone(SimpleNamespace(number="+61412345678"))).startswith('<a href="tel:+61412345678">')
    assert "&lt;" in str(display.phone(SimpleNamespace(number="+1<2")))
    assert str(display.phone(None)) == '<span class="muted">No phone</span>'
