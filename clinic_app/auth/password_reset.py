"""A forgotten password: asking for a reset (a link and a 6-digit code by e-mail), and using it.

What an answer may not tell: whether an address has an account. Asking answers the same words
for every well-formed address; the work done is the same (the same look-ups, secrets drawn and
hashed, one audit event, one commit; only the account's reset row is written or not); and the
e-mail is sent after the answer by this process's outbox thread (``send_after_commit``), so a
slow mail server cannot show in the answer's timing either. A wrong, expired, used or burned code
gets one message, whether or not the address has an account. The audit trail, which only the
operators read, records which it was.

Throttled with the app's rate-limit engine (``core.ratelimit``: Redis in production, memory in
the embedded default) per address and per client address, for asking and for trying; a refusal
is a 429 with the contract's headers and body. A reset sets the password under the usual rules,
ends every browser session and API log-in of the person, and mails them a notice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.accounts.passwords import password_problem
from clinic_app.auth import password_links
from clinic_app.auth.models import PasswordLink
from clinic_app.auth.sessions import revoke_all_credentials
from clinic_app.core import audit
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.mail import send_after_commit
from clinic_app.core.ratelimit import Throttled, throttle
from clinic_app.core.time import utcnow

log = logging.getLogger("clinic_app.auth")

# Asking for a reset, and trying one (a code or a link), per address and per client address.
REQUEST_LIMITS = {"address": parse("5/hour"), "ip": parse("20/hour")}
ATTEMPT_LIMITS = {"address": parse("10/15minutes"), "ip": parse("30/15minutes")}

LIFETIME_MINUTES = int(password_links.LIFETIMES[password_links.RESET].total_seconds() // 60)
FORGOT_ANSWER = (
    "If an account uses this address, we have e-mailed it a link and a 6-digit code to reset its password. "
    f"Either works once, for {LIFETIME_MINUTES} minutes."
)
WRONG_CODE = (
    "This code is not right, or it has expired or been used up. Check the e-mail address and the code, "
    "or ask for a new one."
)
CODE_FORMAT = "Enter the 6-digit code from the e-mail."
RESET_DONE = "Your password was changed and every device signed in to your account was signed out. Please sign in."


class ResetRefused(Invalid):
    """A wrong, expired, used or burned code or link: nothing was changed."""

    status = 400
    title = "Bad request"


# Kept under its old name for the views and tests that speak of a reset's throttle.
ResetThrottled = Throttled


@dataclass(frozen=True)
class ResetPages:
    """Where the e-mails point (built by the views, on ``PUBLIC_URL``)."""

    link_for: Callable[[str], str]  # the reset page of a link's secret
    code_page: str  # where a code is entered
    forgot_page: str  # where a new reset is asked for


# --- throttling ---------------------------------------------------------------------------------


def _throttle(stage: str, limits: dict[str, RateLimitItem], keys: dict[str, str | None]) -> None:
    what = "password reset requests" if stage == "request" else "password reset attempts"
    throttle(
        f"password-reset-{stage}",
        limits,
        keys,
        audit_action="auth.password_reset_throttled",
        details={"stage": stage},
        too_many=what,
        feature="Password reset",
    )


# --- asking -------------------------------------------------------------------------------------


def request_password_reset(email: str, *, ip_address: str | None, pages: ResetPages) -> None:
    """Mail the account of ``email`` a reset (a link and a code), if it has an active one.

    Promises the same outcome, and about the same time, for every well-formed address: nothing
    tells the caller whether an account exists. Raises Invalid (a malformed address),
    ResetThrottled or Unavailable.
    """
    address = accounts.normalise_email(email)
    _throttle("request", REQUEST_LIMITS, {"address": address, "ip": ip_address})
    user = accounts.find_by_email(address)
    if user is not None and user.is_active:
        issued = password_links.issue_reset(user)
        _mail_reset(user, issued, pages)
        account = "active"
    else:
        password_links.rehearse_issue()  # the same secrets drawn and hashed, nothing kept
        account = "deactivated" if user is not None else "unknown"
    audit.record(
        "auth.password_reset_requested",
        organization_id=None,  # the caller is anonymous: whoever typed the address
        target_type="user" if user is not None else None,
        target_id=user.id if user is not None else None,
        details={"account": account},
    )


# --- using --------------------------------------------------------------------------------------


def reset_with_code(email: str, code: str, new_password: str, *, ip_address: str | None, pages: ResetPages) -> User:
    """Set a new password with the code mailed to ``email``. The code belongs to that address's
    newest reset only.

    Raises Invalid (a malformed address or code, or a password the rules refuse: nothing counted
    against the reset), ResetRefused (a wrong, expired, used or burned code; the same message
    whether or not the address has an account), ResetThrottled or Unavailable.
    """
    address = accounts.normalise_email(email)
    if not re.fullmatch(r"[0-9]{6}", code or ""):
        raise Invalid(errors=[FieldError("code", CODE_FORMAT)])
    _throttle("attempt", ATTEMPT_LIMITS, {"address": address, "ip": ip_address})
    _refuse_weak(new_password)
    user = accounts.find_by_email(address)
    link = password_links.live_reset_of(user) if user is not None and user.is_active else None
    check = password_links.try_code(link, code)
    if not check.right or link is None or user is None:
        if link is None:
            reason = "no_live_reset"
        elif not check.counted:
            reason = "used_up"  # used, expired or burned since it was read
        else:
            reason = "burned" if check.burned else "wrong_code"
        _record_failure(user, method="code", reason=reason)
        raise ResetRefused(WRONG_CODE, errors=[FieldError("code", WRONG_CODE)])
    return _reset(user, link, new_password, method="code", pages=pages)


def reset_link_user(secret: str) -> User:
    """Whose password a reset link sets. Raises ResetRefused when it is unknown, used, burned
    or expired."""
    try:
        return password_links.find_password_link(secret, purpose=password_links.RESET)[1]
    except NotFound as gone:
        raise ResetRefused(gone.detail, errors=[FieldError("token", gone.detail)]) from None


def reset_with_token(secret: str, new_password: str, *, ip_address: str | None, pages: ResetPages) -> User:
    """Set a new password through the mailed link. Raises ResetRefused (unknown, used, burned or
    expired), Invalid (the password rules), ResetThrottled or Unavailable."""
    _throttle("attempt", ATTEMPT_LIMITS, {"ip": ip_address})
    try:
        link, user = password_links.find_password_link(secret, purpose=password_links.RESET)
    except NotFound as gone:
        _record_failure(None, method="link", reason="unknown_or_used")
        raise ResetRefused(gone.detail, errors=[FieldError("token", gone.detail)]) from None
    return _reset(user, link, new_password, method="link", pages=pages)


def _refuse_weak(new_password: str) -> None:
    # The rules that need no account, checked before a try is counted (the personal ones, the
    # address or name as the password, wait until the code has proven who is asking).
    problem = password_problem(new_password or "")
    if problem:
        raise Invalid(errors=[FieldError("new_password", problem)])


def _reset(user: User, link: PasswordLink, new_password: str, *, method: str, pages: ResetPages) -> User:
    try:
        password_links.spend(link)
    except NotFound as gone:  # a concurrent request used it a moment ago
        field, message = ("code", WRONG_CODE) if method == "code" else ("token", gone.detail)
        raise ResetRefused(message, errors=[FieldError(field, message)]) from None
    accounts.set_password(user, new_password, actor=audit.Actor(user_id=user.id), organization_id=None)
    accounts.mark_email_verified(user)  # the code or link reached the address
    password_links.end_links_of(user)
    revoke_all_credentials(user.id, reason="password_reset")
    audit.record(
        "auth.password_reset",
        organization_id=None,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
        details={"method": method},
    )
    _mail_notice(user, pages)
    return user


def _record_failure(user: User | None, *, method: str, reason: str) -> None:
    audit.record(
        "auth.password_reset_failed",
        organization_id=None,
        target_type="user" if user is not None else None,
        target_id=user.id if user is not None else None,
        outcome=audit.FAILURE,
        details={"method": method, "reason": reason},
        independent=True,
    )


# --- the e-mails --------------------------------------------------------------------------------


def _mail_reset(user: User, issued: password_links.IssuedLink, pages: ResetPages) -> None:
    until = issued.expires_at.strftime("%H:%M UTC")
    body = (
        f"Hello {user.display_name},\n\n"
        f"Someone, we hope you, asked to reset the password for {user.email}.\n\n"
        f"To choose a new password, open this link:\n{pages.link_for(issued.secret)}\n\n"
        f"Or enter this code at {pages.code_page}\n\n    {issued.code}\n\n"
        f"The link and the code work once, for {LIFETIME_MINUTES} minutes (until {until}). "
        "A newer reset e-mail replaces this one.\n\n"
        "If you did not ask for this, ignore this e-mail: your password has not changed.\n"
    )
    send_after_commit(user.email, "Reset your password", body)


def _mail_notice(user: User, pages: ResetPages) -> None:
    when = utcnow().strftime("%d %b %Y at %H:%M UTC")
    body = (
        f"Hello {user.display_name},\n\n"
        f"The password for {user.email} was reset on {when}, and every device signed in to the account "
        "was signed out.\n\n"
        "If that was you, there is nothing more to do. If it was not, reset your password now at "
        f"{pages.forgot_page} and tell your practice admin.\n"
    )
    send_after_commit(user.email, "Your password was changed", body)
