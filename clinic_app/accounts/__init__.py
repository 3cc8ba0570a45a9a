"""People who sign in: their accounts, passwords and profile."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)
