"""Organizations and memberships: creating a clinic, reading it, and the membership primitives
(add, change role, end) that demo data, the CLI and staff management build on. The last owner of an
organization can never be removed. What a person may do to another's membership is
``orgs.staffing``'s."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import ColumnElement, Select, and_, func, select, update

from clinic_app.accounts.models import User
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.memo import per_request
from clinic_app.core.permissions import OWNER, ROLES
from clinic_app.extensions import db
from clinic_app.orgs.models import Membership, Organization
from clinic_app.orgs.signals import membership_ended, membership_role_changed

# Who must sign in with a second factor, per organization (``settings["two_factor_required"]``).
TWO_FACTOR_OFF, TWO_FACTOR_ADMINS, TWO_FACTOR_EVERYONE = "off", "admins", "everyone"
TWO_FACTOR_POLICIES = (TWO_FACTOR_OFF, TWO_FACTOR_ADMINS, TWO_FACTOR_EVERYONE)
_ADMIN_ROLES = frozenset({OWNER, "admin"})


@dataclass(frozen=True)
class MembershipView:
    organization_id: str
    organization_name: str
    role: str
    two_factor_policy: str = TWO_FACTOR_OFF

    @property
    def requires_two_factor(self) -> bool:
        """Whether this organization requires a second factor of someone with this role."""
        if self.two_factor_policy == TWO_FACTOR_EVERYONE:
            return True
        return self.two_factor_policy == TWO_FACTOR_ADMINS and self.role in _ADMIN_ROLES


def _slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "clinic"
    candidate, n = slug, 2
    while db.session.scalar(select(Organization.id).where(Organization.slug == candidate)):
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def create_organization(*, name: str, time_zone: str = "UTC", region: str = "AU") -> Organization:
    """A new clinic. Raises Invalid for an empty name, unknown time zone or region."""
    name = (name or "").strip()
    errors = []
    if not name or len(name) > 200:
        errors.append(FieldError("name", "Enter a name of 1 to 200 characters."))
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError("time_zone", f"{time_zone!r} is not a known time zone (e.g. Australia/Sydney)."))
    region = (region or "").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        errors.append(FieldError("region", f"{region!r} is not a known two-letter country code (e.g. AU)."))
    if errors:
        raise Invalid(errors=errors)
    organization = Organization(name=name, slug=_slugify(name), time_zone=time_zone, region=region, settings={})
    db.session.add(organization)
    db.session.flush()
    crypto.ensure_keys(organization.id)
    audit.record(
        "organization.created", organization_id=organization.id, target_type="organization", target_id=organization.id
    )
    return organization


def get_organization(organization_id: str) -> Organization:
    """The active organization (NotFound otherwise). Kept for the rest of the request: a page asks
    for its region, time zone and name several times, and the session's identity map holds the
    row only while something references it."""
    cache = per_request("organizations")
    organization = cache.get(organization_id) if cache is not None else None
    if organization is None:
        organization = db.session.get(Organization, organization_id)
    if organization is None or not organization.is_active:
        raise NotFound("No such organization.")
    if cache is not None:
        cache[organization_id] = organization
    return organization


def active_membership(user_id: str, organization_id: str) -> Membership | None:
    return db.session.scalar(
        select(Membership)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(
            Membership.user_id == user_id,
            Membership.organization_id == organization_id,
            Membership.is_active.is_(True),
            Organization.is_active.is_(True),
        )
    )


def memberships_of(user_id: str) -> list[MembershipView]:
    """The user's active memberships, oldest first (the first is the default organization)."""
    rows = db.session.execute(
        select(Membership.role, Organization)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Membership.user_id == user_id, Membership.is_active.is_(True), Organization.is_active.is_(True))
        .order_by(Membership.created_at, Organization.name)
    ).all()
    return membership_views(rows)


def with_memberships(query: Select[Any], user_id: ColumnElement[str]) -> Select[Any]:
    """``query`` (one row per user) with the user's active memberships in active organizations
    joined, as ``memberships_of`` reads them: one row per membership, in its order, or one row
    whose role and organization are None for someone with none. A caller that reads the user
    anyway (each signed-in request) reads their memberships in the same statement."""
    return (
        query.add_columns(Membership.role, Organization)
        .outerjoin(Membership, and_(Membership.user_id == user_id, Membership.is_active.is_(True)))
        .outerjoin(Organization, and_(Organization.id == Membership.organization_id, Organization.is_active.is_(True)))
        .order_by(Membership.created_at, Organization.name)
    )


def membership_views(rows: Iterable[Any]) -> list[MembershipView]:
    """``memberships_of``'s answer from (role, organization) rows a caller read itself (rows
    without an organization are skipped)."""
    found = [(row.role, row.Organization) for row in rows if row.Organization is not None]
    # The request will ask for one of these organizations (its name, region, time zone) anyway:
    # keep the rows just read, which saves that query.
    cache = per_request("organizations")
    if cache is not None:
        for _role, organization in found:
            cache.setdefault(organization.id, organization)
    return [
        MembershipView(organization.id, organization.name, role, two_factor_policy(organization))
        for role, organization in found
    ]


def keys_version(organization_id: str) -> int | None:
    """How many times the organization's keys changed (None for no such organization), from the
    row this request already read when it did (``core.crypto.vault_for`` asks)."""
    cache = per_request("organizations")
    organization = cache.get(organization_id) if cache is not None else None
    if organization is None:
        organization = db.session.get(Organization, organization_id)
    return organization.keys_version if organization is not None else None


def _count_key_change(_sender: Any, *, organization_id: str, **_: Any) -> None:
    db.session.execute(
        update(Organization)
        .where(Organization.id == organization_id)
        .values(keys_version=Organization.keys_version + 1)
    )


crypto.keys_changed.connect(_count_key_change)


def two_factor_policy(organization: Organization) -> str:
    value = (organization.settings or {}).get("two_factor_required")
    return value if value in TWO_FACTOR_POLICIES else TWO_FACTOR_OFF


def set_two_factor_policy(organization_id: str, policy: str, *, actor: audit.Actor) -> Organization:
    """Require a second factor of nobody, the owners and admins, or everyone. Raises Invalid for
    another value. (Whether the person setting it has a factor is the caller's rule.)"""
    if policy not in TWO_FACTOR_POLICIES:
        raise Invalid(errors=[FieldError("policy", f"Choose one of: {', '.join(TWO_FACTOR_POLICIES)}.")])
    organization = get_organization(organization_id)
    before = two_factor_policy(organization)
    organization.settings = {**(organization.settings or {}), "two_factor_required": policy}
    db.session.flush()
    if before != policy:
        audit.record(
            "organization.two_factor_policy_changed",
            organization_id=organization_id,
            actor=actor,
            target_type="organization",
            target_id=organization_id,
            details={"from": before, "to": policy},
        )
    return organization


def check_role(role: str) -> None:
    """Raises Invalid unless ``role`` is one of the roles."""
    if role not in ROLES:
        raise Invalid(errors=[FieldError("role", f"Choose one of: {', '.join(ROLES)}.")])


def add_membership(*, organization_id: str, user: User, role: str, actor: audit.Actor) -> Membership:
    """Give ``user`` a role in the organization (re-activating an old membership if there is one).

    Raises Invalid for an unknown role, Conflict when they are already an active member.
    """
    check_role(role)
    membership = db.session.scalar(
        select(Membership).where(Membership.organization_id == organization_id, Membership.user_id == user.id)
    )
    if membership is not None and membership.is_active:
        raise Conflict("This person is already a member of the organization.")
    if membership is None:
        membership = Membership(organization_id=organization_id, user_id=user.id, role=role, is_active=True)
        db.session.add(membership)
    else:
        membership.role, membership.is_active = role, True
    db.session.flush()
    audit.record(
        "membership.added",
        organization_id=organization_id,
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"role": role},
    )
    return membership


def get_membership(organization_id: str, membership_id: str) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.organization_id != organization_id:
        raise NotFound("No such member.")
    return membership


def _active_owner_count(organization_id: str) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.organization_id == organization_id,
                Membership.role == OWNER,
                Membership.is_active.is_(True),
                User.is_active.is_(True),
            )
        )
        or 0
    )


def change_role(*, organization_id: str, membership_id: str, role: str, actor: audit.Actor) -> Membership:
    """Raises Invalid (unknown role), NotFound, or Conflict (it would leave no owner)."""
    check_role(role)
    membership = get_membership(organization_id, membership_id)
    if membership.role == role:
        return membership
    if membership.role == OWNER and membership.is_active and _active_owner_count(organization_id) <= 1:
        raise Conflict("This is the organization's last owner. Make someone else an owner first.")
    previous = membership.role
    membership.role = role
    db.session.flush()
    membership_role_changed.send(
        membership, organization_id=organization_id, user_id=membership.user_id, role=role, actor=actor
    )
    audit.record(
        "membership.role_changed",
        organization_id=organization_id,
        actor=actor,
        target_type="user",
        target_id=membership.user_id,
        details={"from": previous, "to": role},
    )
    return membership


def deactivate_membership(*, organization_id: str, membership_id: str, actor: audit.Actor) -> Membership:
    """Remove someone from the organization: from the next request on they cannot act in it.

    It touches this membership only. The person's account, password, sessions and their log-ins
    for other organizations go on; the credentials that act for this organization alone (API
    log-ins bound to it, API tokens they created here) are ended by the receivers of
    ``membership_ended``. Raises NotFound, or Conflict for the last owner.
    """
    membership = get_membership(organization_id, membership_id)
    if not membership.is_active:
        return membership
    if membership.role == OWNER and _active_owner_count(organization_id) <= 1:
        raise Conflict("This is the organization's last owner and cannot be removed.")
    membership.is_active = False
    db.session.flush()
    membership_ended.send(
        membership, organization_id=organization_id, user_id=membership.user_id, role=membership.role, actor=actor
    )
    audit.record(
        "membership.deactivated",
        organization_id=organization_id,
        actor=actor,
        target_type="user",
        target_id=membership.user_id,
    )
    return membership


def members(organization_id: str) -> list[tuple[Membership, User]]:
    rows = db.session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id)
        .order_by(Membership.is_active.desc(), User.display_name)
    ).all()
    return [(m, u) for m, u in rows]
