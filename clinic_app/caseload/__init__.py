"""A clinician's caseload: Today, active patients and the seed's active-patient JSON."""

from flask import Blueprint

bp = Blueprint("caseload", __name__)
