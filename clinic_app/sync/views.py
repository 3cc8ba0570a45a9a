"""The Integrations page (connect Cliniko, test the key, schedule, disconnect) and the Sync page
(start a sync, watch its progress, cancel, resume, history). Thin: parse, call the sync service,
render; an htmx request gets the fragment the page includes.

A Cliniko or queue outage is said on the page in words (503 with the fragment) rather than as a
bare error page, so the rest of the page keeps working.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import current_app, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from clinic_app.auth.identity import current_identity
from clinic_app.core.access import requires
from clinic_app.core.errors import Invalid, Unavailable
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.time import in_zone, organization_zone, utcnow
from clinic_app.core.web import done, is_htmx, put_errors, render_confirm, render_page
from clinic_app.extensions import db
from clinic_app.sync import bp, service
from clinic_app.sync.cliniko import base_url_for, shard_of
from clinic_app.sync.forms import MODE_CHOICES, MODE_LABELS, ConnectForm, ScheduleForm, StartSyncForm
from clinic_app.sync.models import SyncRun

HISTORY_PAGE_SIZE = 10
STEP_LABELS = {
    "businesses": "Businesses",
    "practitioners": "Practitioners",
    "appointment_types": "Appointment types",
    "patients": "Patients",
    "appointments": "Appointments",
    "statistics": "Patient activity figures",
}
CHANGED = "sync-changed"  # htmx event: the history table reloads itself


@bp.context_processor
def _sync_template_helpers() -> dict[str, Any]:
    identity = current_identity()
    organization_id = identity.organization_id if identity is not None else None
    zone = organization_zone(organization_id) if organization_id is not None else None

    def local_time(value: datetime | None, pattern: str = "%d %b %Y, %H:%M") -> str:
        if value is None:
            return ""
        return (in_zone(value, zone) if zone else value).strftime(pattern)

    return {
        "local_time": local_time,
        "step_label": lambda step: STEP_LABELS.get(step or "", (step or "").replace("_", " ").capitalize()),
        "mode_label": lambda mode: MODE_LABELS.get(mode, mode),
        "duration": _duration,
        "seconds_until": lambda moment: max(0, int((moment - utcnow()).total_seconds())) if moment else None,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _sandbox_allowed() -> bool:
    """Another API address (the sandbox's) may be given outside production only."""
    return not current_app.config.get("PRODUCTION", False)


def _answer(template: str, partial: str, code: int, event: str | None = None, /, **context: Any) -> ResponseReturnValue:
    """``render_page`` with a status code and, for htmx, an event to trigger (context names are free)."""
    response = make_response(render_page(template, partial, **context), code)
    if event and is_htmx():
        response.headers["HX-Trigger"] = json.dumps({event: True})
    return response


# --- Integrations ------------------------------------------------------------------------------


def _integration_context(**extra: Any) -> dict[str, Any]:
    status = service.connection_status(current_organization_id())
    schedule = ScheduleForm(
        formdata=None,
        enabled=status.get("sync_enabled", False),
        interval_minutes=status.get("sync_interval_minutes", 60),
    )
    context: dict[str, Any] = {
        "status": status,
        "connect_form": ConnectForm(formdata=None),
        "schedule_form": schedule,
        "sandbox_allowed": _sandbox_allowed(),
        "test": None,
        "notice": None,
    }
    context.update(extra)
    return context


def _integration_answer(code: int = 200, **extra: Any) -> ResponseReturnValue:
    return _answer("sync/integrations.html", "sync/_integration.html", code, **_integration_context(**extra))


def _integration_done(message: str) -> ResponseReturnValue:
    """htmx: the Integrations panel with ``message``; a browser form: flash it and go back there."""
    if is_htmx():
        return _integration_answer(notice=message)
    return done(message, url_for("sync.integrations"))


@bp.get("/integrations")
@requires("admin:integrations")
def integrations() -> ResponseReturnValue:
    return _integration_answer()


@bp.post("/integrations/shard")
@requires("admin:integrations")
def detect_shard() -> str:
    """The shard (and address) a key being typed belongs to; the key is neither stored nor logged."""
    key = (request.form.get("api_key") or "").strip()
    template = request.form.get("base_url") if _sandbox_allowed() else None
    return render_template(
        "sync/_shard.html",
        shard=shard_of(key) if key else None,
        address=base_url_for(key, template or None) if key else None,
    )


@bp.post("/integrations/connect")
@requires("admin:integrations")
def connect() -> ResponseReturnValue:
    form = ConnectForm()
    template = form.base_url.data if _sandbox_allowed() else None
    try:
        connection = service.connect(
            current_organization_id(), form.api_key.data or "", base_url_template=template, actor=current_actor()
        )
    except Invalid as error:
        _put_errors(form, error)
        return _integration_answer(422, connect_form=form)
    except Unavailable as error:
        form.form_errors.append(error.detail)
        return _integration_answer(503, connect_form=form)
    names = ", ".join(b.get("name") or str(b.get("id")) for b in connection.businesses) or "no businesses"
    return _integration_done(f"Connected to Cliniko (shard {connection.shard}): {names}.")


def _put_errors(form: ConnectForm | ScheduleForm, error: Invalid) -> None:
    """The service's field errors on the form's fields; anything else above the form."""
    put_errors(form, error.errors, renames={"sync_interval_minutes": "interval_minutes"})
    if not error.errors:
        form.form_errors.append(error.detail)


@bp.post("/integrations/test")
@requires("admin:integrations")
def test_connection() -> ResponseReturnValue:
    # Answered 200 either way: the outcome is recorded on the connection, which must be committed.
    result = service.test_connection(current_organization_id(), actor=current_actor())
    if is_htmx():
        return render_template("sync/_test_result.html", test=result)
    return _integration_answer(test=result)


@bp.post("/integrations/schedule")
@requires("admin:integrations")
def schedule() -> ResponseReturnValue:
    organization_id = current_organization_id()
    form = ScheduleForm()
    interval = form.interval_minutes.data
    if not "".join(form.interval_minutes.raw_data or []).strip():
        # Left empty (e.g. only turning syncs off): keep the interval there is.
        interval = service.connection_status(organization_id).get("sync_interval_minutes", 60)
    try:
        service.configure_schedule(
            organization_id,
            enabled=bool(form.enabled.data),
            interval_minutes=interval if isinstance(interval, int) else -1,  # not a number: the service says so
            actor=current_actor(),
        )
    except Invalid as error:
        _put_errors(form, error)
        return _integration_answer(422, schedule_form=form)
    if form.enabled.data:
        return _integration_done(f"Scheduled syncs are on: changes every {interval} minutes, everything nightly.")
    return _integration_done("Scheduled syncs are off. Syncs run only when someone starts one.")


@bp.post("/integrations/disconnect")
@requires("admin:integrations")
def disconnect() -> ResponseReturnValue:
    organization_id = current_organization_id()
    status = service.connection_status(organization_id)
    if status["cliniko_connected"] and request.form.get("confirmed") != "yes":
        # htmx asks with hx-confirm and sends confirmed=yes; a plain form gets this page first.
        return render_confirm(
            title="Disconnect Cliniko",
            question=f"Disconnect Cliniko (key {status['key_hint']})? The key is forgotten; patients and "
            "appointments already synced stay. Scheduled syncs stop until you connect again.",
            button="Disconnect",
            back=url_for("sync.integrations"),
        )
    service.disconnect(organization_id, actor=current_actor())
    return _integration_done("Cliniko is disconnected and its key is forgotten. Synced records were kept.")


# --- Sync --------------------------------------------------------------------------------------


def _history_page(organization_id: str, page: int) -> tuple[list[SyncRun], int]:
    """One page of runs, newest first, and how many runs there are in all."""
    scope = SyncRun.organization_id == organization_id
    total = db.session.scalar(select(func.count()).select_from(SyncRun).where(scope)) or 0
    rows = db.session.scalars(
        select(SyncRun)
        .where(scope)
        .order_by(SyncRun.created_at.desc(), SyncRun.id)
        .offset((page - 1) * HISTORY_PAGE_SIZE)
        .limit(HISTORY_PAGE_SIZE)
    ).all()
    return list(rows), int(total)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, min(int(raw), 10_000)) if raw.isdigit() else 1


def _sync_context(page: int = 1, **extra: Any) -> dict[str, Any]:
    organization_id = current_organization_id()
    runs, total = _history_page(organization_id, page)
    latest = service.running_run(organization_id) or next(iter(service.history(organization_id, 1)), None)
    context: dict[str, Any] = {
        "status": service.connection_status(organization_id),
        "run": latest,
        "runs": runs,
        "history_total": total,
        "page_number": page,
        "page_count": max(1, -(-total // HISTORY_PAGE_SIZE)),
        "form": StartSyncForm(formdata=None),
        "modes": MODE_CHOICES,
        "notice": None,
        "error": None,
    }
    context.update(extra)
    return context


@bp.get("/sync")
@requires("sync:read")
def sync_page() -> ResponseReturnValue:
    return _answer("sync/sync.html", "sync/_sync.html", 200, **_sync_context())


@bp.get("/sync/history")
@requires("sync:read")
def history() -> ResponseReturnValue:
    return _answer("sync/sync.html", "sync/_history.html", 200, **_sync_context(_page_number()))


def _current_answer(code: int, **extra: Any) -> ResponseReturnValue:
    """The "current sync" panel (htmx) or the whole Sync page."""
    return _answer("sync/sync.html", "sync/_current.html", code, CHANGED, **_sync_context(**extra))


@bp.post("/sync/start")
@requires("sync:run")
def start() -> ResponseReturnValue:
    form = StartSyncForm()
    try:
        run, started = service.start_sync(
            current_organization_id(), form.mode.data or "", actor=current_actor(), trigger="manual"
        )
    except Invalid:
        return _current_answer(422, error="Choose what to sync: one of the modes listed.")
    except Unavailable as error:
        return _current_answer(503, error=f"The sync could not be started. {error.detail}")
    if started:
        notice = f"Sync started: {MODE_LABELS.get(run.mode, run.mode).lower()}."
    else:
        notice = "A sync is already running, so no second one was started. Its progress is shown here."
    if not is_htmx():
        return done(notice, url_for("sync.sync_page"), "success" if started else "info")
    return _current_answer(200, run=run, notice=notice)


def _run_answer(run: SyncRun, code: int = 200, **extra: Any) -> ResponseReturnValue:
    response = make_response(render_page("sync/run.html", "sync/_run.html", run=run, **extra), code)
    if is_htmx():
        response.headers["HX-Trigger"] = json.dumps({CHANGED: True})
    return response


@bp.get("/sync/runs/<sync_id>")
@requires("sync:read")
def run_detail(sync_id: str) -> ResponseReturnValue:
    run = service.get_run(current_organization_id(), sync_id)
    response = make_response(render_page("sync/run.html", "sync/_run.html", run=run))
    if is_htmx() and run.finished:
        # The poll that sees the end refreshes the history; a finished panel polls no more.
        response.headers["HX-Trigger"] = json.dumps({CHANGED: True})
    return response


@bp.post("/sync/runs/<sync_id>/cancel")
@requires("sync:run")
def cancel(sync_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    run = service.get_run(organization_id, sync_id)
    if not run.finished and request.form.get("confirmed") != "yes":
        return render_confirm(
            title="Cancel the sync",
            question="Stop this sync? What it has saved so far is kept, and you can resume it later.",
            button="Cancel the sync",
            back=url_for("sync.run_detail", sync_id=sync_id),
        )
    run = service.cancel_sync(organization_id, sync_id, actor=current_actor())
    notice = "Cancelled." if run.finished else "Cancelling: the sync stops after the page it is working on."
    if not is_htmx():
        return done(notice, url_for("sync.sync_page"), "info")
    return _run_answer(run, notice=notice)


@bp.post("/sync/runs/<sync_id>/resume")
@requires("sync:run")
def resume(sync_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    try:
        run, started = service.resume_sync(organization_id, sync_id, actor=current_actor())
    except Unavailable as error:
        previous = service.get_run(organization_id, sync_id)
        return _run_answer(previous, 503, error=f"The sync could not be resumed. {error.detail}")
    notice = (
        "Resumed: the sync continues from where it stopped."
        if started
        else "A sync is already running, so no second one was started. Its progress is shown here."
    )
    if not is_htmx():
        return done(notice, url_for("sync.sync_page"), "success" if started else "info")
    return _run_answer(run, notice=notice)
