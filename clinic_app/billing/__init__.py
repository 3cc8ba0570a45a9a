"""Billing: billable items, invoices with gap-free numbers, payments, credit notes, balances."""

from flask import Blueprint

bp = Blueprint("billing", __name__)
