"""Clinical reports: templates, draft generation, review, signing, amendments and export."""

from flask import Blueprint

bp = Blueprint("reports", __name__)
