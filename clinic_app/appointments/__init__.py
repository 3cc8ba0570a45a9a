"""Appointments and the practitioners and appointment types they refer to.

Rows arrive from the Cliniko sync (clinic_app.sync) or are booked here (``booking``) by clinics
without Cliniko; ``service`` holds the one written rule for appointment status and ``timing`` the
rules about an appointment's time (docs/rules.md). Every change here is announced on
``signals.appointments_changed`` (what the appointments add up to is ``clinic_app.figures``').
Pages in ``views``, JSON in ``api``.
"""

from flask import Blueprint

bp = Blueprint("appointments", __name__)
