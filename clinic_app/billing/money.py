"""Money as integer minor units (cents), never floats: a line's amounts, rounded half-up once per
line, and amounts as text for pages, PDFs and exports.

A line is ``quantity x unit_price`` (before tax), less ``discount_basis_points`` of that (rounded
half-up to the cent), and its tax is ``tax_basis_points`` of what remains (rounded half-up). The
invoice's subtotal, tax and total are the sums of its lines' rounded amounts, so the document always
adds up line by line (docs/billing.md).
"""

from __future__ import annotations

from dataclasses import dataclass

BASIS = 10_000  # basis points in one whole
MAX_AMOUNT = 10_000_000  # $100,000 a line, price or payment: beyond any clinic's, and 50 lines fit 32 bits
MAX_QUANTITY = 1_000

CURRENCIES = ("AUD", "NZD", "GBP", "USD", "CAD", "EUR")  # each with two decimal places
SYMBOLS = {"AUD": "$", "NZD": "$", "USD": "$", "CAD": "$", "GBP": "£", "EUR": "€"}


def share(amount: int, basis_points: int) -> int:
    """``amount x basis_points / 10000`` rounded half-up (away from zero at exactly half), in
    integers only."""
    if amount < 0:
        return -share(-amount, basis_points)
    return (amount * basis_points * 2 + BASIS) // (2 * BASIS)


@dataclass(frozen=True)
class LineAmounts:
    gross: int
    discount: int
    net: int
    tax: int
    total: int


def line_amounts(quantity: int, unit_price: int, discount_basis_points: int, tax_basis_points: int) -> LineAmounts:
    """A line's amounts in minor units, each rounded half-up once."""
    gross = quantity * unit_price
    discount = share(gross, discount_basis_points)
    net = gross - discount
    tax = share(net, tax_basis_points)
    return LineAmounts(gross=gross, discount=discount, net=net, tax=tax, total=net + tax)


def decimal_text(amount: int) -> str:
    """``12345`` → ``"123.45"`` (for exports: a plain decimal, no symbol or separators)."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole}.{cents:02d}"


def display(amount: int, currency: str = "AUD") -> str:
    """``12345`` → ``"$123.45"``, thousands separated, for pages and PDFs."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{whole:,}.{cents:02d}"


def parse_amount(text: str) -> int:
    """``"123.4"`` or ``"$1,234.50"`` → minor units. Raises ValueError for anything else (more than
    two decimals, letters, a negative sign, too large)."""
    cleaned = (text or "").strip().replace(",", "").lstrip("$£€").strip()
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() and not (whole == "" and fraction):
        raise ValueError("Enter an amount such as 120.00.")
    if fraction and (not fraction.isdigit() or len(fraction) > 2):
        raise ValueError("Enter an amount with at most two decimals.")
    amount = int(whole or "0") * 100 + int((fraction + "00")[:2] or "0")
    if amount > MAX_AMOUNT:
        raise ValueError("The amount is too large.")
    return amount
