"""Actigraphy analyses of an upload's activity counts (or step counts, labelled a proxy): creating
them, running them (job ``health_data.analyze``, or inside a file's import job), reading results.

An analysis covers at most the last ``MAX_DAYS`` days of its upload. In-bed intervals come from the
patient's sleep-analysis data (Apple Health in-bed records, the sleep diary) overlapping the
recording; without any, the main rest periods are detected (see docs/health-data.md). The result is
the seed's ``ActigraphyAnalysis`` document, stored encrypted.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from clinic_app.core import audit, crypto, text
from clinic_app.core.errors import FieldError, Invalid, NotFound, Unavailable
from clinic_app.core.jobs import CANCELLED as JOB_CANCELLED
from clinic_app.core.jobs import FAILED as JOB_FAILED
from clinic_app.core.jobs import Job, JobContext, enqueue, job_function
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data import blocks
from clinic_app.health_data.analysis.analyze import analyze
from clinic_app.health_data.analysis.recorded_nights import merge, recorded_nights
from clinic_app.health_data.models import (
    ACTIVITY_COUNTS,
    ALGORITHMS,
    COMPLETED,
    FAILED,
    PROCESSING,
    RECEIVED,
    STEPS,
    HealthAnalysis,
    HealthUpload,
    json_safe,
)
from clinic_app.health_data.series import Series
from clinic_app.health_data.signals import analysis_completed

ANALYZE_KIND = "health_data.analyze"
RESULT_FIELD = "health_analyses.result_enc"
MAX_DAYS = 31  # the most recent month of an upload is analysed
NOT_FOUND = "No such analysis."
PROXY_NOTE = (
    "Computed from step counts, a proxy for activity counts: sleep scoring and rhythm metrics were "
    "validated on wrist actigraphy counts, so read these numbers as indicative only."
)


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        message = f"Choose one of: {', '.join(ALGORITHMS)}."
        raise Invalid(errors=[FieldError("algorithm", message, "UNKNOWN_ALGORITHM")])


def create_analysis(
    upload: HealthUpload, *, channel: str, algorithm: str, actor: audit.Actor, job_id: str | None = None
) -> HealthAnalysis:
    _check_algorithm(algorithm)
    analysis = HealthAnalysis(
        organization_id=upload.organization_id,
        patient_id=upload.patient_id,
        upload_id=upload.id,
        channel=channel,
        algorithm=algorithm,
        status=RECEIVED,
        job_id=job_id,
        requested_by_id=actor.user_id,
    )
    db.session.add(analysis)
    db.session.flush()
    audit.record(
        "health_data.analysis_requested",
        organization_id=upload.organization_id,
        actor=actor,
        target_type="health_analysis",
        target_id=analysis.id,
        patient_id=upload.patient_id,
        details={"upload_id": upload.id, "algorithm": algorithm, "channel": channel},
    )
    return analysis


def request_analysis(
    organization_id: str, upload: HealthUpload, *, algorithm: str, actor: audit.Actor
) -> HealthAnalysis:
    """Queue an analysis of a completed upload's activity (or step) counts."""
    _check_algorithm(algorithm)
    if upload.status != COMPLETED:
        raise Invalid(errors=[FieldError("upload_id", "This upload has not finished importing.", "NOT_READY")])
    channel = _channel_of(upload)
    if channel is None:
        raise Invalid(errors=[FieldError("upload_id", "This upload holds no activity or step counts.", "NO_ACTIVITY")])
    analysis = create_analysis(upload, channel=channel, algorithm=algorithm, actor=actor)
    job = enqueue(ANALYZE_KIND, organization_id=organization_id, created_by_id=actor.user_id, analysis_id=analysis.id)
    analysis.job_id = job.id
    return analysis


def _channel_of(upload: HealthUpload) -> str | None:
    present = {
        b.channel
        for b in db.session.scalars(
            select(blocks.HealthSeriesBlock)
            .where(
                blocks.HealthSeriesBlock.upload_id == upload.id,
                blocks.HealthSeriesBlock.channel.in_([ACTIVITY_COUNTS, STEPS]),
            )
            .limit(2)
        )
    }
    return ACTIVITY_COUNTS if ACTIVITY_COUNTS in present else STEPS if STEPS in present else None


def get_analysis(organization_id: str, analysis_id: str) -> HealthAnalysis:
    """The organization's analysis; NotFound for an unknown id or another organization's."""
    analysis = db.session.get(HealthAnalysis, analysis_id) if analysis_id and not text.unusable(analysis_id) else None
    if analysis is None or analysis.organization_id != organization_id:
        raise NotFound(NOT_FOUND)
    return analysis


def _recent(series: Series) -> Series:
    cutoff = series.end - timedelta(days=MAX_DAYS)
    if series.start >= cutoff:
        return series
    skip = (cutoff - series.start) // series.epoch
    return Series(series.start + series.epoch * skip, series.epoch, series.values[skip:])


def _wall_clock(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)  # the floating UTC columns hold the device's clock


def recorded_sleep(
    organization_id: str, patient_id: str, start: datetime, end: datetime
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]]:
    """The patient's recorded in-bed and asleep intervals (any completed upload: Apple Health, the
    sleep diary) overlapping the span, clipped to it and merged."""
    found: dict[str, list[tuple[datetime, datetime]]] = {"in_bed": [], "asleep": []}
    for channel, sample in blocks.read_samples(
        organization_id,
        patient_id,
        ["in_bed", "asleep"],
        first_day=(start - timedelta(days=1)).date(),
        last_day=end.date(),
    ):
        if sample.end is not None and sample.end > start and sample.start < end:
            found[channel].append((max(sample.start, start), min(sample.end, end)))
    return merge(found["in_bed"]), merge(found["asleep"])


def compute(analysis: HealthAnalysis) -> dict[str, Any]:
    """The ActigraphyAnalysis document for ``analysis`` (reads its upload's values).

    Nights: from recorded asleep intervals when the patient has them for the span (Apple Health's
    own sleep analysis); else from the scored counts within recorded in-bed intervals (a diary);
    else within the detected main rest periods."""
    series = blocks.read_series(
        analysis.organization_id, analysis.patient_id, analysis.upload_id, analysis.channel, last_days=MAX_DAYS
    )
    if series is None or not any(v is not None for v in series.values):
        raise Invalid(errors=[FieldError("upload_id", "The upload holds no counts to analyse.", "NO_ACTIVITY")])
    series = _recent(series)
    # Sleep records of the whole upload count, not only of the span its counts cover (an Apple
    # Health export's nights may lie beyond its last step record), within the analysed month.
    upload = db.session.get(HealthUpload, analysis.upload_id)
    last = max(series.end, _wall_clock(upload.ends_at) if upload and upload.ends_at else series.end)
    first = min(series.start, _wall_clock(upload.starts_at) if upload and upload.starts_at else series.start)
    first = max(first, last - timedelta(days=MAX_DAYS))
    in_bed, asleep = recorded_sleep(analysis.organization_id, analysis.patient_id, first, last)
    result = analyze(series, algorithm=analysis.algorithm, in_bed=in_bed or None)
    if asleep:
        result["sleep_metrics"]["nights"] = recorded_nights(in_bed, asleep)
        result["sleep_metrics"]["in_bed_source"] = "sleep_analysis_records"
    elif in_bed:
        result["sleep_metrics"]["in_bed_source"] = "recorded_in_bed"
    result["input"] = {
        "channel": analysis.channel,
        "proxy": analysis.channel == STEPS,
        "start": series.start.isoformat(),
        "end": series.end.isoformat(),
        "epoch_seconds": series.epoch_seconds,
        "epochs": len(series),
    }
    if analysis.channel == STEPS:
        result["proxy_note"] = PROXY_NOTE
    analysis.epochs = len(series)
    return json_safe(result)


def run_analysis(organization_id: str, analysis_id: str) -> HealthAnalysis:
    """Compute and store an analysis (idempotent: a completed one is left as it is). A failure is
    recorded on the analysis (status ``failed`` and why) rather than raised."""
    analysis = get_analysis(organization_id, analysis_id)
    if analysis.status in (COMPLETED, FAILED):
        return analysis
    analysis.status = PROCESSING
    try:
        result = compute(analysis)
    except Invalid as error:
        analysis.status, analysis.error = FAILED, "; ".join(e.message for e in error.errors) or error.detail
        analysis.completed_at = utcnow()
        return analysis
    vault = crypto.vault_for(organization_id)
    analysis.result_enc = vault.encrypt(RESULT_FIELD, json.dumps(result, separators=(",", ":"), allow_nan=False))
    analysis.status, analysis.completed_at, analysis.error = COMPLETED, utcnow(), None
    db.session.flush()
    analysis_completed.send(
        analysis,
        organization_id=organization_id,
        analysis_id=analysis.id,
        patient_id=analysis.patient_id,
        upload_id=analysis.upload_id,
    )
    return analysis


def result_of(analysis: HealthAnalysis) -> dict[str, Any] | None:
    """The stored result (None until it is completed)."""
    if analysis.result_enc is None:
        return None
    plain = crypto.vault_for(analysis.organization_id).decrypt(RESULT_FIELD, analysis.result_enc, target_id=analysis.id)
    if isinstance(plain, crypto.Unreadable):
        raise Unavailable("This analysis could not be decrypted; the problem has been reported.")
    return json.loads(plain) if plain else None


def view_analysis(
    organization_id: str, analysis_id: str, *, actor: audit.Actor, channel: str
) -> tuple[HealthAnalysis, dict[str, Any] | None]:
    """An analysis and its result, recording the read (``health_data.analysis_viewed``)."""
    analysis = get_analysis(organization_id, analysis_id)
    result = result_of(analysis)
    audit.record(
        "health_data.analysis_viewed",
        organization_id=organization_id,
        actor=actor,
        target_type="health_analysis",
        target_id=analysis.id,
        patient_id=analysis.patient_id,
        details={"channel": channel},
    )
    return analysis, result


def fail_orphaned() -> int:
    """Analyses still waiting or running whose job has failed or been cancelled (a worker that
    died, then failed as stale) are marked failed; returns how many (flushed, not committed)."""
    stuck = db.session.scalars(
        select(HealthAnalysis)
        .join(Job, Job.id == HealthAnalysis.job_id)
        .where(HealthAnalysis.status.in_((RECEIVED, PROCESSING)), Job.status.in_((JOB_FAILED, JOB_CANCELLED)))
    ).all()
    for analysis in stuck:
        analysis.status, analysis.error = FAILED, "The analysis stopped before it finished; run it again."
        analysis.completed_at = utcnow()
    db.session.flush()
    return len(stuck)


def latest_for_patient(organization_id: str, patient_id: str, *, completed: bool = False) -> HealthAnalysis | None:
    """The patient's newest analysis (with ``completed``, the newest that completed)."""
    query = select(HealthAnalysis).where(
        HealthAnalysis.organization_id == organization_id, HealthAnalysis.patient_id == patient_id
    )
    if completed:
        query = query.where(HealthAnalysis.status == COMPLETED)
    return db.session.scalar(query.order_by(HealthAnalysis.created_at.desc(), HealthAnalysis.id.desc()).limit(1))


@job_function(
    ANALYZE_KIND,
    queue="default",
    timeout=600,
    retries=1,
    read_permission="health_data:read",
    cancel_permission="health_data:read",
)
def analyze_job(ctx: JobContext, analysis_id: str) -> dict[str, Any]:
    job = db.session.get(Job, ctx.job_id)  # the job row carries the organization it runs for
    organization_id = job.organization_id if job and job.organization_id else ""
    ctx.progress(10, "Analysing")
    analysis = run_analysis(organization_id, analysis_id)
    return {"analysis_id": analysis.id, "status": analysis.status}
