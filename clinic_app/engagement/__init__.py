"""Re-engagement: the written rules for engagement and risk, the worklist and contact outcomes."""

from flask import Blueprint

bp = Blueprint("engagement", __name__)
