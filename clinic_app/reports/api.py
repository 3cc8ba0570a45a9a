"""Routes of reports (being written)."""

from clinic_app.reports import bp  # noqa: F401
