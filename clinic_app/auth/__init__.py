"""Signing in and out (browser), API authentication, API tokens."""

from flask import Blueprint

bp = Blueprint("auth", __name__)
