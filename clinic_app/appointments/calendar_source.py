"""Whose calendar this is: Cliniko's (the organization is connected to it) or the app's own.

The sync feature knows whether an organization is connected; it builds on appointments, so
appointments cannot ask it. Instead the sync installs the answer here once
(``install_cliniko_check``), the way ``core.time`` is told how to read an organization's zone.
"""

from __future__ import annotations

from collections.abc import Callable

_connected: Callable[[str], bool] | None = None


def install_cliniko_check(check: Callable[[str], bool]) -> None:
    """Tell appointments how to learn whether an organization is connected to Cliniko."""
    global _connected
    _connected = check


def cliniko_connected(organization_id: str) -> bool:
    """Whether the organization's appointments come from Cliniko (it is connected)."""
    if _connected is None:
        raise RuntimeError("the Cliniko connection check is not installed: create the app first")
    return bool(_connected(organization_id))
