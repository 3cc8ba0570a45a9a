"""A person's second factors as a whole: which they have, checking one at sign-in, switching an
authenticator app on and off, renewing recovery codes, and whether an organization's rule sends
them to enrolment. Every change is audited and mailed to the person (someone else who got hold
of the password must not quietly remove a factor).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from limits import parse
from sqlalchemy import exists, select

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.core import audit
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.mail import public_url, send_after_commit
from clinic_app.core.ratelimit import throttle
from clinic_app.extensions import db
from clinic_app.mfa import recovery, totp
from clinic_app.mfa.models import Passkey
from clinic_app.orgs.service import MembershipView

TOTP, PASSKEY, RECOVERY_CODE = "totp", "passkey", "recovery_code"
PASSWORD_AGAIN_LIMIT = {"user": parse("10/15minutes")}
WRONG_PASSWORD = "That is not your password."  # noqa: S105 (a message)
WRONG_CODE = "That code is not right. Check your authenticator app and try again."


@dataclass(frozen=True)
class Factors:
    totp: bool
    passkeys: int
    recovery_codes_left: int

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0

    @property
    def methods(self) -> list[str]:
        """What a sign-in may be finished with, in the order offered."""
        found = [TOTP] if self.totp else []
        if self.passkeys:
            found.append(PASSKEY)
        if self.any and self.recovery_codes_left:
            found.append(RECOVERY_CODE)
        return found


def factors_of(user_id: str) -> Factors:
    passkeys = db.session.scalar(select(db.func.count()).select_from(Passkey).where(Passkey.user_id == user_id))
    return Factors(
        totp=totp.confirmed_factor(user_id) is not None,
        passkeys=passkeys or 0,
        recovery_codes_left=recovery.remaining(user_id),
    )


def has_second_factor(user_id: str) -> bool:
    if totp.confirmed_factor(user_id) is not None:
        return True
    return bool(db.session.scalar(select(exists().where(Passkey.user_id == user_id))))


def must_enrol(user_id: str, memberships: list[MembershipView]) -> bool:
    """Whether an organization of the person requires a second factor of their role and they
    have none yet: they may do nothing but set one up."""
    return any(m.requires_two_factor for m in memberships) and not has_second_factor(user_id)


def _audit(action: str, user: User, organization_id: str | None, **details: object) -> None:
    audit.record(
        action,
        organization_id=organization_id,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
        details=dict(details) or None,
    )


def _mail(user: User, subject: str, what: str) -> None:
    body = (
        f"Hello {user.display_name},\n\n{what}\n\n"
        "If this was you, there is nothing to do. If it was not, change your password now and check "
        f"your two-factor settings: {public_url(url_for('mfa.security'))}\n"
    )
    send_after_commit(user.email, subject, body)


def check_password_again(user: User, password: str, *, field: str = "password") -> None:
    """Ask for the password before a factor is removed or codes renewed (throttled per person).
    Raises Invalid naming ``field``, or Throttled."""
    throttle(
        "mfa-password-again",
        PASSWORD_AGAIN_LIMIT,
        {"user": user.id},
        audit_action="mfa.password_throttled",
        details={},
        too_many="password attempts",
        feature="Two-factor settings",
    )
    if accounts.check_credentials(user.email, password or "") is None:
        raise Invalid(errors=[FieldError(field, WRONG_PASSWORD)])


# --- sign-in ------------------------------------------------------------------------------------


def verify_code(user: User, typed: str, *, organization_id: str | None) -> str | None:
    """Check a code typed at sign-in: an authenticator code (once) or a recovery code (once;
    audited and mailed). Returns the method that matched, or None."""
    if totp.looks_like_code(typed):
        return TOTP if totp.verify(user.id, typed) else None
    if has_second_factor(user.id) and recovery.use(user.id, typed):
        left = recovery.remaining(user.id)
        _audit("mfa.recovery_code_used", user, organization_id, remaining=left)
        _mail(
            user,
            "A recovery code was used to sign in",
            f"A recovery code was used to sign in to your account. You have {left} unused code"
            f"{'' if left == 1 else 's'} left; you can make new ones on your two-factor settings page.",
        )
        return RECOVERY_CODE
    return None


# --- an authenticator app -----------------------------------------------------------------------


def confirm_totp(user: User, code: str, *, organization_id: str | None) -> list[str]:
    """Switch the pending authenticator app on with its first code. Returns new recovery codes
    (shown once) when the person had none left, else an empty list. Raises Invalid (``code``)."""
    if not totp.confirm(user, code):
        raise Invalid(errors=[FieldError("code", WRONG_CODE)])
    codes = recovery.issue(user.id) if recovery.remaining(user.id) == 0 else []
    _audit("mfa.totp_enabled", user, organization_id)
    _mail(user, "Two-factor sign-in is on", "An authenticator app was set up for signing in to your account.")
    return codes


def remove_totp(user: User, password: str, *, organization_id: str | None) -> None:
    """Remove the authenticator app (password asked again). With no factor left, the recovery
    codes go too."""
    check_password_again(user, password)
    if not totp.remove(user.id):
        return
    if not has_second_factor(user.id):
        recovery.discard(user.id)
    _audit("mfa.totp_removed", user, organization_id)
    _mail(user, "An authenticator app was removed", "The authenticator app was removed from your account.")


def renew_recovery_codes(user: User, password: str, *, organization_id: str | None) -> list[str]:
    """Ten new recovery codes (the old ones stop working). Raises Invalid without a factor."""
    check_password_again(user, password)
    if not has_second_factor(user.id):
        raise Invalid("Set up an authenticator app or a passkey first: recovery codes back one up.")
    codes = recovery.issue(user.id)
    _audit("mfa.recovery_codes_renewed", user, organization_id)
    _mail(user, "New recovery codes", "New recovery codes were made for your account; the old ones no longer work.")
    return codes
