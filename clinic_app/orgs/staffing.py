"""Staff management by a person: who may change whom, the staff list, role changes and removals.

``orgs.service`` holds the organization's primitives (used by demo data, tests and the CLI). The
staff pages and any future staff API go through the functions here, which also decide what the
acting person may do: only owners hand out the owner role or touch an owner's membership.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from clinic_app.accounts.models import User
from clinic_app.core import audit
from clinic_app.core.errors import Conflict, Forbidden
from clinic_app.core.permissions import OWNER, ROLES, role_grants
from clinic_app.extensions import db
from clinic_app.orgs.models import Membership
from clinic_app.orgs.service import change_role, check_role, deactivate_membership, get_membership, members

log = logging.getLogger("clinic_app.orgs")


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
    check_role(role)
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
