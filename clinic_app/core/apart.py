"""Writes kept whatever the request's outcome: a session's or token's last-seen stamp, the end
of an expired session, the end of a log-in whose refresh token was replayed.

Each is committed in its own transaction once the request's ends, so it never waits on locks the
request's transaction holds (SQLite) and a failed request still counts as activity.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.orm import Session

from clinic_app.core.http import after_this_transaction
from clinic_app.extensions import db

# A last-seen stamp is written at most this often per session or token.
TOUCH_SECONDS = 60


def write_apart(change: Callable[[Session], object]) -> None:
    """Commit ``change`` in its own transaction once the request's ends: kept whatever the
    request's outcome, and never waiting on locks the request's transaction holds."""

    def write() -> None:
        with Session(db.engine) as session:
            change(session)
            session.commit()

    after_this_transaction(write)


def update_apart(model: type, row_id: str, **values: object) -> None:
    """Set ``values`` on one row of ``model``, apart (see ``write_apart``)."""
    write_apart(lambda session: session.execute(update(model).where(model.id == row_id).values(**values)))
