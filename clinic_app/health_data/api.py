"""Seed 004's health-data and HealthKit endpoints, patient-scoped: ``/api/v1/health-data/*`` (JSON
metrics uploads, their processing status, the HAL-style list, delete, service status) and
``/api/v1/healthkit/*`` (a file upload imported in the background, and its status).

Values, uploads and their status need ``health_data:read`` (clinicians, practice admins, owners); anyone else in the
organization gets 404, as does another organization's patient or upload. The body is validated as a
whole before anything is stored (one invalid metric: 422 naming ``metrics[i]…``, nothing written).
See docs/health-data.md, "API".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, current_app, jsonify, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import UnsupportedMediaType

from clinic_app.core import text
from clinic_app.core.access import public, requires
from clinic_app.core.api import api_route
from clinic_app.core.errors import FieldError, Invalid
from clinic_app.core.jobs import Job
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import utcnow
from clinic_app.extensions import db
from clinic_app.health_data import blocks, bp, queries, service
from clinic_app.health_data.metrics import MAX_METRICS
from clinic_app.health_data.models import ALGORITHMS, COMPLETED, FAILED, METRIC_TYPES, HealthAnalysis, HealthUpload
from clinic_app.health_data.schemas import (
    HealthDataResponse,
    HealthDataUploadIn,
    HealthKitStatusOut,
    HealthKitUploadOut,
    PageLinks,
    Pagination,
    ProcessingStatus,
    ServiceHealth,
    UploadListItem,
    UploadListOut,
    UploadListQuery,
)
from clinic_app.health_data.series import local_clock
from clinic_app.patients import service as patients

TAGS = ("health-data",)
HEALTHKIT_TAGS = ("healthkit",)
VALUES_PAGE_MAX = 100  # page size allowed with include_values
VALUES_PER_UPLOAD = 10_000
# Room for the multipart envelope and the form fields around a file of HEALTH_UPLOAD_MAX_BYTES.
FORM_ALLOWANCE = 64 * 1024


# --- shapes ------------------------------------------------------------------------------------


def jobs_by_id(job_ids: Iterable[str | None]) -> dict[str, Job]:
    wanted = sorted({job_id for job_id in job_ids if job_id})
    if not wanted:
        return {}
    return {job.id: job for job in db.session.scalars(select(Job).where(Job.id.in_(wanted)))}


def _status_fields(upload: HealthUpload, job: Job | None, analysis: HealthAnalysis | None) -> dict[str, Any]:
    return {
        "processing_id": upload.id,
        "status": upload.status,
        "patient_id": upload.patient_id,
        "kind": upload.kind,
        "source": upload.source,
        "upload_source": upload.upload_source,
        "file_format": upload.file_format,
        "metric_types": list(upload.metric_types or []),
        "sample_count": upload.sample_count,
        "accepted_count": upload.accepted_count,
        "rejected_count": upload.rejected_count,
        "starts_at": upload.starts_at,
        "ends_at": upload.ends_at,
        "created_at": upload.created_at,
        "completed_at": upload.completed_at,
        "error": service.error_message(upload),
        "job_id": upload.job_id,
        "progress": job.progress if job is not None else None,
        "analysis_id": analysis.id if analysis is not None else None,
    }


def _response_of(upload: HealthUpload) -> HealthDataResponse:
    count = upload.accepted_count
    return HealthDataResponse(
        processing_id=upload.id,
        status=upload.status,
        accepted_metrics=count,
        rejected_metrics=upload.rejected_count,
        validation_errors=[],
        estimated_processing_time=0,
        sync_token=upload.sync_token,
        message=f"Stored {count} metric{'s' if count != 1 else ''}.",
        timestamp=upload.created_at,
    )


# --- metrics -----------------------------------------------------------------------------------


@api_route(
    bp,
    "/api/v1/health-data/upload",
    methods=("POST",),
    body=HealthDataUploadIn,
    response=HealthDataResponse,
    status=202,
    bracket_indices=True,
    summary="Upload health metrics for a patient",
    description=f"Seed 004 `HealthDataUpload` with `patient_id`: 1 to {MAX_METRICS} metrics, each validated "
    "against physiological ranges (heart rate 30-300 bpm, HRV 0-200 ms, systolic 70-250 and diastolic 40-150 "
    "mmHg, SpO2 70-100 %, respiratory rate 5-60 /min, temperature 35-42 °C, glucose 50-500 mg/dL, steps ≤ "
    "100,000, sleep efficiency 0-1). Any invalid metric answers 422 with `errors[].field` such as "
    "`metrics[3].biometric_data.heart_rate`, and nothing is stored. A repeated `sync_token` for the same "
    "patient answers the first upload's response (same `processing_id`, header `Idempotent-Replayed: true`) "
    "and stores nothing.",
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_upload(body: HealthDataUploadIn) -> Response:
    received = service.record_metrics(
        current_organization_id(),
        body.patient_id,
        body.metrics,
        actor=current_actor(),
        upload_source=body.upload_source,
        client_timestamp=blocks.floating_utc(body.client_timestamp),
        sync_token=body.sync_token,
    )
    answer = jsonify(_response_of(received.upload).model_dump(mode="json"))
    answer.status_code = 202
    if received.repeated:
        answer.headers["Idempotent-Replayed"] = "true"
    return answer


@api_route(
    bp,
    "/api/v1/health-data/processing/<processing_id>",
    response=ProcessingStatus,
    summary="An upload's processing status",
    description="What an upload holds (types, time range, counts), its status and, for a file, its import "
    "job's progress and the analysis drawn from it. No values.",
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_processing_status(processing_id: str) -> ProcessingStatus:
    organization_id = current_organization_id()
    upload = service.get_upload(organization_id, processing_id)
    job = jobs_by_id([upload.job_id]).get(upload.job_id or "")
    analysis = queries.analyses_of(organization_id, [upload.id]).get(upload.id)
    return ProcessingStatus(**_status_fields(upload, job, analysis))


def _link(**changes: str | None) -> str:
    args: dict[str, str] = request.args.to_dict()
    args.update({k: v for k, v in changes.items() if v is not None})
    for name in [k for k, v in changes.items() if v is None]:
        args.pop(name, None)
    return url_for(request.endpoint or "health_data.api_list_uploads", _external=True, **args)


def _list_uploads(query: UploadListQuery) -> UploadListOut:
    organization_id, actor = current_organization_id(), current_actor()
    if query.include_values and query.limit > VALUES_PAGE_MAX:
        message = f"With include_values, give a page size from 1 to {VALUES_PAGE_MAX}."
        raise Invalid(errors=[FieldError("limit", message, "OUT_OF_RANGE")])
    if query.patient_id is not None:
        patients.get_patient(organization_id, query.patient_id)  # another organization's: 404
    page = queries.list_uploads(
        organization_id,
        patient_id=query.patient_id,
        metric_type=query.metric_type,
        # Stored times are the device's clock: a filter with an offset is read on its own clock too.
        start=local_clock(query.start_date) if query.start_date else None,
        end=local_clock(query.end_date) if query.end_date else None,
        cursor=query.cursor,
        limit=query.limit,
    )
    jobs = jobs_by_id(u.job_id for u in page.rows)
    analyses = queries.analyses_of(organization_id, [u.id for u in page.rows])
    items = []
    for upload in page.rows:
        fields = _status_fields(upload, jobs.get(upload.job_id or ""), analyses.get(upload.id))
        values = truncated = None
        if query.include_values:
            _, found = queries.upload_values(
                organization_id, upload.id, actor=actor, channel="api", limit=VALUES_PER_UPLOAD + 1
            )
            values, truncated = found[:VALUES_PER_UPLOAD], len(found) > VALUES_PER_UPLOAD
        items.append(UploadListItem(**fields, values=values, values_truncated=truncated))
    size = str(page.page_size)
    return UploadListOut(
        data=items,
        pagination=Pagination(
            page_size=page.page_size,
            has_next=page.next_cursor is not None,
            has_previous=page.has_previous,
            next_cursor=page.next_cursor,
            total_count=page.total_count,
        ),
        links=PageLinks(
            self=_link(limit=size),
            next=_link(limit=size, cursor=page.next_cursor) if page.next_cursor else None,
            first=_link(limit=size, cursor=None),
        ),
        next_cursor=page.next_cursor,
    )


LIST_DESCRIPTION = (
    "Seed 004's HAL-style page, newest first: `data`, `pagination{page_size, has_next, has_previous, "
    "next_cursor, total_count}`, `links{self, next, first}`. Filters: `patient_id`, `metric_type`, "
    "`start_date`/`end_date` (uploads whose data overlaps them). Items are metadata only unless "
    "`include_values=true` (then `limit` ≤ 100, at most 10,000 values per upload, and each upload's read is "
    "recorded in the audit trail). A cursor this API did not give out answers 422. `next_cursor` is also at the "
    "top level, as on every list of this API."
)


@api_route(
    bp,
    "/api/v1/health-data/",
    paginated="cursor",
    items="data",
    query=UploadListQuery,
    response=UploadListOut,
    summary="List health-data uploads, a page at a time",
    description=LIST_DESCRIPTION,
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_list_uploads(query: UploadListQuery) -> UploadListOut:
    return _list_uploads(query)


@api_route(
    bp,
    "/api/v1/health-data",
    paginated="cursor",
    items="data",
    query=UploadListQuery,
    response=UploadListOut,
    summary="List health-data uploads (the same without the trailing slash)",
    description=LIST_DESCRIPTION,
    tags=TAGS,
)
@requires("health_data:read", hide=True)
def api_list_uploads_bare(query: UploadListQuery) -> UploadListOut:
    return _list_uploads(query)


@api_route(
    bp,
    "/api/v1/health-data/<processing_id>",
    methods=("DELETE",),
    status=204,
    summary="Delete an upload and everything drawn from it",
    description="Removes the upload's values, its analyses and their insights from the database (not a "
    "flag); the audit trail keeps only that it happened. Answers 204 with no body. A file still being "
    "imported answers 409: delete it when the import has finished.",
    tags=TAGS,
    extra_statuses={409: "The file is still being imported"},
)
@requires("health_data:read", hide=True)
def api_delete_upload(processing_id: str) -> Response:
    service.delete_upload(current_organization_id(), processing_id, actor=current_actor())
    return Response(status=204)


@api_route(
    bp,
    "/api/v1/health-data/health",
    response=ServiceHealth,
    summary="Health-data service status",
    description="Public. What the service accepts; no version or environment details.",
    tags=TAGS,
)
@public
def api_health_data_health() -> ServiceHealth:
    return ServiceHealth(
        status="healthy",
        service="health-data",
        timestamp=utcnow(),
        metric_types=list(METRIC_TYPES),
        max_metrics_per_upload=MAX_METRICS,
        file_formats=list(service.FILE_FORMATS),
    )


# --- HealthKit files ---------------------------------------------------------------------------


def _form_field(name: str, default: str | None = None) -> str | None:
    value = (request.form.get(name) or "").strip() or default
    if value is not None and text.unusable(value):
        raise Invalid(errors=[FieldError(name, text.MESSAGE, "UNUSABLE_TEXT")])
    return value


@api_route(
    bp,
    "/api/v1/healthkit/upload",
    methods=("POST",),
    response=HealthKitUploadOut,
    status=202,
    summary="Upload an Apple Health export (or an actigraphy file) for a patient",
    description="multipart/form-data with `file` (export.zip or export.xml), `patient_id`, and optionally "
    "`format` (apple_health by default; awd, actigraph_csv and plain_csv are accepted too) and `algorithm` "
    "(cole_kripke, sadeh, oakley). The file is kept encrypted until a background job imports it as a "
    "stream (steps, heart rate, HRV, SpO2, respiratory rate, in-bed and asleep intervals) and analyses the "
    "activity (steps as a proxy). Poll `status_url`. A request larger than HEALTH_UPLOAD_MAX_BYTES answers "
    "413; a malformed file ends with status `failed` and a message naming the line, and nothing of it stays.",
    tags=HEALTHKIT_TAGS,
    extra_statuses={413: "The file is larger than the server accepts", 415: "Not multipart/form-data"},
)
@requires("health_data:read", hide=True)
def api_healthkit_upload() -> HealthKitUploadOut:
    # Before anything touches request.files: this route's own limit, not the app's 16 MiB.
    request.max_content_length = current_app.config["HEALTH_UPLOAD_MAX_BYTES"] + FORM_ALLOWANCE
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data, in the field `file`.")
    errors = []
    patient_id = _form_field("patient_id")
    file_format = _form_field("format", "apple_health")
    algorithm = _form_field("algorithm", "cole_kripke")
    upload_file = request.files.get("file")
    if not patient_id:
        errors.append(FieldError("patient_id", "Give the patient the file belongs to.", "MISSING"))
    if upload_file is None:
        errors.append(FieldError("file", "Attach the file in the field `file`.", "MISSING"))
    if file_format not in service.FILE_FORMATS:
        message = f"Use one of: {', '.join(service.FILE_FORMATS)}."
        errors.append(FieldError("format", message, "UNKNOWN_FORMAT"))
    if algorithm not in ALGORITHMS:
        errors.append(FieldError("algorithm", f"Use one of: {', '.join(ALGORITHMS)}.", "UNKNOWN_ALGORITHM"))
    if errors or upload_file is None or patient_id is None or file_format is None or algorithm is None:
        raise Invalid(errors=errors)
    filename = upload_file.filename or "upload"
    upload = service.receive_file(
        current_organization_id(),
        patient_id,
        upload_file.stream,  # read in chunks by the service, never whole
        filename=text.without_unusable(filename),
        file_format=file_format,
        actor=current_actor(),
        algorithm=algorithm,
    )
    return HealthKitUploadOut(
        upload_id=upload.id,
        status=upload.status,
        job_id=upload.job_id,
        status_url=url_for("health_data.api_healthkit_status", upload_id=upload.id),
        message="Received; the file is imported in the background.",
    )


def _import_message(upload: HealthUpload, job: Job | None) -> str:
    if upload.status == COMPLETED:
        return f"Imported {upload.sample_count:,} values."
    if upload.status == FAILED:
        return "The import failed."
    if job is not None and (job.message or job.current_step):
        return job.message or job.current_step or ""
    return "Waiting to be imported." if upload.status == "received" else "Importing."


@api_route(
    bp,
    "/api/v1/healthkit/upload-status/<upload_id>",
    response=HealthKitStatusOut,
    summary="A HealthKit upload's import status",
    description="Progress of the import job, how it ended, the records stored per kind (counts only) and "
    "the analysis drawn from it.",
    tags=HEALTHKIT_TAGS,
)
@requires("health_data:read", hide=True)
def api_healthkit_status(upload_id: str) -> HealthKitStatusOut:
    organization_id = current_organization_id()
    upload = service.get_upload(organization_id, upload_id)
    job = jobs_by_id([upload.job_id]).get(upload.job_id or "")
    analysis = queries.analyses_of(organization_id, [upload.id]).get(upload.id)
    summary = queries.upload_summary(upload) or {}
    finished = upload.status in (COMPLETED, FAILED)
    return HealthKitStatusOut(
        upload_id=upload.id,
        status=upload.status,
        file_format=upload.file_format,
        progress=100 if finished else (job.progress if job is not None else 0),
        message=_import_message(upload, job),
        error=service.error_message(upload),
        records={str(k): int(v) for k, v in (summary.get("records") or {}).items()},
        rejected_records=int(summary.get("rejected") or upload.rejected_count or 0),
        job_id=upload.job_id,
        analysis_id=analysis.id if analysis is not None else None,
        analysis_url=url_for("health_data.api_pat_analysis", analysis_id=analysis.id) if analysis else None,
        created_at=upload.created_at,
        completed_at=upload.completed_at,
    )
