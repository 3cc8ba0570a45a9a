"""Cliniko integration: the client, the sandbox, the sync engine and its runs, and the pages and
JSON endpoints an admin (or an integration) uses to connect Cliniko, start syncs and watch them.

The blueprint's routes live in ``views`` (Integrations and Sync pages), ``api`` (the seed's
``/api/v1/sync/*`` and ``/api/v1/cliniko/*``) and ``admin_api`` (``/api/v1/admin/*``); the app
factory imports them, so the other modules here can be used without Flask routes.
"""

from flask import Blueprint

bp = Blueprint("sync", __name__)
