"""The read-sync meets a patient the outbox created: Cliniko's record carries our id as its
``old_reference_id`` (docs/sync.md, "Idempotent creates"). When its link is not stored yet (the
sync read it between the outbox's ``POST`` and the commit of the link, or the answer was lost),
the sync links it to our patient instead of creating a second one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from clinic_app.extensions import db
from clinic_app.patients.models import Patient
from clinic_app.sync.models import PATIENTS, ClinikoLink
from clinic_app.sync.upsert import Upserter

OUR_PREFIX = "pat_"


def adopt_ours(organization_id: str, writer: Upserter, items: list[dict[str, Any]]) -> int:
    """Link the page's patients that are ours and not linked yet; returns how many were."""
    id_map = writer.id_map(PATIENTS)
    wanted: dict[str, str] = {}
    for item in items:
        marker, cliniko_id = item.get("old_reference_id"), item.get("id")
        ours = isinstance(marker, str) and marker.startswith(OUR_PREFIX)
        if ours and cliniko_id is not None and str(cliniko_id) not in id_map:
            wanted[marker] = str(cliniko_id)
    if not wanted:
        return 0
    # Links the outbox stored after this run read its id map: known now, not adopted twice.
    stored = db.session.execute(
        select(ClinikoLink.cliniko_id, ClinikoLink.local_id).where(
            ClinikoLink.organization_id == organization_id,
            ClinikoLink.resource == PATIENTS,
            ClinikoLink.cliniko_id.in_(list(wanted.values())),
        )
    ).all()
    for row in stored:
        id_map[row.cliniko_id] = row.local_id
        wanted = {marker: cid for marker, cid in wanted.items() if cid != row.cliniko_id}
    if stored:
        writer.seen.pop(PATIENTS, None)
    linked = set(id_map.values())
    ours = db.session.scalars(
        select(Patient.id).where(Patient.organization_id == organization_id, Patient.id.in_(list(wanted)))
    ).all()
    adopted = 0
    for local_id in ours:
        if local_id in linked:
            continue  # already linked to another Cliniko record: leave both as they are
        cliniko_id = wanted[local_id]
        db.session.add(
            ClinikoLink(organization_id=organization_id, resource=PATIENTS, cliniko_id=cliniko_id, local_id=local_id)
        )
        id_map[cliniko_id] = local_id
        adopted += 1
    if adopted:
        db.session.flush()
        writer.seen.pop(PATIENTS, None)  # "we held none of these" no longer holds
    return adopted
