"""Routes of appointments (being written)."""

from clinic_app.appointments import bp  # noqa: F401
