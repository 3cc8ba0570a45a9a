"""Demo data for the embedded default: the first demo clinic connected to a sandbox Cliniko.

``make run`` starts ``flask cliniko-sandbox`` (seed 42) and sets ``CLINIKO_SANDBOX_URL``; this
seeder then stores the sandbox's key for *Harbour Physiotherapy*. The sandbox's key follows from
its seed, so it is computed here rather than read from the other process's output. Nothing is
synced: the admin starts the first sync from the Sync page. Idempotent: run again with the same
sandbox it changes nothing; with the sandbox on another address it points the connection there;
a connection someone made with another key is left alone.
"""

from __future__ import annotations

import time

import httpx
from flask import current_app
from sqlalchemy import select

from clinic_app.core import audit
from clinic_app.core.errors import DomainError
from clinic_app.extensions import db
from clinic_app.orgs.models import Organization
from clinic_app.sync import service
from clinic_app.sync.cliniko import mask_key
from clinic_app.sync.models import ClinikoConnection
from devtools.sandbox import default_api_key

DEMO_ORGANIZATION_SLUG = "harbour-physiotherapy"
SANDBOX_SEED = 42  # flask cliniko-sandbox's default seed, which make run uses
WAIT_SECONDS = 20.0  # the sandbox builds its clinic (well under a second) before it listens


def _sandbox_answers(url: str, api_key: str, deadline: float) -> bool:
    """Whether the sandbox answers its control endpoint before ``deadline`` (it may be starting)."""
    while True:
        try:
            response = httpx.get(f"{url}/_sandbox/counts", auth=(api_key, ""), timeout=2.0)
            if response.status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def seed_demo_connection() -> list[str]:
    """Connect the demo clinic to the sandbox at ``CLINIKO_SANDBOX_URL``; returns lines to print."""
    url = (current_app.config.get("CLINIKO_SANDBOX_URL") or "").rstrip("/")
    if current_app.config["PRODUCTION"]:
        return []
    organization = db.session.scalar(select(Organization).where(Organization.slug == DEMO_ORGANIZATION_SLUG))
    if organization is None:
        return []
    if not url:
        return ["Cliniko sandbox: not configured (make run starts one and connects the demo clinic to it)."]
    api_key = default_api_key(SANDBOX_SEED)
    template = f"{url}/{{shard}}/v1"
    existing = db.session.scalar(select(ClinikoConnection).where(ClinikoConnection.organization_id == organization.id))
    where = f"Cliniko sandbox: {url}/au1/v1 (key {mask_key(api_key)})"
    next_step = "  Sign in as admin@harbour.example and open Sync to start the first sync."
    if existing is not None and existing.key_hint != mask_key(api_key):
        return [f"{where}; {organization.name} keeps the Cliniko connection someone gave it."]
    if existing is not None and existing.base_url_template == template:
        return [f"{where}; {organization.name} is connected.", next_step]
    if not _sandbox_answers(url, api_key, time.monotonic() + WAIT_SECONDS):
        return [f"{where} did not answer; connect Cliniko later on the Integrations page."]
    try:
        service.connect(organization.id, api_key, base_url_template=template, actor=audit.Actor())
    except DomainError as error:
        return [f"{where}: could not connect {organization.name}: {error.detail}"]
    return [f"{where}; {organization.name} is now connected.", next_step]
