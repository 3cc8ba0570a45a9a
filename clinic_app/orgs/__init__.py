"""Organizations (clinics), memberships and staff management."""

from flask import Blueprint

bp = Blueprint("orgs", __name__)
