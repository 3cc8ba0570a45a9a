"""Professional profiles (discipline, registration, qualifications, the signature block printed on
signed reports, a default report template) and the users API: who the caller is, the
organization's members and its practitioners."""

from flask import Blueprint

bp = Blueprint("profiles", __name__)
