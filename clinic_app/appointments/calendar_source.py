"""Whose calendar this is: Cliniko's (the organization is connected to it) or the app's own.

The sync feature knows whether an organization is connected; it builds on appointments, so
appointments cannot ask it. Instead the sync installs the answer here once
(``install_cliniko_check``), the way ``core.time`` is told how to read an organization's zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

_connected: Callable[[str], bool] | None = None
# (organization_id, practitioner's Cliniko id, type's Cliniko id, a moment) -> Cliniko's free starts
# that day, or None when Cliniko cannot say now.
FreeStarts = Callable[[str, str, str, datetime], "set[datetime] | None"]
_free_starts: FreeStarts | None = None


def install_cliniko_check(check: Callable[[str], bool]) -> None:
    """Tell appointments how to learn whether an organization is connected to Cliniko."""
    global _connected
    _connected = check


def cliniko_connected(organization_id: str) -> bool:
    """Whether the organization's appointments come from Cliniko (it is connected)."""
    if _connected is None:
        raise RuntimeError("the Cliniko connection check is not installed: create the app first")
    return bool(_connected(organization_id))


def install_free_times(lookup: FreeStarts) -> None:
    """Tell appointments how to ask Cliniko for a practitioner's free starts (the sync knows)."""
    global _free_starts
    _free_starts = lookup


def cliniko_free_starts(
    organization_id: str, practitioner_cliniko_id: str, type_cliniko_id: str, moment: datetime
) -> set[datetime] | None:
    """Cliniko's free starts on the day of ``moment`` for that practitioner and type; None when no
    lookup is installed or Cliniko cannot say (the booking then waits in the outbox as usual)."""
    if _free_starts is None:
        return None
    return _free_starts(organization_id, practitioner_cliniko_id, type_cliniko_id, moment)
