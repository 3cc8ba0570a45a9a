"""Liveness and readiness: /health for load balancers, /api/v1/health/* for operators."""

from flask import Blueprint

bp = Blueprint("health", __name__)

from clinic_app.health import api  # noqa: E402,F401  (registers the routes)
