"""Patient records: one organization-scoped record per patient, PHI encrypted per field, with
the list, search, record page and JSON API built on it."""

from flask import Blueprint

bp = Blueprint("patients", __name__)
