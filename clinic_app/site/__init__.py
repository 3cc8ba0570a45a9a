"""The front door: the home page (or the API's root information), and the API documentation."""

from flask import Blueprint

bp = Blueprint("site", __name__)

from clinic_app.site import views  # noqa: E402,F401
