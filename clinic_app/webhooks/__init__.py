"""Outbound webhooks: endpoints per organization, a transactional outbox, signed delivery with
retries, the delivery log and its analytics, and the Integrations page (which also holds the
organization's CORS origins)."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__)
