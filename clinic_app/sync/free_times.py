"""Cliniko's free times for a booking (``available_times`` of a business, practitioner and type),
asked when the front desk books or moves in a connected clinic and kept for a minute, so the
calendar cannot book a start Cliniko would refuse. Installed into appointments by ``create_app``
(``calendar_source.install_free_times``). When Cliniko cannot answer quickly the answer is None:
the booking goes ahead and the outbox reports what Cliniko says.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from clinic_app.core.time import local_date, organization_zone
from clinic_app.sync import mapping
from clinic_app.sync.cliniko import ClinikoError
from clinic_app.sync.connection import client_for, get_connection

CACHE_SECONDS = 60.0
_cache: dict[tuple[str, str, str, str], tuple[float, set[datetime]]] = {}
_lock = threading.Lock()


def free_starts(
    organization_id: str, practitioner_cliniko_id: str, type_cliniko_id: str, moment: datetime
) -> set[datetime] | None:
    """Cliniko's free starts on ``moment``'s day (the organization's time zone), or None."""
    connection = get_connection(organization_id)
    business = (
        next((str(row["id"]) for row in (connection.businesses or []) if row.get("id")), None) if connection else None
    )
    if business is None:
        return None
    day = local_date(moment, organization_zone(organization_id)).isoformat()
    key = (organization_id, practitioner_cliniko_id, type_cliniko_id, day)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
    path = (
        f"businesses/{business}/practitioners/{practitioner_cliniko_id}"
        f"/appointment_types/{type_cliniko_id}/available_times"
    )
    try:
        with client_for(organization_id) as client:
            client.max_retries = 1  # a person is waiting: ask once more at most
            document = client.get(path, [("from", day), ("to", day), ("per_page", "100")])
    except ClinikoError:
        return None
    starts = {
        moment
        for item in document.get("available_times") or []
        if isinstance(item, dict) and (moment := mapping.parse_time(item.get("appointment_start"))) is not None
    }
    with _lock:
        _cache[key] = (time.monotonic() + CACHE_SECONDS, starts)
    return starts


def forget(organization_id: str) -> None:
    """Drop what is cached for the organization (after a booking or a move reached Cliniko)."""
    with _lock:
        for key in [key for key in _cache if key[0] == organization_id]:
            del _cache[key]
