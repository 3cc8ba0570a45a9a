"""One-time links to set (or reset) a password: a secret stored as a hash, usable once, for
``PASSWORD_LINK_HOURS``; using one ends every credential issued before."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.auth.models import PasswordLink
from clinic_app.auth.sessions import revoke_all_credentials
from clinic_app.core import audit
from clinic_app.core.credentials import hash_secret, new_secret
from clinic_app.core.errors import NotFound
from clinic_app.core.time import utcnow
from clinic_app.extensions import db

PASSWORD_LINK_HOURS = 72
GONE = "This link has expired or was already used. Ask your practice admin for a new one."


def issue_password_link(user: User, *, purpose: str = "set_password") -> str:
    """A one-time secret for a set-password (or reset) link; earlier unused links stop working."""
    now = utcnow()
    db.session.execute(
        update(PasswordLink).where(PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None)).values(used_at=now)
    )
    plain, hashed = new_secret()
    db.session.add(
        PasswordLink(
            user_id=user.id,
            secret_hash=hashed,
            purpose=purpose,
            created_at=now,
            expires_at=now + timedelta(hours=PASSWORD_LINK_HOURS),
        )
    )
    db.session.flush()
    return plain


def find_password_link(secret: str) -> tuple[PasswordLink, User]:
    """Raises NotFound when the link is unknown, used or expired."""
    link = db.session.scalar(select(PasswordLink).where(PasswordLink.secret_hash == hash_secret(secret or "")))
    if link is None or link.used_at is not None or utcnow() >= link.expires_at:
        raise NotFound(GONE)
    user = db.session.get(User, link.user_id)
    if user is None or not user.is_active:
        raise NotFound(GONE)
    return link, user


def use_password_link(secret: str, new_password: str) -> User:
    """Set the password through a one-time link. Raises NotFound or Invalid."""
    link, user = find_password_link(secret)
    accounts.set_password(user, new_password, actor=audit.Actor(user_id=user.id), organization_id=None)
    link.used_at = utcnow()
    revoke_all_credentials(user.id, reason="password_set")
    db.session.flush()
    return user
