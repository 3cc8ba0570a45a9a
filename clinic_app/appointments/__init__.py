"""Appointments, the practitioners and appointment types they refer to, and per-patient
appointment statistics.

Rows arrive from the Cliniko sync (clinic_app.sync); ``service`` holds the one written rule for
appointment status and patient activity (docs/rules.md). Pages and the JSON API come later.
"""
