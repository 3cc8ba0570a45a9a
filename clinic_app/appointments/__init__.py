"""Appointments, the practitioners and appointment types they refer to, and per-patient
appointment statistics.

Rows arrive from the Cliniko sync (clinic_app.sync) or are booked here (``booking``) by clinics
without Cliniko; ``service`` holds the one written rule for appointment status and patient
activity (docs/rules.md). Pages in ``views``, JSON in ``api``.
"""

from flask import Blueprint

bp = Blueprint("appointments", __name__)
