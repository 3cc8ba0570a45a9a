"""Accounts: creating people, checking and changing passwords, the profile."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from clinic_app.accounts.models import User
from clinic_app.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from clinic_app.accounts.signals import password_changed
from clinic_app.core import audit, text
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db


def normalise_email(raw: str, field: str = "email") -> str:
    """The address in canonical lower-case form. Raises Invalid with a readable message."""
    try:
        result = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise Invalid(errors=[FieldError(field, str(error))]) from None
    return result.normalized.lower()


def find_by_email(email: str) -> User | None:
    if text.unusable(email or ""):
        return None  # no address holds a control character (and PostgreSQL could not compare one)
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def get_user(user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


NAME_MESSAGE = "Enter a name of 1 to 120 characters."


def name_problem(display_name: str) -> str | None:
    """What is wrong with a person's name (already stripped), or None."""
    if not display_name or len(display_name) > 120:
        return NAME_MESSAGE
    if text.unusable(display_name):
        return text.MESSAGE
    return None


def create_user(*, email: str, display_name: str, password: str | None = None, email_verified: bool = True) -> User:
    """A new account. Raises Invalid (bad e-mail, name or password) or Conflict (e-mail taken).

    Accounts made by an operator or through an invitation count as verified (the address was
    given by someone who knows it, or the invitation reached it); a practice sign-up passes
    ``email_verified=False`` and cannot sign in until ``mark_email_verified``."""
    email = normalise_email(email)
    display_name = (display_name or "").strip()
    errors = []
    problem = name_problem(display_name)
    if problem:
        errors.append(FieldError("display_name", problem))
    if password is not None:
        problem = password_problem(password, email=email, name=display_name)
        if problem:
            errors.append(FieldError("password", problem))
    if errors:
        raise Invalid(errors=errors)
    if find_by_email(email) is not None:
        raise Conflict("An account with this e-mail address already exists.")
    user = User(
        email=email,
        display_name=display_name,
        is_active=True,
        session_version=1,
        email_verified_at=utcnow() if email_verified else None,
    )
    if password is not None:
        user.password_hash = hash_password(password)
        user.password_changed_at = utcnow()
    db.session.add(user)
    db.session.flush()
    return user


def is_email_verified(user: User) -> bool:
    """Whether the person has proved they read mail at their address: what ``is_verified`` says
    in every API answer, and what signing in requires."""
    return user.email_verified_at is not None


def mark_email_verified(user: User) -> bool:
    """Record that the person proved they read mail at their address (a confirmation code or
    link, a set-password or reset link). Returns True when this changed anything."""
    if user.email_verified_at is not None:
        return False
    user.email_verified_at = utcnow()
    db.session.flush()
    return True


def check_credentials(email: str, password: str) -> User | None:
    """The active user these credentials belong to, or None (same answer for every failure)."""
    user = find_by_email(email or "")
    if user is None or not user.is_active:
        verify_password(None, password or "")
        return None
    if not verify_password(user.password_hash, password or ""):
        return None
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def set_password(user: User, new_password: str, *, actor: audit.Actor, organization_id: str | None) -> None:
    """Replace the password and end every credential issued before (sessions, API tokens).

    Raises Invalid when the password is not acceptable.
    """
    problem = password_problem(new_password, email=user.email, name=user.display_name)
    if problem:
        raise Invalid(errors=[FieldError("new_password", problem)])
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.session_version += 1
    db.session.flush()
    audit.record(
        "account.password_changed", organization_id=organization_id, actor=actor, target_type="user", target_id=user.id
    )


def change_password(
    user: User,
    *,
    current_password: str,
    new_password: str,
    organization_id: str | None,
    keep_session_id: str | None = None,
) -> None:
    """The person changes their own password: every other browser session and API log-in of
    theirs ends (``password_changed``), the session ``keep_session_id`` carries on. Raises Invalid
    for a wrong current password."""
    if not verify_password(user.password_hash, current_password or ""):
        raise Invalid(errors=[FieldError("current_password", "That is not your current password.")])
    set_password(user, new_password, actor=audit.Actor(user_id=user.id), organization_id=organization_id)
    password_changed.send(user, keep_session_id=keep_session_id)


def update_profile(user: User, *, display_name: str, organization_id: str | None) -> User:
    """The person changes their own name; records ``account.profile_updated`` (the field names,
    not the values) in ``organization_id``'s trail when it changed."""
    display_name = (display_name or "").strip()
    problem = name_problem(display_name)
    if problem:
        raise Invalid(errors=[FieldError("display_name", problem)])
    if display_name == user.display_name:
        return user
    user.display_name = display_name
    db.session.flush()
    audit.record(
        "account.profile_updated",
        organization_id=organization_id,
        actor=audit.Actor(user_id=user.id),
        target_type="user",
        target_id=user.id,
        details={"fields": ["display_name"]},
    )
    return user
