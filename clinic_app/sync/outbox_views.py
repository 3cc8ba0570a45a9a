"""Where a record stands with Cliniko (the badge a patient's or an appointment's page loads), the
retry of a change Cliniko refused, the conflict page (both versions, a person chooses), and the
Sync page's list of changes waiting or failed. Thin: parse, call ``outbox``/``conflicts``, render.
"""

from __future__ import annotations

from flask import abort, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue

from clinic_app.appointments.models import Appointment
from clinic_app.core import audit
from clinic_app.core.access import requires
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import done, is_htmx
from clinic_app.extensions import db
from clinic_app.patients.models import Patient
from clinic_app.sync import bp, conflicts, outbox
from clinic_app.sync.connection import get_connection
from clinic_app.sync.models import APPOINTMENTS, PATIENTS, OutboxEntry

RESOURCES = {PATIENTS: Patient, APPOINTMENTS: Appointment}


def _badge(resource: str, local_id: str) -> str:
    status = outbox.record_status(current_organization_id(), resource, local_id)
    return render_template("sync/_record_status.html", status=status, resource=resource, local_id=local_id)


@bp.get("/sync/records/<resource>/<local_id>/status")
@requires("patients:read")
def record_status(resource: str, local_id: str) -> ResponseReturnValue:
    """The record's Cliniko badge ("in Cliniko", "sending…", "not sent: …"); empty when the
    clinic is not connected. Another organization's record is 404."""
    model = RESOURCES.get(resource)
    found = db.session.get(model, local_id) if model is not None else None
    if found is None or found.organization_id != current_organization_id():
        abort(404)
    return _badge(resource, local_id)


@bp.post("/sync/outbox/<entry_id>/retry")
@requires("patients:write")
def retry(entry_id: str) -> ResponseReturnValue:
    entry = outbox.retry(current_organization_id(), entry_id, actor=current_actor())
    if is_htmx():
        return _badge(entry.resource, entry.local_id)
    return done("Sent to Cliniko again.", request.referrer or url_for("sync.sync_page"))


@bp.get("/sync/outbox")
@requires("sync:read")
def outbox_list() -> ResponseReturnValue:
    organization_id = current_organization_id()
    return render_template(
        "sync/_outbox.html", entries=outbox.open_entries(organization_id), counts=outbox.counts(organization_id)
    )


@bp.route("/sync/outbox/<entry_id>/conflict", methods=["GET", "POST"])
@requires("patients:write")
def conflict(entry_id: str) -> ResponseReturnValue:
    organization_id = current_organization_id()
    if request.method == "POST":
        choice = request.form.get("choice", "")
        patient_id = conflicts.resolve(organization_id, entry_id, choice, actor=current_actor())
        words = (
            "Kept this clinic's version; it is being sent to Cliniko."
            if choice == "ours"
            else ("Took Cliniko's version.")
        )
        return done(words, url_for("patients.detail", patient_id=patient_id))
    entry, rows = conflicts.compare(organization_id, entry_id, actor=current_actor())
    return make_response(render_template("sync/conflict.html", entry=entry, rows=rows))


def entry_link(entry: OutboxEntry) -> str:
    if entry.resource == PATIENTS:
        return url_for("patients.detail", patient_id=entry.local_id)
    return url_for("appointments.detail", appointment_id=entry.local_id)


@bp.app_template_global("cliniko_entry_link")
def _entry_link(entry: OutboxEntry) -> str:
    return entry_link(entry)


@bp.route("/integrations/cliniko-writes", methods=["GET", "POST"])
@requires("admin:integrations")
def write_settings() -> ResponseReturnValue:
    """Whether patients' notes go to Cliniko with the record (off by default)."""
    organization_id = current_organization_id()
    connection = get_connection(organization_id)
    if connection is None:
        abort(404)
    saved = False
    if request.method == "POST":
        wanted = request.form.get("send_patient_notes") == "yes"
        if wanted != connection.send_patient_notes:
            connection.send_patient_notes = wanted
            audit.record(
                "cliniko.settings_changed",
                organization_id=organization_id,
                actor=current_actor(),
                target_type="cliniko_connection",
                target_id=connection.id,
                details={"send_patient_notes": wanted},
            )
        saved = True
    return render_template("sync/_write_settings.html", send_notes=connection.send_patient_notes, saved=saved)
