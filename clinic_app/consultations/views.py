"""Routes of consultations (being written)."""

from clinic_app.consultations import bp  # noqa: F401
