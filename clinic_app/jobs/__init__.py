"""Background job pages and API: watch a job's progress and cancel it, for the people who may see
and act on what the job works on (the policy each job kind declares in ``core.jobs``)."""

from flask import Blueprint

bp = Blueprint("jobs", __name__)
