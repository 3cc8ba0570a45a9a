"""Re-engagement: the worklist of patients to contact, its figures and CSV, and recording contact
outcomes (the figures and rules themselves are in ``clinic_app.figures``)."""

from flask import Blueprint

bp = Blueprint("engagement", __name__)
