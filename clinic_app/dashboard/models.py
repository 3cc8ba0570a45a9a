"""The dashboard's stored figures: one snapshot per organization.

Counting an organization's figures reads every patient's statistics and twelve weeks of
appointments; at 100,000 patients that is too much to repeat on every request. The snapshot keeps
the last computed figures with

* ``version``: bumped by ``dashboard.service.invalidate`` whenever something the figures depend on
  changes (statistics recomputed, an appointment booked, a sync finished);
* ``computed_version``: the ``version`` the payload was computed from;
* ``valid_until``: the first moment time alone changes a figure (the next minute boundary, or
  earlier when a patient's statistics expire first).

A snapshot is current while ``computed_version == version`` and ``valid_until`` is in the future.
Nothing in it is PHI: counts, rates, ids and the words of the activity feed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from clinic_app.core.db import Model


class DashboardSnapshot(Model):
    """The organization's dashboard figures as last computed (see the module docstring)."""

    __tablename__ = "dashboard_snapshots"

    organization_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, default=0)
    computed_version: Mapped[int] = mapped_column(Integer, default=-1)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
