"""The "Activity and sleep" section of the patient page: uploading a file (with progress), the latest
analysis (actogram, nights, circadian cards), its insights, a sleep diary, re-analysing, deleting.

The chart includes ``health_data/_patient_health.html``, which loads its data through
``load_patient_health`` (an app-wide context processor, as reports do): ``None`` for callers who
may not read health data, who see only whether any exists. Showing an analysis is a read of PHI,
audited by ``analyses.view_analysis``; uploads, analyses and deletions are audited by the
services. Routes are thin (parse, load + authorise, call a service, render); an htmx request gets
the fragment, a plain form post a redirect back to the chart (``#patient-health``), so the section
works without JavaScript. Every route needs ``health_data:read`` and answers 404 without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.auth.identity import current_identity
from clinic_app.core import jobs
from clinic_app.core.access import requires
from clinic_app.core.errors import Conflict, FieldError, Invalid, NotFound, Unavailable
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import in_zone, organization_zone
from clinic_app.core.web import done, is_htmx, put_errors, render_confirm, render_page
from clinic_app.extensions import db
from clinic_app.health_data import analyses, blocks, bp, queries, service
from clinic_app.health_data.actogram import Actogram, clip, in_bed_from_result, render_actogram
from clinic_app.health_data.forms import ALGORITHM_LABELS, KIND_LABELS, AnalyseForm, DiaryForm, UploadForm
from clinic_app.health_data.insights import service as insights
from clinic_app.health_data.models import (
    COMPLETED,
    FAILED,
    PROCESSING,
    RECEIVED,
    STATUS_LABELS,
    HealthAnalysis,
    HealthUpload,
)
from clinic_app.patients import service as patients

READ = "health_data:read"
UPLOADS_SHOWN = 20
FORM_OVERHEAD = 64 * 1024  # the multipart envelope and the small fields around the file


@dataclass
class Progress:
    """A file's import or an analysis, as the polling fragment shows it."""

    element_id: str
    label: str
    poll_url: str
    state: str  # running, done, failed
    percent: int = 0
    step: str = "Waiting to start"
    error: str | None = None


@dataclass
class UploadRow:
    upload: HealthUpload
    name: str
    status_label: str
    progress: Progress | None = None


@dataclass
class PatientHealth:
    patient_id: str
    uploads: list[UploadRow]
    analysis: HealthAnalysis | None = None
    shown: HealthAnalysis | None = None  # the analysis whose result is shown: the latest completed
    result: dict[str, Any] | None = None
    analysis_progress: Progress | None = None
    actogram: Actogram | None = None
    insight: Any = None
    insight_content: dict[str, Any] | None = None
    problem: str | None = None
    upload_form: UploadForm = field(default_factory=lambda: UploadForm(formdata=None))
    analyse_form: AnalyseForm = field(default_factory=lambda: AnalyseForm(formdata=None))
    diary_form: DiaryForm = field(default_factory=lambda: DiaryForm(formdata=None))

    @property
    def importing(self) -> list[Progress]:
        return [row.progress for row in self.uploads if row.progress is not None and row.progress.state == "running"]


# --- what the chart's partial loads ------------------------------------------------------------------


@bp.app_context_processor
def _health_template_helpers() -> dict[str, Any]:
    return {
        "load_patient_health": _patient_health,
        "patient_has_health_data": _has_data,
        "health_local_time": _local_time,
        "health_clock": _clock,
        "algorithm_labels": ALGORITHM_LABELS,
        "proxy_note": analyses.PROXY_NOTE,
    }


def _patient_health(patient_id: str) -> PatientHealth | None:
    identity = current_identity()
    if identity is None or identity.organization_id is None or not identity.can(READ):
        return None
    return _health_of(identity.organization_id, patient_id)


def _has_data(patient_id: str) -> bool:
    organization_id = getattr(current_identity(), "organization_id", None)
    return bool(organization_id and queries.patient_has_data(organization_id, patient_id))


def _local_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if "health_zone" not in g:
        g.health_zone = organization_zone(current_organization_id())
    return in_zone(value, g.health_zone).strftime("%d %b %Y, %H:%M")


def _clock(value: str | datetime | None, pattern: str = "%a %d %b %H:%M") -> str:
    """A device-clock time (kept as recorded, never moved to a zone)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=None).strftime(pattern) if value else ""


def _job(job_id: str | None) -> jobs.Job | None:
    return db.session.get(jobs.Job, job_id) if job_id else None


def _progress(
    element_id: str, label: str, poll_url: str, job: jobs.Job | None, *, status: str, error: str | None
) -> Progress:
    if status == FAILED or (job is not None and job.status in (jobs.FAILED, jobs.CANCELLED)):
        return Progress(element_id, label, poll_url, "failed", error=error or (job.error if job else None))
    if (job is not None and job.status == jobs.SUCCEEDED) or (job is None and status == COMPLETED):
        return Progress(element_id, label, poll_url, "done", percent=100, step="Done")
    if job is None or job.status == jobs.QUEUED:
        return Progress(element_id, label, poll_url, "running")
    return Progress(element_id, label, poll_url, "running", job.progress, job.current_step or job.message or "Working")


def _upload_progress(upload: HealthUpload) -> Progress:
    url = url_for("health_data.upload_progress", patient_id=upload.patient_id, upload_id=upload.id)
    label = "Importing the file"
    return _progress(
        f"upload-{upload.id}",
        label,
        url,
        _job(upload.job_id),
        status=upload.status,
        error=service.error_message(upload),
    )


def _analysis_progress(analysis: HealthAnalysis) -> Progress:
    url = url_for("health_data.analysis_progress", patient_id=analysis.patient_id, analysis_id=analysis.id)
    job = _job(analysis.job_id)
    return _progress(f"analysis-{analysis.id}", "Analysing", url, job, status=analysis.status, error=analysis.error)


def _upload_row(upload: HealthUpload) -> UploadRow:
    name = (service.filename(upload) or "File") if upload.kind == "file" else KIND_LABELS.get(upload.kind, upload.kind)
    importing = upload.kind == "file" and upload.status in (RECEIVED, PROCESSING)
    progress = _upload_progress(upload) if importing else None
    return UploadRow(upload, name, STATUS_LABELS.get(upload.status, upload.status), progress)


def _actogram(analysis: HealthAnalysis, result: dict[str, Any]) -> Actogram | None:
    series = blocks.read_series(
        analysis.organization_id, analysis.patient_id, analysis.upload_id, analysis.channel, last_days=analyses.MAX_DAYS
    )
    span = result.get("input") or {}
    if series is None or not span.get("start") or not span.get("end"):
        return None
    series = clip(series, datetime.fromisoformat(span["start"]), datetime.fromisoformat(span["end"]))
    if not series.values:
        return None
    label = "step counts" if analysis.proxy else "activity counts"
    return render_actogram(series, in_bed=in_bed_from_result(result), label=label, id_prefix="health-actogram")


def _health_of(organization_id: str, patient_id: str, **forms: Any) -> PatientHealth:
    """Everything the section shows; reading the latest analysis is audited."""
    uploads = [_upload_row(u) for u in queries.patient_uploads(organization_id, patient_id, limit=UPLOADS_SHOWN)]
    health = PatientHealth(patient_id, uploads, **forms)
    analysis = analyses.latest_for_patient(organization_id, patient_id)
    health.analysis = analysis
    if analysis is None:
        return health
    health.analyse_form.algorithm.data = health.analyse_form.algorithm.data or analysis.algorithm
    if analysis.status in (RECEIVED, PROCESSING):
        health.analysis_progress = _analysis_progress(analysis)
    # While a re-analysis runs, or after one failed, the last completed analysis stays on show.
    shown = (
        analysis
        if analysis.status == COMPLETED
        else analyses.latest_for_patient(organization_id, patient_id, completed=True)
    )
    if shown is None:
        return health
    health.shown = shown
    try:
        _, health.result = analyses.view_analysis(organization_id, shown.id, actor=current_actor(), channel="web")
        health.actogram = _actogram(shown, health.result) if health.result else None
    except Unavailable as error:
        health.problem = error.detail
    latest = insights.latest_for_patient(organization_id, patient_id)
    if latest is not None:
        health.insight, health.insight_content = latest
    return health


# --- answering ---------------------------------------------------------------------------------------


def _chart_url(patient_id: str) -> str:
    return url_for("patients.detail", patient_id=patient_id, _anchor="patient-health")


def _patient(patient_id: str) -> Any:
    return patients.get_patient(current_organization_id(), patient_id)


def _of_patient(record: Any, patient: Any, message: str) -> Any:
    """``record`` (an upload or analysis of the organization) if it belongs to ``patient``."""
    if record.patient_id != patient.id:
        raise NotFound(message)
    return record


def _upload_of(patient: Any, upload_id: str) -> HealthUpload:
    return _of_patient(service.get_upload(current_organization_id(), upload_id), patient, service.NOT_FOUND)


def _analysis_of(patient: Any, analysis_id: str) -> HealthAnalysis:
    return _of_patient(analyses.get_analysis(current_organization_id(), analysis_id), patient, analyses.NOT_FOUND)


def _section(
    patient: Any, status: int = 200, *, notice: tuple[str, str] | None = None, changed: bool = False, **forms: Any
) -> ResponseReturnValue:
    """The section: the whole page for a browser, the fragment (which replaces ``#health-data``,
    wherever the request came from) for htmx; ``changed`` also sends a ``health-data-changed`` event."""
    health = _health_of(current_organization_id(), patient.id, **forms)
    body = render_page(
        "health_data/patient.html", "health_data/_patient_health.html", patient=patient, health=health, notice=notice
    )
    response = make_response(body, status)
    if is_htmx():
        response.headers["HX-Retarget"] = "#health-data"
        response.headers["HX-Reswap"] = "outerHTML"
        if changed:
            response.headers["HX-Trigger"] = "health-data-changed"
    return response


def _changed(patient: Any, message: str, category: str = "success") -> ResponseReturnValue:
    """After a change: the refreshed section for htmx, else flash and back to the chart."""
    if is_htmx():
        return _section(patient, notice=(category, message), changed=True)
    return done(message, _chart_url(patient.id), category)


def _upload_box(patient: Any, form: UploadForm, status: int = 200) -> ResponseReturnValue:
    """The upload form with the progress of every file of the patient still being imported."""
    rows = [_upload_row(u) for u in queries.patient_uploads(current_organization_id(), patient.id, limit=UPLOADS_SHOWN)]
    importing = PatientHealth(patient.id, rows).importing
    return render_template("health_data/_upload.html", patient=patient, upload_form=form, importing=importing), status


@bp.url_value_preprocessor
def _file_size_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # Files may be far larger than other requests: the limit is raised for the upload route before
    # anything (the CSRF check) reads the body.
    if endpoint == "health_data.upload_file":
        request.max_content_length = current_app.config["HEALTH_UPLOAD_MAX_BYTES"] + FORM_OVERHEAD


# --- routes ------------------------------------------------------------------------------------------


@bp.get("/patients/<patient_id>/health-data")
@requires(READ, hide=True)
def section(patient_id: str) -> ResponseReturnValue:
    return _section(_patient(patient_id))


@bp.post("/patients/<patient_id>/health-data/uploads")
@requires(READ, hide=True)
def upload_file(patient_id: str) -> ResponseReturnValue:
    patient = _patient(patient_id)
    form = UploadForm()
    try:
        if not form.file.data or not getattr(form.file.data, "filename", ""):
            raise Invalid(errors=[FieldError("file", "Choose a file to upload.", "MISSING")])
        service.receive_file(
            current_organization_id(),
            patient.id,
            form.file.data.stream,
            filename=form.file.data.filename,
            file_format=form.file_format.data or "",
            actor=current_actor(),
            algorithm=form.algorithm.data or "cole_kripke",
        )
    except Invalid as error:
        put_errors(form, error.errors, renames={"format": "file_format"}, fallback="file")
        return _upload_box(patient, form, 422) if is_htmx() else _section(patient, 422, upload_form=form)
    if not is_htmx():
        return done("The file was received; it is being imported.", _chart_url(patient.id))
    return _upload_box(patient, UploadForm(formdata=None))


def _finished(patient: Any, progress: Progress) -> ResponseReturnValue:
    if progress.state == "done":
        return _section(patient, changed=True) if is_htmx() else redirect(_chart_url(patient.id), code=303)
    return render_page("health_data/progress.html", "health_data/_progress.html", patient=patient, progress=progress)


@bp.get("/patients/<patient_id>/health-data/uploads/<upload_id>/progress")
@requires(READ, hide=True)
def upload_progress(patient_id: str, upload_id: str) -> ResponseReturnValue:
    patient = _patient(patient_id)
    return _finished(patient, _upload_progress(_upload_of(patient, upload_id)))


@bp.get("/patients/<patient_id>/health-data/analyses/<analysis_id>/progress")
@requires(READ, hide=True)
def analysis_progress(patient_id: str, analysis_id: str) -> ResponseReturnValue:
    patient = _patient(patient_id)
    return _finished(patient, _analysis_progress(_analysis_of(patient, analysis_id)))


@bp.post("/patients/<patient_id>/health-data/uploads/<upload_id>/analyse")
@requires(READ, hide=True)
def analyse(patient_id: str, upload_id: str) -> ResponseReturnValue:
    patient = _patient(patient_id)
    upload = _upload_of(patient, upload_id)
    algorithm = AnalyseForm().algorithm.data or ""
    analyses.request_analysis(current_organization_id(), upload, algorithm=algorithm, actor=current_actor())
    return _changed(patient, f"Analysis with {ALGORITHM_LABELS.get(algorithm, algorithm)} requested.")


@bp.post("/patients/<patient_id>/health-data/analyses/<analysis_id>/insights")
@requires(READ, hide=True)
def generate_insights(patient_id: str, analysis_id: str) -> ResponseReturnValue:
    patient = _patient(patient_id)
    analysis = _analysis_of(patient, analysis_id)
    insights.generate(current_organization_id(), analysis.id, actor=current_actor())
    return _changed(patient, "Insights drafted from the analysis.")


@bp.post("/patients/<patient_id>/health-data/diary")
@requires(READ, hide=True)
def add_diary_night(patient_id: str) -> ResponseReturnValue:
    patient = _patient(patient_id)
    form = DiaryForm()
    start, end = form.in_bed_start.data, form.in_bed_end.data
    try:
        blank = [f.name for f in (form.in_bed_start, form.in_bed_end) if f.data is None]
        if blank:
            raise Invalid(errors=[FieldError(name, "Give a date and a time.", "MISSING") for name in blank])
        service.add_diary_night(current_organization_id(), patient.id, start, end, actor=current_actor())
    except Invalid as error:
        put_errors(form, error.errors)
        if is_htmx():
            return render_template("health_data/_diary.html", patient=patient, diary_form=form), 422
        return _section(patient, 422, diary_form=form)
    return _changed(patient, "Night added to the sleep diary; re-analyse to use it.")


@bp.post("/patients/<patient_id>/health-data/uploads/<upload_id>/delete")
@requires(READ, hide=True)
def delete_upload(patient_id: str, upload_id: str) -> ResponseReturnValue:
    patient = _patient(patient_id)
    upload = _upload_of(patient, upload_id)
    if request.form.get("confirmed") != "yes":
        # htmx buttons ask with hx-confirm and send confirmed=yes; a plain form gets this page.
        return render_confirm(
            title="Delete health data",
            question=(
                f"Delete this upload ({_upload_row(upload).name}) of {patient.first_name} {patient.last_name}? "
                "Its values, analyses and insights are removed for good; the audit trail keeps only that it "
                "happened."
            ),
            button="Delete",
            back=_chart_url(patient.id),
            back_label="Cancel",
        )
    try:
        service.delete_upload(current_organization_id(), upload.id, actor=current_actor())
    except Conflict as error:
        return _changed(patient, error.detail, "warning")
    return _changed(patient, "The upload and everything drawn from it were deleted.")
