"""Routes of caseload (being written)."""

from clinic_app.caseload import bp  # noqa: F401
