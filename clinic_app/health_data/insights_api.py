"""Seed 004's insights endpoints under /api/v1/insights, patient-scoped, in the seed's
``{data, metadata}`` envelope.

An insight is drawn from one completed actigraphy analysis: rule-based statements, each citing the
metric, its value and the threshold it crosses, and a plain-language narrative (offline, or by the
configured language model with the offline text as fallback). Insights are drafts for clinicians
(``health_data:read``); anyone else, and another organization, gets 404.
"""

from __future__ import annotations

import time
from typing import Any

from flask import g
from sqlalchemy import select

from clinic_app.core import llm
from clinic_app.core.access import authenticated, requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data import bp
from clinic_app.health_data.insights import service as insights
from clinic_app.health_data.models import COMPLETED, HealthAnalysis, HealthInsight
from clinic_app.health_data.pat_schemas import (
    InsightData,
    InsightHistory,
    InsightHistoryQuery,
    InsightHistoryResponse,
    InsightRequest,
    InsightResponse,
    InsightsStatus,
    LanguageModelStatus,
    ResponseMetadata,
    Statement,
)
from clinic_app.patients import service as patients

TAGS = ("insights",)
SERVICE = "insights"
API_VERSION = "v1"


def _metadata() -> ResponseMetadata:
    started = g.get("started")
    elapsed = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    return ResponseMetadata(
        request_id=g.get("request_id", ""),
        timestamp=utcnow(),
        service=SERVICE,
        version=API_VERSION,
        processing_time_ms=round(elapsed, 1),
    )


def insight_data(insight: HealthInsight, content: dict[str, Any]) -> InsightData:
    statements = [Statement.model_validate(s) for s in content.get("statements") or []]
    return InsightData(
        insight_id=insight.id,
        patient_id=insight.patient_id,
        analysis_id=insight.analysis_id,
        narrative=content.get("narrative") or "",
        key_insights=[s.text for s in statements],
        recommendations=[],
        statements=statements,
        provider=content.get("provider") or insight.provider,
        model=content.get("model"),
        fallback_reason=content.get("fallback_reason"),
        draft=True,
        generated_at=insight.created_at,
    )


def _latest_completed(organization_id: str, patient_id: str) -> str:
    patient = patients.get_patient(organization_id, patient_id)  # another organization's: 404
    analysis_id = db.session.scalar(
        select(HealthAnalysis.id)
        .where(
            HealthAnalysis.organization_id == organization_id,
            HealthAnalysis.patient_id == patient.id,
            HealthAnalysis.status == COMPLETED,
        )
        .order_by(HealthAnalysis.created_at.desc(), HealthAnalysis.id.desc())
        .limit(1)
    )
    if analysis_id is None:
        message = "This patient has no completed analysis yet."
        raise Invalid(errors=[FieldError("patient_id", message, "NO_ANALYSIS")])
    return analysis_id


@api_route(
    bp,
    "/api/v1/insights/generate",
    methods=("POST",),
    body=InsightRequest,
    response=InsightResponse,
    status=201,
    summary="Generate insights from an actigraphy analysis",
    description="`{analysis_id}` (a completed analysis), or `{patient_id}` for the patient's latest completed "
    "analysis. Rule-based statements against published thresholds (sleep efficiency under 85 %, an irregular "
    "rhythm by IS, …) and a narrative: offline, or by the configured language model with the offline text as "
    "fallback (`fallback_reason` says why). Stored as a draft for clinicians. An analysis that has not "
    "completed answers 422.",
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_generate_insight(body: InsightRequest) -> InsightResponse:
    organization_id, actor = current_organization_id(), current_actor()
    analysis_id = body.analysis_id
    if not analysis_id:
        if not body.patient_id:
            message = "Give analysis_id, or patient_id for the patient's latest completed analysis."
            raise Invalid(errors=[FieldError("analysis_id", message, "MISSING")])
        analysis_id = _latest_completed(organization_id, body.patient_id)
    insight = insights.generate(organization_id, analysis_id, actor=actor)  # recorded as generated
    return InsightResponse(data=insight_data(insight, insights.content_of(insight)), metadata=_metadata())


@api_route(
    bp,
    "/api/v1/insights/status",
    response=InsightsStatus,
    summary="Insights service status",
    description="For any signed-in caller: the offline rules are always available; says whether a language "
    "model is configured (provider and model name only, never its address or key).",
    tags=TAGS,
)
@authenticated
def api_insights_status() -> InsightsStatus:
    settings = llm.configured_settings()
    return InsightsStatus(
        status="healthy",
        service=SERVICE,
        timestamp=utcnow(),
        offline_rules_available=True,
        language_model=LanguageModelStatus(
            configured=settings is not None,
            provider=settings.provider if settings else None,
            model=settings.model if settings else None,
        ),
    )


@api_route(
    bp,
    "/api/v1/insights/history/<patient_id>",
    query=InsightHistoryQuery,
    response=InsightHistoryResponse,
    paginated="cursor",
    items="data.insights",
    summary="A patient's insights, newest first",
    description="Seed 004's envelope: the page is `data.insights`; `limit` at a time, follow `next_cursor` "
    "until it is null. Each read is recorded in the audit trail.",
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_insight_history(patient_id: str, query: InsightHistoryQuery) -> InsightHistoryResponse:
    found, next_cursor = insights.history_page(  # another organization's patient: 404
        current_organization_id(),
        patient_id,
        actor=current_actor(),
        channel="api",
        limit=query.limit,
        cursor=query.cursor,
    )
    items = [insight_data(insight, content) for insight, content in found]
    return InsightHistoryResponse(
        data=InsightHistory(insights=items, count=len(items), limit=query.limit),
        metadata=_metadata(),
        next_cursor=next_cursor,
    )


@api_route(
    bp,
    "/api/v1/insights/<insight_id>",
    response=InsightResponse,
    summary="An insight",
    description="The statements and narrative of one insight. The read is recorded.",
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_get_insight(insight_id: str) -> InsightResponse:
    insight, content = insights.view(current_organization_id(), insight_id, actor=current_actor(), channel="api")
    return InsightResponse(data=insight_data(insight, content), metadata=_metadata())
