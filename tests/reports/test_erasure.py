"""Erasing a patient deletes their reports that are not signed and keeps the signed ones as signed
(``reports.erasure``), listed in the inventory until seven years after the last signature."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from clinic_app.extensions import db
from clinic_app.patients import erasure
from clinic_app.reports.models import SIGNED, Report
from tests.patients.test_erasure import erase_now
from tests.reports.conftest import consultation, generate, register_with_intake, sign


def test_erasure_deletes_unsigned_reports_and_keeps_signed_ones(app, tenants):
    clinician = tenants.user("clinician")
    erased = register_with_intake(app, tenants.a, first_name="Una", last_name="Gone")
    kept = register_with_intake(app, tenants.a, first_name="Vera", last_name="Stays")
    signed_id = generate(app, tenants.a, clinician, consultation(app, tenants.a, clinician, erased))
    sign(app, tenants.a, clinician, signed_id)
    draft_id = generate(app, tenants.a, clinician, consultation(app, tenants.a, clinician, erased))
    other_draft = generate(app, tenants.a, clinician, consultation(app, tenants.a, clinician, kept))
    with app.app_context():
        signed_at = db.session.get(Report, signed_id).signed_at
        kept_lines = [line for line in erasure.inventory(tenants.a.id, erased).kept if line.feature == "reports"]
        assert [(line.count, line.kept_until) for line in kept_lines] == [
            (1, date(signed_at.year + 7, signed_at.month, min(signed_at.day, 28)))
        ]
    erase_now(app, tenants, erased)
    with app.app_context():
        assert db.session.get(Report, draft_id) is None
        signed = db.session.get(Report, signed_id)
        assert signed.status == SIGNED and signed.current_sections_enc and signed.content_sha256
        assert db.session.get(Report, other_draft) is not None
        assert db.session.scalars(select(Report.id).where(Report.patient_id == erased)).all() == [signed_id]
