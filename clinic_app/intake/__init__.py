"""Intake: the receptionist's step-by-step registration of a new patient (demographics, presenting
problem, symptoms, review), kept as an encrypted draft between steps, and the JSON API under
/api/v1/intake that creates a patient with their intake record and symptoms in one call."""

from flask import Blueprint

bp = Blueprint("intake", __name__)
