"""The staff pages: managing an organization's staff and invitations (``admin:staff``), the
invited person's page to join, and switching the organization one works in.

They sit above auth (they sign people in and read their sessions' API tokens) while the domain they
act on is ``clinic_app.orgs``'s. The blueprint keeps the name "orgs", so endpoints stay
``orgs.staff``, ``orgs.invitation``, ``orgs.switch``.
"""

from flask import Blueprint

bp = Blueprint("orgs", __name__)
