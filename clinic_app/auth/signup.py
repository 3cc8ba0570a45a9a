"""A practice signing itself up (a new organization and its owner), and confirming the owner's
e-mail address with the mailed 6-digit code or link.

What an answer may not tell: whether an address has an account. Signing up with an address that
already has one answers exactly as a new sign-up does (the same status and words, the same
throttles, a password hashed and secrets drawn either way) and mails that account a note instead;
no second account or organization is made. Asking for a new code answers the same for every
address. Mail leaves after the answer through the mail outbox (``core.mail.send_after_commit``), so
the mail server's speed cannot show in the timing. A new sign-up does more database work than a
duplicate (the organization, its keys, the membership): that difference is in milliseconds, not
in anything the answer says.

Codes and links are ``PasswordLink`` rows of purpose ``confirm_email`` (``auth.password_links``):
single use, 24 hours, the link hashed with SHA-256 and the code with an HMAC keyed with
``SECRET_KEY``, ``MAX_CODE_ATTEMPTS`` tries. Throttled per address and per client address with the
rate-limit engine (``core.ratelimit.throttle``). An unconfirmed account cannot sign in
(``login.EmailNotConfirmed``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import RateLimitItem, parse

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.accounts.passwords import hash_password, password_problem
from clinic_app.auth import password_links
from clinic_app.auth.models import PasswordLink
from clinic_app.core import audit
from clinic_app.core.errors import FieldError, Invalid, NotFound
from clinic_app.core.mail import send_after_commit
from clinic_app.core.ratelimit import Throttled, throttle
from clinic_app.orgs import service as orgs

SIGNUP_LIMITS = {"address": parse("3/hour"), "ip": parse("10/hour")}
RESEND_LIMITS = {"address": parse("5/hour"), "ip": parse("20/hour")}
CONFIRM_LIMITS = {"address": parse("10/15minutes"), "ip": parse("30/15minutes")}

LIFETIME_HOURS = int(password_links.LIFETIMES[password_links.CONFIRM_EMAIL].total_seconds() // 3600)
SIGNUP_ANSWER = (
    "Thank you. To finish signing up, confirm your e-mail address: we have e-mailed you a 6-digit code and a "
    f"link. Either works once, for {LIFETIME_HOURS} hours."
)
RESEND_ANSWER = (
    "If an account with this address is waiting for confirmation, we have e-mailed it a new 6-digit code and "
    f"link (for {LIFETIME_HOURS} hours). Earlier codes no longer work."
)
CONFIRMED = "Your e-mail address is confirmed. You can sign in now."
WRONG_CODE = (
    "This code is not right, or it has expired or been used up. Check the e-mail address and the code, "
    "or ask for a new code."
)
CODE_FORMAT = "Enter the 6-digit code from the e-mail."

# Re-exported for the views: a throttle refusal (429) of sign-up, confirmation or resending.
SignupThrottled = Throttled


class ConfirmationRefused(Invalid):
    """A wrong, expired, used or burned code or link: nothing was changed."""

    status = 400
    title = "Bad request"


@dataclass(frozen=True)
class SignupPages:
    """Where the e-mails point (built by the views, on ``PUBLIC_URL``)."""

    link_for: Callable[[str], str]  # the confirmation page of a link's secret
    code_page: str  # where a code is typed (and a new one asked for)
    login_page: str
    forgot_page: str


@dataclass(frozen=True)
class Registration:
    name: str
    email: str
    password: str
    practice_name: str
    time_zone: str
    region: str = "AU"


def _throttle(stage: str, limits: dict[str, RateLimitItem], keys: dict[str, str | None]) -> None:
    words = {"signup": "sign-up attempts", "resend": "requests for a new code", "confirm": "confirmation attempts"}
    throttle(
        f"signup-{stage}",
        limits,
        keys,
        audit_action="account.signup_throttled",
        details={"stage": stage},
        too_many=words[stage],
        feature="Signing up",
    )


def _validate(form: Registration) -> str:
    """The normalised address, or Invalid naming every field that is wrong. Checks only what
    needs no account, so a taken address is refused exactly as a free one would be."""
    errors: list[FieldError] = []
    try:
        email = accounts.normalise_email(form.email)
    except Invalid as bad:
        errors.extend(bad.errors)
        email = ""
    name = (form.name or "").strip()
    problem = accounts.name_problem(name)
    if problem:
        errors.append(FieldError("name", problem))
    problem = password_problem(form.password or "", email=email, name=name)
    if problem:
        errors.append(FieldError("password", problem))
    practice = (form.practice_name or "").strip()
    if not practice or len(practice) > 200:
        errors.append(FieldError("practice_name", "Enter the practice's name, 1 to 200 characters."))
    try:
        ZoneInfo(form.time_zone or "")
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError("time_zone", f"{form.time_zone!r} is not a known time zone (e.g. Australia/Sydney)."))
    if errors:
        raise Invalid(errors=errors)
    return email


def register_practice(form: Registration, *, ip_address: str | None, pages: SignupPages) -> None:
    """Sign a practice up: a new organization, the person as its owner (unconfirmed), and a mailed
    code and link to confirm the address. For an address that already has an account, nothing is
    made and that account is mailed a note instead; the caller cannot tell the two apart.

    Raises Invalid (a field is wrong; nothing counted), SignupThrottled or Unavailable.
    """
    email = _validate(form)
    _throttle("signup", SIGNUP_LIMITS, {"address": email, "ip": ip_address})
    existing = accounts.find_by_email(email)
    if existing is not None:
        hash_password(form.password)  # the work a new account's password costs, kept nowhere
        password_links.rehearse_issue(purpose=password_links.CONFIRM_EMAIL)
        _mail_duplicate_note(existing, pages)
        audit.record(
            "account.signup_duplicate",
            organization_id=None,
            target_type="user",
            target_id=existing.id,
            outcome=audit.DENIED,
        )
        return
    organization = orgs.create_organization(name=form.practice_name, time_zone=form.time_zone, region=form.region)
    user = accounts.create_user(email=email, display_name=form.name, password=form.password, email_verified=False)
    orgs.add_membership(organization_id=organization.id, user=user, role="owner", actor=audit.Actor(user_id=user.id))
    issued = password_links.issue_confirmation(user)
    _mail_confirmation(user, issued, pages)
    audit.record(
        "account.signed_up",
        organization_id=organization.id,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
    )


def resend_confirmation(email: str, *, ip_address: str | None, pages: SignupPages) -> None:
    """Mail a new code and link to the account of ``email`` if it is waiting for confirmation.
    The same outcome for every well-formed address. Raises Invalid (malformed address),
    SignupThrottled or Unavailable."""
    address = accounts.normalise_email(email)
    _throttle("resend", RESEND_LIMITS, {"address": address, "ip": ip_address})
    user = accounts.find_by_email(address)
    waiting = user is not None and user.is_active and not accounts.is_email_verified(user)
    if user is not None and waiting:
        _mail_confirmation(user, password_links.issue_confirmation(user), pages)
    else:
        password_links.rehearse_issue(purpose=password_links.CONFIRM_EMAIL)
    audit.record(
        "account.email_confirmation_resent",
        organization_id=None,
        target_type="user" if user is not None else None,
        target_id=user.id if user is not None else None,
        details={"account": "waiting" if waiting else ("other" if user is not None else "unknown")},
    )


def confirm_with_code(email: str, code: str, *, ip_address: str | None) -> User:
    """Confirm the address with the code mailed to it (its newest confirmation only).

    Raises Invalid (malformed address or code; nothing counted), ConfirmationRefused (wrong,
    expired, used or burned; the same message whether or not the address has an account),
    SignupThrottled or Unavailable."""
    address = accounts.normalise_email(email)
    if not re.fullmatch(r"[0-9]{6}", code or ""):
        raise Invalid(errors=[FieldError("code", CODE_FORMAT)])
    _throttle("confirm", CONFIRM_LIMITS, {"address": address, "ip": ip_address})
    user = accounts.find_by_email(address)
    link = None
    if user is not None and user.is_active:
        link = password_links.live_reset_of(user, purpose=password_links.CONFIRM_EMAIL)
    check = password_links.try_code(link, code)
    if not check.right or link is None or user is None:
        reason = "no_live_confirmation" if link is None else ("burned" if check.burned else "wrong_code")
        _record_failure(user, method="code", reason=reason if check.counted or link is None else "used_up")
        raise ConfirmationRefused(WRONG_CODE, errors=[FieldError("code", WRONG_CODE)])
    return _confirm(user, link, method="code")


def confirmation_link_user(secret: str) -> User:
    """Whose address a confirmation link confirms. Raises ConfirmationRefused when it is
    unknown, used, burned or expired."""
    try:
        return password_links.find_password_link(secret, purpose=password_links.CONFIRM_EMAIL)[1]
    except NotFound as gone:
        raise ConfirmationRefused(gone.detail, errors=[FieldError("token", gone.detail)]) from None


def confirm_with_token(secret: str, *, ip_address: str | None) -> User:
    """Confirm the address through the mailed link's secret. Raises ConfirmationRefused,
    SignupThrottled or Unavailable."""
    _throttle("confirm", CONFIRM_LIMITS, {"ip": ip_address})
    try:
        link, user = password_links.find_password_link(secret, purpose=password_links.CONFIRM_EMAIL)
    except NotFound as gone:
        _record_failure(None, method="link", reason="unknown_or_used")
        raise ConfirmationRefused(gone.detail, errors=[FieldError("token", gone.detail)]) from None
    return _confirm(user, link, method="link")


def _confirm(user: User, link: PasswordLink, *, method: str) -> User:
    try:
        password_links.spend(link)
    except NotFound as gone:  # a concurrent request used it a moment ago
        field, message = ("code", WRONG_CODE) if method == "code" else ("token", gone.detail)
        raise ConfirmationRefused(message, errors=[FieldError(field, message)]) from None
    accounts.mark_email_verified(user)
    organization_id = next((m.organization_id for m in orgs.memberships_of(user.id)), None)
    audit.record(
        "account.email_confirmed",
        organization_id=organization_id,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
        details={"method": method},
    )
    return user


def _record_failure(user: User | None, *, method: str, reason: str) -> None:
    audit.record(
        "account.email_confirmation_failed",
        organization_id=None,
        target_type="user" if user is not None else None,
        target_id=user.id if user is not None else None,
        outcome=audit.FAILURE,
        details={"method": method, "reason": reason},
        independent=True,
    )


def _mail_confirmation(user: User, issued: password_links.IssuedLink, pages: SignupPages) -> None:
    body = (
        f"Hello {user.display_name},\n\n"
        f"To finish signing up with {user.email}, confirm your e-mail address.\n\n"
        f"Open this link:\n{pages.link_for(issued.secret)}\n\n"
        f"Or enter this code at {pages.code_page}\n\n    {issued.code}\n\n"
        f"The link and the code work once, for {LIFETIME_HOURS} hours. A newer confirmation e-mail replaces "
        "this one.\n\nIf you did not sign up, ignore this e-mail: nothing happens without the code.\n"
    )
    send_after_commit(user.email, "Confirm your e-mail address", body)


def _mail_duplicate_note(user: User, pages: SignupPages) -> None:
    body = (
        f"Hello {user.display_name},\n\n"
        f"Someone tried to sign a practice up with your address, {user.email}, which already has an account. "
        "No new account was made.\n\n"
        f"If it was you, sign in at {pages.login_page} (forgotten your password? {pages.forgot_page}). "
        + (
            ""
            if accounts.is_email_verified(user)
            else f"Your address is not confirmed yet: ask for a new code at {pages.code_page}. "
        )
        + "\n\nIf it was not you, you can ignore this e-mail.\n"
    )
    send_after_commit(user.email, "Someone tried to sign up with your address", body)
