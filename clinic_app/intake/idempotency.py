"""An API intake's ``Idempotency-Key``: stored as an HMAC scoped to the caller (never the key), on
the draft that the call registers through; a key is held for 24 hours. ``claim_key`` inserts that
draft (or finds the key held by another request), ``held_draft`` finds the draft holding a key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from clinic_app.core import audit, crypto
from clinic_app.core.db import new_id
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.intake.drafts import REVIEW
from clinic_app.intake.models import API, DRAFT, IntakeDraft

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def idempotency_hash(organization_id: str, actor: audit.Actor, key: str) -> str | None:
    """The stored form of an Idempotency-Key: an HMAC, scoped to the caller (so two integrations
    choosing the same key do not collide), never the key itself."""
    caller = actor.token_id or actor.user_id or "system"
    return crypto.vault_for(organization_id).blind_index("intake_drafts.idempotency_key", f"{caller}|{key}")


def request_hash(organization_id: str, body: Mapping[str, Any]) -> str | None:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return crypto.vault_for(organization_id).blind_index("intake_drafts.request", canonical)


def claim_key(organization_id: str, key_hash: str, body_hash: str | None, actor: audit.Actor) -> IntakeDraft | None:
    """Insert the API draft carrying ``key_hash``; None when another request holds the key (on
    PostgreSQL the insert waits for that request to finish first)."""
    # A key older than the window is free again.
    db.session.execute(
        update(IntakeDraft)
        .where(
            IntakeDraft.organization_id == organization_id,
            IntakeDraft.idempotency_key_hash == key_hash,
            IntakeDraft.created_at < utcnow() - IDEMPOTENCY_WINDOW,
        )
        .values(idempotency_key_hash=None)
        .execution_options(synchronize_session=False)
    )
    draft_id, now = new_id(IntakeDraft.id_prefix), utcnow()
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = db.session.scalar(
        dialect.insert(IntakeDraft)
        .values(
            id=draft_id,
            organization_id=organization_id,
            created_by_id=actor.user_id,
            channel=API,
            step=REVIEW,
            status=DRAFT,
            idempotency_key_hash=key_hash,
            request_hash=body_hash,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["organization_id", "idempotency_key_hash"])
        .returning(IntakeDraft.id)
    )
    if inserted is None:  # the key is held: nothing was inserted
        return None
    return db.session.get(IntakeDraft, draft_id)


def held_draft(organization_id: str, key_hash: str) -> IntakeDraft | None:
    return db.session.scalar(
        select(IntakeDraft).where(
            IntakeDraft.organization_id == organization_id,
            IntakeDraft.idempotency_key_hash == key_hash,
            IntakeDraft.created_at >= utcnow() - IDEMPOTENCY_WINDOW,
        )
    )
