"""Consultation sessions and their transcripts."""

from flask import Blueprint

bp = Blueprint("consultations", __name__)
