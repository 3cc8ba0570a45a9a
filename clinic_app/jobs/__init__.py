"""Background job pages: start the demonstration job, watch any job's progress, cancel it."""

from flask import Blueprint

bp = Blueprint("jobs", __name__)

from clinic_app.jobs import api, demo, views  # noqa: E402,F401
