"""Platform operator accounts and their monitoring tokens (``opt_…``).

An operator looks after the installation, outside every organization (``users.is_operator``). A
monitoring token is a bearer secret for a scraper or an uptime check: it reaches the operator
routes (``@operator_only``) and nothing else, and is stored only as its SHA-256 hash.
``flask create-operator`` and ``flask create-operator-token`` are the way in (docs/operators.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.accounts import service as accounts
from clinic_app.accounts.models import User
from clinic_app.core import audit
from clinic_app.core.apart import TOUCH_SECONDS, update_apart
from clinic_app.core.credentials import hash_secret, new_secret
from clinic_app.core.db import Model, PublicIdMixin
from clinic_app.core.errors import Conflict, FieldError, Invalid
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.orgs import service as orgs

OPERATOR_TOKEN_PREFIX = "opt_"  # noqa: S105 (a label, not a secret)
MAX_TOKEN_DAYS = 730


class OperatorToken(PublicIdMixin, Model):
    """A monitoring credential of the installation (not of any organization)."""

    __tablename__ = "operator_tokens"
    id_prefix = "otk"

    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


def make_operator(email: str, display_name: str | None, *, password: str | None = None) -> tuple[User, bool]:
    """Make the account at ``email`` a platform operator, creating it (with ``password``, or with
    none when the caller sends a set-password link) when there is none. Returns the account and whether it is
    new. Raises Conflict for an account that belongs to an organization: an operator sees no
    organization's records, so one person needs two accounts for the two jobs."""
    email = (email or "").strip().lower()
    if not email or "@" not in email or len(email) > 254:
        raise Invalid("Enter a valid e-mail address.", errors=[FieldError("email", "Enter a valid e-mail address.")])
    user = accounts.find_by_email(email)
    created = user is None
    if user is None:
        name = (display_name or email.split("@")[0])[:120]
        user = accounts.create_user(email=email, display_name=name, password=password)
    elif orgs.memberships_of(user.id):
        raise Conflict("This account belongs to an organization; an operator needs an account of their own.")
    user.is_operator = True
    db.session.flush()
    audit.record("operator.created", organization_id=None, target_type="user", target_id=user.id)
    return user, created


def is_operator(user: User | None) -> bool:
    return bool(user is not None and user.is_active and user.is_operator)


def create_operator_token(name: str, *, expires_in_days: int | None, creator: User | None) -> tuple[OperatorToken, str]:
    """A new monitoring token; the plain secret is returned once and never stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("Enter a name of 1 to 100 characters.", errors=[FieldError("name", "1 to 100 characters.")])
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise Invalid(f"A token lasts 1 to {MAX_TOKEN_DAYS} days.", errors=[FieldError("expires_in_days", "Range.")])
    plain, hashed = new_secret(OPERATOR_TOKEN_PREFIX)
    token = OperatorToken(
        name=name,
        secret_hash=hashed,
        display_prefix=plain[:12],
        created_by_id=creator.id if creator else None,
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "operator.token_created",
        organization_id=None,
        actor=audit.Actor(user_id=creator.id if creator else None),
        target_type="operator_token",
        target_id=token.id,
        details={"name": name},
    )
    return token, plain


def find_operator_token(plain: str) -> OperatorToken | None:
    token = db.session.scalar(select(OperatorToken).where(OperatorToken.secret_hash == hash_secret(plain)))
    now = utcnow()
    if token is None or token.revoked_at is not None or (token.expires_at is not None and now >= token.expires_at):
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= TOUCH_SECONDS:
        update_apart(OperatorToken, token.id, last_used_at=now)
    return token


def revoke_operator_token(token_id: str, *, actor: audit.Actor) -> OperatorToken:
    token = db.session.get(OperatorToken, token_id)
    if token is None:
        raise Invalid("There is no such token.", errors=[FieldError("token_id", "Unknown token.")])
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            "operator.token_revoked",
            organization_id=None,
            actor=actor,
            target_type="operator_token",
            target_id=token.id,
        )
    return token
