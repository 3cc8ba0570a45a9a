from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model, PublicIdMixin, TimestampMixin


class User(PublicIdMixin, TimestampMixin, Model):
    """A person who signs in. Their roles live on memberships, one per organization."""

    __tablename__ = "users"
    id_prefix = "usr"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    # None until the person sets one through their one-time link.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped when every outstanding credential must stop working (password change, deactivation).
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    # When the person proved they read mail at ``email`` (a sign-up's confirmation code or link, or
    # a set-password or reset link). None: a practice sign-up not yet confirmed, which cannot sign in.
    email_verified_at: Mapped[datetime | None]
    # A platform operator looks after the installation (health, jobs, retention) and belongs to no
    # organization: every organization's pages and records answer 404 to them (docs/operators.md).
    is_operator: Mapped[bool] = mapped_column(default=False, server_default=false())

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.id
