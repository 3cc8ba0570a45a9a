"""Money is integers, rounded half-up once per line."""

from __future__ import annotations

import pytest

from clinic_app.billing.money import decimal_text, display, line_amounts, parse_amount, share


def test_share_rounds_half_up_in_integers():
    assert share(5, 1000) == 1  # 0.5 cent rounds up
    assert share(4, 1000) == 0  # 0.4 cent rounds down
    assert share(15, 1000) == 2  # 1.5 → 2
    assert share(-15, 1000) == -2  # symmetric away from zero
    assert share(12000, 1000) == 1200


def test_a_line_rounds_discount_and_tax_once_each():
    # 3 x $33.33 = $99.99, 12.5 % off = $12.49875 → $12.50, net $87.49, GST 10 % = $8.749 → $8.75
    amounts = line_amounts(3, 3333, 1250, 1000)
    assert (amounts.gross, amounts.discount, amounts.net, amounts.tax, amounts.total) == (9999, 1250, 8749, 875, 9624)


def test_amounts_as_text_and_back():
    assert decimal_text(123456) == "1234.56"
    assert decimal_text(-5) == "-0.05"
    assert display(123456) == "$1,234.56"
    assert parse_amount("$1,234.5") == 123450
    assert parse_amount("0.05") == 5
    for bad in ("12.345", "abc", "-3", ""):
        with pytest.raises(ValueError):
            parse_amount(bad)
