"""The audit trail: the admin page and the chain check."""

from flask import Blueprint

bp = Blueprint("audit", __name__)
