"""Seed 004's actigraphy ("PAT") endpoints under /api/v1/pat, patient-scoped.

``/analyze`` (activity counts) and ``/analyze-step-data`` (step counts, labelled a proxy) store the
posted points as a series upload of the patient and queue its analysis; ``/analysis/{id}`` reads the
result (the seed's ``ActigraphyAnalysis``, recorded as a read). No pretrained actigraphy transformer
runs here: ``/models/info`` names the published algorithms that do, with their references.
"""

from __future__ import annotations

import math
from datetime import timedelta

from flask import url_for

from clinic_app.core.access import authenticated, requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.health_data import analyses, bp, service
from clinic_app.health_data.analysis.sleep import OAKLEY_WEIGHTS
from clinic_app.health_data.api import jobs_by_id
from clinic_app.health_data.models import ACTIVITY_COUNTS, ALGORITHMS, COMPLETED, FAILED, PROCESSING, STEPS
from clinic_app.health_data.pat_schemas import (
    ActigraphyAnalysis,
    ActigraphyInput,
    AlgorithmInfo,
    AnalysisAccepted,
    AnalysisOut,
    DataPoint,
    ModelsInfo,
    PatHealth,
    StepDataInput,
)
from clinic_app.health_data.series import Series, from_points, local_clock

TAGS = ("pat",)
MAX_EPOCHS = 100_000  # epochs from the first to the last point (gaps included)
EPOCHS_PER_SECOND_OF_WORK = 20_000  # a rough figure for estimated_processing_time


def _epoch(algorithm: str, sampling_rate: float) -> timedelta:
    """The epoch the sampling rate gives, if the scoring algorithm is defined for it."""
    seconds = 60 / sampling_rate
    allowed = sorted(OAKLEY_WEIGHTS) if algorithm == "oakley" else [60]
    if not any(math.isclose(seconds, a) for a in allowed):
        rates = " or ".join(f"{60 / a:g}" for a in allowed)
        message = f"The {algorithm} algorithm is defined for a sampling_rate of {rates} samples per minute."
        raise Invalid(errors=[FieldError("sampling_rate", message, "UNSUPPORTED_SAMPLING_RATE")])
    return timedelta(seconds=seconds)


def _series(points: list[DataPoint], epoch: timedelta, field: str) -> Series:
    clocks = [local_clock(p.timestamp) for p in points]
    epochs = (max(clocks) - min(clocks)) // epoch + 1
    if epochs > MAX_EPOCHS:
        message = f"The points span {epochs:,} epochs from first to last; at most {MAX_EPOCHS:,} are accepted."
        raise Invalid(errors=[FieldError(field, message, "SPAN_TOO_LONG")])
    return from_points(zip(clocks, (p.value for p in points), strict=True), epoch)


def _accept(
    patient_id: str, points: list[DataPoint], *, sampling_rate: float, algorithm: str, channel: str, field: str
) -> AnalysisAccepted:
    organization_id, actor = current_organization_id(), current_actor()
    series = _series(points, _epoch(algorithm, sampling_rate), field)
    upload = service.record_series(
        organization_id, patient_id, series, channel=channel, actor=actor, upload_source=f"pat:{channel}"
    )
    analysis = analyses.request_analysis(organization_id, upload, algorithm=algorithm, actor=actor)
    return AnalysisAccepted(
        processing_id=analysis.id,
        status=analysis.status,
        message="Queued for analysis" + (" (step counts, a proxy for activity counts)." if analysis.proxy else "."),
        estimated_processing_time=max(1, math.ceil(len(series) / EPOCHS_PER_SECOND_OF_WORK)),
        analysis_url=url_for("health_data.api_pat_analysis", analysis_id=analysis.id),
        upload_id=upload.id,
        job_id=analysis.job_id,
        proxy=analysis.proxy,
    )


ACCEPTED = (
    "The points are stored as a series of the patient (an upload of kind `series`: it appears in "
    "/api/v1/health-data/ and is deleted with it) and analysed in the background; poll `analysis_url`. "
    "Timestamps keep the clock they were recorded in (a naive one is the device's local time; one with an "
    "offset is read in that offset). Points in the same epoch are summed; epochs without a point are "
    f"missing. At most {MAX_EPOCHS:,} epochs from the first point to the last."
)


@api_route(
    bp,
    "/api/v1/pat/analyze",
    methods=("POST",),
    body=ActigraphyInput,
    response=AnalysisAccepted,
    status=202,
    bracket_indices=True,
    summary="Analyse actigraphy activity counts",
    description="Seed 004 `ActigraphyInput` with `patient_id`. " + ACCEPTED,
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_pat_analyze(body: ActigraphyInput) -> AnalysisAccepted:
    return _accept(
        body.patient_id,
        body.data_points,
        sampling_rate=body.sampling_rate,
        algorithm=body.algorithm,
        channel=ACTIVITY_COUNTS,
        field="data_points",
    )


@api_route(
    bp,
    "/api/v1/pat/analyze-step-data",
    methods=("POST",),
    body=StepDataInput,
    response=AnalysisAccepted,
    status=202,
    bracket_indices=True,
    summary="Analyse step counts (Apple HealthKit) as a proxy for activity counts",
    description="`step_data` (or `data_points`): step counts `{timestamp, value}` per epoch. The result is "
    "labelled a proxy (`proxy: true`, `proxy_note`): the sleep and rhythm methods were validated on wrist "
    "activity counts. " + ACCEPTED,
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_pat_analyze_steps(body: StepDataInput) -> AnalysisAccepted:
    points, field = (body.step_data, "step_data") if body.step_data is not None else (body.data_points, "data_points")
    if points is None:
        raise Invalid(errors=[FieldError("step_data", "Send the step counts in step_data.", "MISSING")])
    return _accept(
        body.patient_id, points, sampling_rate=body.sampling_rate, algorithm=body.algorithm, channel=STEPS, field=field
    )


_MESSAGES = {
    "received": "Queued for analysis.",
    PROCESSING: "Analysing.",
    COMPLETED: "Analysis complete.",
    FAILED: "The analysis failed.",
}


@api_route(
    bp,
    "/api/v1/pat/analysis/<analysis_id>",
    response=AnalysisOut,
    summary="An actigraphy analysis and its result",
    description="`analysis` is the seed's `ActigraphyAnalysis` once `status` is completed (null before): "
    "`activity_patterns`, `sleep_metrics` (nights with total sleep, latency, WASO, awakenings, efficiency), "
    "`circadian_rhythm` (IS, IV, RA, L5, M10 as pyActigraphy 1.2.2; raw-count variants under `counts`; "
    "`cosinor`), `feature_embeddings` (24 normalised hourly means), `confidence_scores`. The read is recorded.",
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_pat_analysis(analysis_id: str) -> AnalysisOut:
    analysis, result = analyses.view_analysis(
        current_organization_id(), analysis_id, actor=current_actor(), channel="api"
    )
    job = jobs_by_id([analysis.job_id]).get(analysis.job_id or "")
    return AnalysisOut(
        processing_id=analysis.id,
        status=analysis.status,
        patient_id=analysis.patient_id,
        upload_id=analysis.upload_id,
        message=_MESSAGES.get(analysis.status, analysis.status),
        analysis=ActigraphyAnalysis.model_validate(result) if result is not None else None,
        proxy=analysis.proxy,
        proxy_note=analyses.PROXY_NOTE if analysis.proxy else None,
        algorithm=analysis.algorithm,
        created_at=analysis.created_at,
        completed_at=analysis.completed_at,
        error=analysis.error,
        job_id=analysis.job_id,
        progress=job.progress if job is not None else None,
    )


# --- what runs ---------------------------------------------------------------------------------

VAN_SOMEREN = (
    "Van Someren EJW et al. 1997, J Biol Rhythms 12:146-156; Van Someren EJW et al. 1999, Chronobiol Int "
    "16:505-518; computed as pyActigraphy 1.2.2 (Hammad G et al. 2021, PLoS Comput Biol 17:e1009514)"
)
ALGORITHM_INFO = [
    AlgorithmInfo(
        key="cole_kripke",
        name="Cole-Kripke with Webster's rescoring (default)",
        purpose="Sleep/wake per 60-second epoch",
        details="D = 0.001 * (106*A-4 + 54*A-3 + 58*A-2 + 76*A-1 + 230*A0 + 74*A+1 + 67*A+2), A = min(count/100, "
        "300); sleep if D < 1; then Webster's rules a-e",
        reference="Cole RJ, Kripke DF, Gruen W, Mullaney DJ, Gillin JC 1992, Sleep 15(5):461-469; Webster JB, "
        "Kripke DF, Messin S, Mullaney DJ, Wyborney G 1982, Sleep 5:389-399",
    ),
    AlgorithmInfo(
        key="sadeh",
        name="Sadeh",
        purpose="Sleep/wake per 60-second epoch",
        details="PS = 7.601 - 0.065*MW5 - 1.08*NAT - 0.056*SD6 - 0.703*LG (counts capped at 300); sleep if PS > 0",
        reference="Sadeh A, Sharkey KM, Carskadon MA 1994, Sleep 17(3):201-207",
    ),
    AlgorithmInfo(
        key="oakley",
        name="Oakley (Actiware)",
        purpose="Sleep/wake per 30-, 60- or 120-second epoch",
        details="Weighted total of neighbouring epochs (60 s: 0.04, 0.2, 1, 0.2, 0.04); wake above the "
        "threshold (low 20, medium 40 — used here —, high 80)",
        reference="Oakley NR 1997, Validation with polysomnography of the Sleepwatch sleep/wake scoring "
        "algorithm used by the Actiwatch activity monitoring system, Cambridge Neurotechnology technical report",
    ),
    AlgorithmInfo(
        key="nonwear",
        name="Non-wear (Choi 2011 style, strict)",
        purpose="Masks runs of at least 90 minutes of zero counts; reports the valid wear fraction",
        details="Any count > 0 or a missing epoch ends a run (Choi's 2-minute allowance is not applied)",
        reference="Choi L, Liu Z, Matthews CE, Buchowski MS 2011, Med Sci Sports Exerc 43(2):357-364",
    ),
    AlgorithmInfo(
        key="circadian",
        name="Non-parametric rest-activity rhythm: IS, IV, RA, L5, M10",
        purpose="Interdaily stability, intradaily variability, relative amplitude, least active 5 h and most "
        "active 10 h with their onsets",
        details="As pyActigraphy 1.2.2 with its defaults: counts binarised as > 4; IS and IV on hourly sums "
        "anchored at the first epoch, sample variances (n-1); L5/M10/RA on the cyclic 24-h average profile. "
        "The same five on raw counts under circadian_rhythm.counts",
        reference=VAN_SOMEREN,
    ),
    AlgorithmInfo(
        key="cosinor",
        name="Single-component 24-hour cosinor",
        purpose="Mesor, amplitude, acrophase (clock time of the fitted peak) and R²",
        details="Ordinary least squares of y = M + b*cos(2pit/24) + g*sin(2pit/24) on worn epochs",
        reference="Nelson W, Tong YL, Lee JK, Halberg F 1979, Chronobiologia 6:305-323; Cornelissen G 2014, "
        "Theor Biol Med Model 11:16",
    ),
]


@api_route(
    bp,
    "/api/v1/pat/health",
    response=PatHealth,
    summary="Actigraphy service status",
    description="For any signed-in caller. No model is loaded: the analysis is published algorithms.",
    tags=TAGS,
)
@authenticated
def api_pat_health() -> PatHealth:
    return PatHealth(
        status="healthy",
        service="pat",
        timestamp=utcnow(),
        model_loaded=False,
        algorithms=[info.key for info in ALGORITHM_INFO],
    )


@api_route(
    bp,
    "/api/v1/pat/models/info",
    unpaged="the fixed list of analysis algorithms this installation runs",
    response=ModelsInfo,
    summary="What the actigraphy analysis runs, with references",
    description="Honest replacement for the seed's PAT model information: there is no transformer model.",
    tags=TAGS,
)
@authenticated
def api_pat_models_info() -> ModelsInfo:
    return ModelsInfo(
        model=None,
        summary="No pretrained actigraphy transformer (PAT) or any other learned model runs here. The analysis "
        "is a set of published, deterministic algorithms whose numbers can be checked by hand or against "
        "pyActigraphy; each is listed with its reference.",
        algorithms=ALGORITHM_INFO,
        feature_embeddings="24 values: the mean counts of worn epochs for each clock hour 00-23 divided by the "
        "largest of them (0…1). A documented summary, not model output.",
        sleep_algorithms=list(ALGORITHMS),
        default_algorithm="cole_kripke",
    )
