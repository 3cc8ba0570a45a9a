"""The front door: the home page (or the API's root information), and the API documentation."""

from flask import Blueprint

bp = Blueprint("site", __name__)
