"""Liveness and readiness: /health for load balancers, /api/v1/health/* for operators."""

from flask import Blueprint

bp = Blueprint("health", __name__)
