"""The practice dashboard: cards, charts and recent activity, as pages and the seed's JSON."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)
