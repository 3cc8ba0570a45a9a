"""Insights as records: generated from a completed analysis, stored encrypted, read back audited.

An insight is a draft for clinicians (a clinician may copy it into a report); it is never shown to
anyone outside the clinic. Generating one with a language model configured sends the statements and
a few numbers (never an identifier) to the provider; without one, or when it fails, the offline
paragraph is used and the reason kept.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from clinic_app.core import audit, crypto, text
from clinic_app.core.errors import FieldError, Invalid, NotFound, Unavailable
from clinic_app.core.pagination import bad_cursor, decode_cursor, encode_cursor
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data import analyses
from clinic_app.health_data.insights import narrative, rules
from clinic_app.health_data.models import COMPLETED, HealthInsight
from clinic_app.patients import service as patients

CONTENT_FIELD = "health_insights.content_enc"
NOT_FOUND = "No such insight."
MAX_HISTORY = 200


def generate(organization_id: str, analysis_id: str, *, actor: audit.Actor) -> HealthInsight:
    """Write an insight for a completed analysis (``health_data.insight_generated``). Raises NotFound
    for another organization's analysis, Invalid when the analysis has not completed."""
    analysis = analyses.get_analysis(organization_id, analysis_id)
    if analysis.status != COMPLETED:
        raise Invalid(errors=[FieldError("analysis_id", "This analysis has not completed.", "NOT_READY")])
    result = analyses.result_of(analysis) or {}
    statements = rules.statements(result, proxy=analysis.proxy)
    written = narrative.generate(result, statements)
    content = {"statements": statements, **written}
    vault = crypto.vault_for(organization_id)
    insight = HealthInsight(
        organization_id=organization_id,
        patient_id=analysis.patient_id,
        analysis_id=analysis.id,
        provider=written["provider"],
        model=written.get("model"),
        created_by_id=actor.user_id,
        created_at=utcnow(),
        content_enc=vault.encrypt(CONTENT_FIELD, json.dumps(content, separators=(",", ":"), allow_nan=False)),
    )
    db.session.add(insight)
    db.session.flush()
    audit.record(
        "health_data.insight_generated",
        organization_id=organization_id,
        actor=actor,
        target_type="health_insight",
        target_id=insight.id,
        patient_id=analysis.patient_id,
        details={"analysis_id": analysis.id, "provider": insight.provider, "statements": len(statements)},
    )
    return insight


def get(organization_id: str, insight_id: str) -> HealthInsight:
    insight = db.session.get(HealthInsight, insight_id) if insight_id and not text.unusable(insight_id) else None
    if insight is None or insight.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return insight


def content_of(insight: HealthInsight) -> dict[str, Any]:
    plain = crypto.vault_for(insight.organization_id).decrypt(CONTENT_FIELD, insight.content_enc, target_id=insight.id)
    if plain is None or isinstance(plain, crypto.Unreadable):
        raise Unavailable("This insight could not be decrypted; the problem has been reported.")
    return json.loads(plain)


def _record_view(insights: list[HealthInsight], actor: audit.Actor, channel: str, patient_id: str, org: str) -> None:
    audit.record(
        "health_data.insight_viewed",
        organization_id=org,
        actor=actor,
        target_type="health_insight",
        target_id=insights[0].id if len(insights) == 1 else None,
        patient_id=patient_id,
        details={"channel": channel, "insights": len(insights)},
    )


def view(organization_id: str, insight_id: str, *, actor: audit.Actor, channel: str) -> tuple[HealthInsight, dict]:
    """An insight and its content, recording the read."""
    insight = get(organization_id, insight_id)
    content = content_of(insight)
    _record_view([insight], actor, channel, insight.patient_id, organization_id)
    return insight, content


def history(
    organization_id: str, patient_id: str, *, actor: audit.Actor, channel: str, limit: int = 50
) -> list[tuple[HealthInsight, dict]]:
    """The patient's insights, newest first (at most ``limit``, 1 to 200), recording the read.
    Raises NotFound for another organization's patient."""
    found, _next = history_page(organization_id, patient_id, actor=actor, channel=channel, limit=limit)
    return found


def _insight_cursor(row: HealthInsight) -> str:
    # Full precision: two insights in the same millisecond must not fall between pages.
    return encode_cursor(f"{row.created_at.isoformat()}|{row.id}")


def _after_insight(cursor: str) -> tuple[datetime, str]:
    try:
        moment, insight_id = decode_cursor(cursor).split("|", 1)
        return datetime.fromisoformat(moment.replace("Z", "+00:00")), insight_id
    except ValueError:
        raise bad_cursor() from None


def history_page(
    organization_id: str,
    patient_id: str,
    *,
    actor: audit.Actor,
    channel: str,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[tuple[HealthInsight, dict]], str | None]:
    """A page of the patient's insights, newest first, and the cursor of the next page (None on
    the last), recording the read. Raises NotFound for another organization's patient, Invalid
    for a limit outside 1 to 200 or a cursor this list did not give out."""
    from_patients = patients.get_patient(organization_id, patient_id).id
    if not 1 <= limit <= MAX_HISTORY:
        raise Invalid(errors=[FieldError("limit", f"Give a limit from 1 to {MAX_HISTORY}.", "OUT_OF_RANGE")])
    query = select(HealthInsight).where(
        HealthInsight.organization_id == organization_id, HealthInsight.patient_id == from_patients
    )
    if cursor:
        moment, last_id = _after_insight(cursor)
        query = query.where(
            or_(
                HealthInsight.created_at < moment,
                and_(HealthInsight.created_at == moment, HealthInsight.id < last_id),
            )
        )
    found = list(
        db.session.scalars(query.order_by(HealthInsight.created_at.desc(), HealthInsight.id.desc()).limit(limit + 1))
    )
    rows = found[:limit]
    if rows:
        _record_view(rows, actor, channel, from_patients, organization_id)
    next_cursor = _insight_cursor(rows[-1]) if len(found) > limit else None
    return [(row, content_of(row)) for row in rows], next_cursor


def latest_for_patient(organization_id: str, patient_id: str) -> tuple[HealthInsight, dict] | None:
    """The patient's newest insight (not audited: the page showing it records its own view)."""
    row = db.session.scalar(
        select(HealthInsight)
        .where(HealthInsight.organization_id == organization_id, HealthInsight.patient_id == patient_id)
        .order_by(HealthInsight.created_at.desc(), HealthInsight.id.desc())
        .limit(1)
    )
    return (row, content_of(row)) if row else None
