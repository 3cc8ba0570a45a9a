"""Routes of engagement (being written)."""

from clinic_app.engagement import bp  # noqa: F401
