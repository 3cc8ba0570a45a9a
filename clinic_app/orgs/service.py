"""Organizations and memberships. The last owner of an organization can never be removed."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from blinker import Namespace
from sqlalchemy import func, select

from clinic_app.accounts.models import User
from clinic_app.core import audit, crypto
from clinic_app.core.errors import Conflict, FieldError, Forbidden, Invalid, NotFound
from clinic_app.core.memo import per_request
from clinic_app.core.permissions import OWNER, ROLES, role_grants
from clinic_app.extensions import db
from clinic_app.orgs.models import Membership, Organization

log = logging.getLogger("clinic_app.orgs")

_signals = Namespace()
# Sent (inside the unit of work) when a membership ends or its role changes, with
# organization_id, user_id, role (the new one for a change) and actor: the credentials that act for
# that organization on the person's authority are the receivers' to end.
membership_ended = _signals.signal("membership-ended")
membership_role_changed = _signals.signal("membership-role-changed")


@dataclass(frozen=True)
class MembershipView:
    organization_id: str
    organization_name: str
    role: str


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
    # The request will ask for one of these organizations (its name, region, time zone) anyway:
    # keep the rows just read, which saves that query.
    cache = per_request("organizations")
    if cache is not None:
        for row in rows:
            cache.setdefault(row.Organization.id, row.Organization)
    return [MembershipView(row.Organization.id, row.Organization.name, row.role) for row in rows]


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise Invalid(errors=[FieldError("role", f"Choose one of: {', '.join(ROLES)}.")])


def add_membership(*, organization_id: str, user: User, role: str, actor: audit.Actor) -> Membership:
    """Give ``user`` a role in the organization (re-activating an old membership if there is one).

    Raises Invalid for an unknown role, Conflict when they are already an active member.
    """
    _check_role(role)
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
    _check_role(role)
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


# --- staff management by a person -------------------------------------------------------------
#
# The functions above are the organization's primitives (used by demo data, tests and CLI). The
# staff pages and any future staff API go through the functions below, which also decide what the
# acting person may do: only owners hand out the owner role or touch an owner's membership.


@dataclass(frozen=True)
class StaffMember:
    """One row of the staff list, with whether the viewer may change it."""

    membership_id: str
    user_id: str
    name: str
    email: str
    role: str
    membership_active: bool
    account_active: bool
    last_sign_in_at: datetime | None
    can_manage: bool

    @property
    def is_active(self) -> bool:
        return self.membership_active and self.account_active


def assignable_roles(actor_role: str | None) -> tuple[str, ...]:
    """The roles ``actor_role`` may give (``None`` stands for an API client, never an owner)."""
    return ROLES if actor_role == OWNER else tuple(role for role in ROLES if role != OWNER)


def may_manage(actor_role: str | None, member_role: str) -> bool:
    """Whether ``actor_role`` may change or remove a member who has ``member_role``."""
    return member_role != OWNER or actor_role == OWNER


def require_authority(
    *,
    organization_id: str,
    actor: audit.Actor,
    actor_role: str | None,
    action: str,
    member_role: str | None = None,
    new_role: str | None = None,
    target_id: str | None = None,
) -> None:
    reason = None
    if actor_role is not None and not role_grants(actor_role, "admin:staff"):
        reason = "Your role does not allow managing staff."
    elif member_role is not None and not may_manage(actor_role, member_role):
        reason = "Only an owner can change or remove an owner."
    elif new_role is not None and new_role not in assignable_roles(actor_role):
        reason = "Only an owner can make someone an owner."
    if reason is None:
        return
    # Logged rather than audited: an audit row for a refusal must be committed on its own, which
    # blocks on SQLite while this request's transaction holds the write lock (see the closing note).
    log.warning(
        "staff change refused",
        extra={
            "event": "staff_change_refused",
            "organization_id": organization_id,
            "actor_user_id": actor.user_id,
            "actor_token_id": actor.token_id,
            "action": action,
            "target_user_id": target_id,
            "actor_role": actor_role,
            "member_role": member_role,
            "new_role": new_role,
        },
    )
    raise Forbidden(reason)


def _staff_row(membership: Membership, user: User, actor_role: str | None) -> StaffMember:
    return StaffMember(
        membership_id=membership.id,
        user_id=user.id,
        name=user.display_name,
        email=user.email,
        role=membership.role,
        membership_active=membership.is_active,
        account_active=user.is_active,
        last_sign_in_at=user.last_login_at,
        can_manage=membership.is_active and may_manage(actor_role, membership.role),
    )


def staff(organization_id: str, *, actor_role: str | None) -> list[StaffMember]:
    """Everyone who is or was a member, active first, by name."""
    return [_staff_row(membership, user, actor_role) for membership, user in members(organization_id)]


def staff_member(organization_id: str, membership_id: str, *, actor_role: str | None) -> StaffMember:
    """One row of the staff list. Raises NotFound (also for another organization's member)."""
    membership = get_membership(organization_id, membership_id)
    user = db.session.get(User, membership.user_id)
    assert user is not None
    return _staff_row(membership, user, actor_role)


def change_staff_role(
    *, organization_id: str, membership_id: str, role: str, actor: audit.Actor, actor_role: str | None
) -> Membership:
    """Raises NotFound (also another organization's member), Invalid (unknown role), Conflict (a
    deactivated member, or the last owner) or Forbidden (an admin and the owner role)."""
    membership = get_membership(organization_id, membership_id)
    _check_role(role)
    if not membership.is_active:
        raise Conflict("This person is no longer a member. Add them again to give them a role.")
    require_authority(
        organization_id=organization_id,
        actor=actor,
        actor_role=actor_role,
        action="change_role",
        member_role=membership.role,
        new_role=role,
        target_id=membership.user_id,
    )
    return change_role(organization_id=organization_id, membership_id=membership_id, role=role, actor=actor)


def deactivate_staff_member(
    *, organization_id: str, membership_id: str, actor: audit.Actor, actor_role: str | None
) -> Membership:
    """Remove someone from this organization. Raises NotFound, Conflict (yourself, or the last
    owner) or Forbidden (an admin and an owner)."""
    membership = get_membership(organization_id, membership_id)
    if actor.user_id is not None and membership.user_id == actor.user_id:
        # Signed out at once with nobody told why, or the only admin locked out by a slip.
        raise Conflict("You can't deactivate yourself. Another owner or practice admin can.")
    require_authority(
        organization_id=organization_id,
        actor=actor,
        actor_role=actor_role,
        action="deactivate",
        member_role=membership.role,
        target_id=membership.user_id,
    )
    return deactivate_membership(organization_id=organization_id, membership_id=membership_id, actor=actor)
