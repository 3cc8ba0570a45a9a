"""Looking after the installation: platform operators' pages (system health, queues and failed
jobs, organizations by counts, retention runs), the monitoring API (system health, seed 004's
metrics, Prometheus ``/metrics``) and retention and clean-up (docs/retention.md)."""

from flask import Blueprint

bp = Blueprint("operators", __name__)
