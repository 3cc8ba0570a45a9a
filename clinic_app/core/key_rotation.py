"""Re-encrypting stored PHI under each organization's current data key, in batches, as a job.

``flask keys rotate`` first re-wraps every organization key under the current master key, reseals
the secrets sealed under a master key (``core.sealed``: authenticator-app keys) and starts a new
data key per organization (quick, in one transaction), then queues this job. The job
only touches values not yet under their organization's current key, so it is safe to run again
and resumes where a killed run stopped. Values that cannot be decrypted are left as they are and
counted (each raises an alarm event); they never stop the run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from clinic_app.core import crypto, sealed
from clinic_app.core.jobs import JobContext, job_function
from clinic_app.extensions import db

ROTATE_KIND = "keys.reencrypt"
BATCH = 500


def _pending_filter(column: crypto.EncryptedColumn, organization_id: str, current_key_id: str) -> list[Any]:
    attribute = getattr(column.model, column.attribute)
    return [
        column.model.organization_id == organization_id,  # type: ignore[attr-defined]
        attribute.is_not(None),
        ~attribute.startswith(f"{crypto.PREFIX}:{current_key_id}:"),
    ]


def pending_count() -> int:
    total = 0
    for organization_id, vault in _vaults().items():
        for column in crypto.ENCRYPTED_COLUMNS:
            total += (
                db.session.scalar(
                    select(func.count())
                    .select_from(column.model)
                    .where(*_pending_filter(column, organization_id, vault.current.id))
                )
                or 0
            )
    return total


def _vaults() -> dict[str, crypto.Vault]:
    organization_ids = db.session.scalars(select(crypto.OrganizationKey.organization_id).distinct()).all()
    return {organization_id: crypto.vault_for(organization_id) for organization_id in organization_ids}


# Every organization's keys at once: a system job, shown to no member through the job pages or API.
@job_function(ROTATE_KIND, timeout=4 * 3600, read_permission=None, cancel_permission=None)
def reencrypt(ctx: JobContext) -> dict[str, int]:
    total = pending_count()
    done = unreadable = 0
    ctx.progress(0, "Re-encrypting", f"{total} values to re-encrypt")
    for organization_id, vault in _vaults().items():
        for column in crypto.ENCRYPTED_COLUMNS:
            last_id = ""
            while True:
                rows = db.session.scalars(
                    select(column.model)
                    .where(*_pending_filter(column, organization_id, vault.current.id), column.model.id > last_id)  # type: ignore[attr-defined]
                    .order_by(column.model.id)  # type: ignore[attr-defined]
                    .limit(BATCH)
                ).all()
                if not rows:
                    break
                for row in rows:
                    last_id = row.id
                    plain = vault.decrypt(column.field, getattr(row, column.attribute), target_id=row.id)
                    if isinstance(plain, crypto.Unreadable):
                        unreadable += 1
                        continue
                    setattr(row, column.attribute, vault.encrypt(column.field, plain))
                    done += 1
                db.session.flush()
                percent = 100 * (done + unreadable) / total if total else 100
                ctx.progress(min(percent, 99), f"Re-encrypting {column.field}", f"{done} of {total} re-encrypted")
    return {"reencrypted": done, "unreadable": unreadable}


def reseal_all() -> int:
    """Move every registered sealed value (``sealed.SEALED_COLUMNS``) to the current master key.
    Returns how many were resealed; a value that does not open is left as it is (its owner sets up
    that factor again) and is not counted."""
    resealed = 0
    for column in sealed.SEALED_COLUMNS:
        attribute = getattr(column.model, column.attribute)
        for row in db.session.scalars(select(column.model).where(attribute.is_not(None))):
            try:
                fresh = sealed.reseal(
                    column.purpose, getattr(row, column.owner_attribute), getattr(row, column.attribute)
                )
            except sealed.SealBroken:
                continue
            if fresh is not None:
                setattr(row, column.attribute, fresh)
                resealed += 1
    db.session.flush()
    return resealed


def start_rotation() -> tuple[int, int]:
    """Re-wrap keys under the current master key, reseal sealed secrets under it, and start new
    data keys. Returns (keys re-wrapped, organizations with a new data key). The caller then
    queues ``reencrypt``."""
    rewrapped = crypto.rewrap_all()
    reseal_all()
    organization_ids = db.session.scalars(select(crypto.OrganizationKey.organization_id).distinct()).all()
    for organization_id in organization_ids:
        crypto.new_data_key(organization_id)
    db.session.flush()
    return rewrapped, len(organization_ids)
