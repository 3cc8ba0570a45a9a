"""The patient record page and its export download. The page shows the record with a section per
feature (intake and symptoms, appointments, consultations, reports); each section is that
feature's partial, which loads its own data for callers allowed to see it. Routes on the patients
blueprint, under the endpoint names they have always had."""

from __future__ import annotations

from flask import Response

from clinic_app.auth.identity import current_identity
from clinic_app.chart import record_export
from clinic_app.core.access import requires
from clinic_app.core.tenancy import current_actor, current_organization_id
from clinic_app.core.web import render_page
from clinic_app.patients import bp, service


def _can(permission: str) -> bool:
    identity = current_identity()
    return identity is not None and identity.can(permission)


@bp.get("/patients/<patient_id>")
@requires("patients:read")
def detail(patient_id: str) -> str:
    organization_id = current_organization_id()
    patient = service.view_patient(organization_id, patient_id, actor=current_actor())
    viewers = service.patient_viewers(organization_id, patient_id) if _can("admin:audit") else None
    return render_page(
        "chart/record.html",
        "chart/_record.html",
        patient=patient,
        viewers=viewers,
        today=service.local_today(organization_id),
    )


@bp.get("/patients/<patient_id>/export")
@requires("patients:export")
def export_record(patient_id: str) -> Response:
    organization_id = current_organization_id()
    identity = current_identity()
    assert identity is not None  # requires() let the caller in
    document = record_export.export_patient(
        organization_id, patient_id, actor=identity.actor, channel="web", can=identity.can
    )
    filename = record_export.download_name(organization_id, document)
    response = Response(record_export.to_json(document), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
