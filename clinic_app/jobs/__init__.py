"""Background job pages: start the demonstration job, watch any job's progress, cancel it."""

from flask import Blueprint

bp = Blueprint("jobs", __name__)
