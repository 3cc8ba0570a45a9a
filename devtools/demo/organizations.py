"""Demo data for the embedded default: two clinics (so isolation can be seen) and one user per
role in the first. Idempotent: running it again changes nothing."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from clinic_app.accounts import service as accounts
from clinic_app.core import audit
from clinic_app.core.permissions import ADMIN, CLINICIAN, OWNER, RECEPTIONIST
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs
from clinic_app.orgs.models import Organization

DEMO_PASSWORD = "harbour-demo-password"  # noqa: S105 (demo data, refused in production)
DEMO_ORGANIZATIONS = (
    ("Harbour Physiotherapy", "harbour-physiotherapy", "Australia/Sydney", "AU"),
    ("Northside Mind Health", "northside-mind-health", "Australia/Melbourne", "AU"),
)
DEMO_USERS = (
    ("harbour-physiotherapy", OWNER, "owner@harbour.example", "Olivia Owner"),
    ("harbour-physiotherapy", ADMIN, "admin@harbour.example", "Adam Admin"),
    ("harbour-physiotherapy", CLINICIAN, "clinician@harbour.example", "Dr Chloe Clinician"),
    ("harbour-physiotherapy", RECEPTIONIST, "reception@harbour.example", "Riley Reception"),
    ("northside-mind-health", OWNER, "owner@northside.example", "Nadia Northside"),
)


def seed_demo() -> list[str]:
    if current_app.config["PRODUCTION"]:
        return ["Demo data is not created in production."]
    by_slug: dict[str, Organization] = {}
    for name, slug, time_zone, region in DEMO_ORGANIZATIONS:
        organization = db.session.scalar(select(Organization).where(Organization.slug == slug))
        if organization is None:
            organization = orgs.create_organization(name=name, time_zone=time_zone, region=region)
        by_slug[slug] = organization
    lines = ["Demo sign-in (password for every demo user: " + DEMO_PASSWORD + "):"]
    for slug, role, email, display_name in DEMO_USERS:
        user = accounts.find_by_email(email) or accounts.create_user(
            email=email, display_name=display_name, password=DEMO_PASSWORD
        )
        organization = by_slug[slug]
        if orgs.active_membership(user.id, organization.id) is None:
            orgs.add_membership(organization_id=organization.id, user=user, role=role, actor=audit.Actor())
        lines.append(f"  {role:<13} {email:<28} {organization.name}")
    return lines
