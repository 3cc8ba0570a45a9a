"""Routes of dashboard (being written)."""

from clinic_app.dashboard import bp  # noqa: F401
